"""The GraphDef pass removes layout transposes without changing any value."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from yolo_tfserving.export import graph_rewrite  # noqa: E402
from yolo_tfserving.export.tf_convert import network_from_graph_def  # noqa: E402


def _shuffled_graph():
    rng = np.random.default_rng(0)
    w1 = tf.constant(rng.normal(size=(3, 3, 4, 8)).astype(np.float32))
    w2 = tf.constant(rng.normal(size=(1, 1, 16, 8)).astype(np.float32))
    bias = tf.constant(rng.normal(size=(8,)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 4], tf.float32)])
    def f(x):
        a = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), w1, 1, "VALID") + bias
        a = a * tf.sigmoid(a)
        b = tf.nn.conv2d(x, w1, 1, "SAME")
        # the converter's habit: go to NCHW for the add and the concat, then back
        a_t, b_t = tf.transpose(a, [0, 3, 1, 2]), tf.transpose(b, [0, 3, 1, 2])
        s = a_t + b_t
        c = tf.concat([s, a_t], axis=1)
        c = tf.transpose(c, [0, 2, 3, 1])
        return tf.nn.conv2d(c, w2, 1, "SAME") * 0.5

    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(f.get_concrete_function())
    return frozen.graph.as_graph_def(), frozen.inputs[0].name, frozen.outputs[0].name


def test_rewrite_preserves_values_and_removes_work():
    graph_def, inp, out = _shuffled_graph()
    optimized = graph_rewrite.optimize(graph_def, [out])
    assert graph_rewrite.count_ops(graph_def, "Transpose") == 3
    assert graph_rewrite.count_ops(optimized, "Transpose") == 0
    assert graph_rewrite.count_ops(optimized, "BiasAdd") == 1
    assert graph_rewrite.count_ops(optimized, "Pad") == 0
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 16, 16, 4)).astype(np.float32))
    before = network_from_graph_def(graph_def, inp, out)(x).numpy()
    after = network_from_graph_def(optimized, inp, out)(x).numpy()
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_output_node_is_never_moved():
    @tf.function(input_signature=[tf.TensorSpec([2, 3, 4, 5], tf.float32)])
    def f(x):
        return tf.transpose(x, [0, 2, 3, 1]) + tf.transpose(x * 2.0, [0, 2, 3, 1])

    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(f.get_concrete_function())
    gd, inp, out = frozen.graph.as_graph_def(), frozen.inputs[0].name, frozen.outputs[0].name
    optimized = graph_rewrite.optimize(gd, [out])
    x = tf.constant(np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5))
    np.testing.assert_array_equal(network_from_graph_def(optimized, inp, out)(x).numpy(), f(x).numpy())
