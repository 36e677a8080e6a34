"""SavedModels shaped like TF Serving's own test models (servables/tensorflow/testdata), built by the tests.

- :func:`half_plus_two_tf1`: ``saved_model_half_plus_two_cpu``: a TF1 session graph, ``y = a*x + b``, in a
  zero-padded version directory (``00000123``), with ``serving_default`` (x float [?,1] -> y), a classification
  signature and regression signatures that parse tf.Examples with rank-0 features (``FixedLenFeature([])``).
- :func:`half_plus_two_tf2`: ``saved_model_half_plus_two_tf2_cpu``: ``tf.saved_model.save`` of a ``tf.Module``
  whose classify/regress signatures carry TF2's method name (``tensorflow/serving/predict``).
- :func:`saved_model_save`: the integration test's ``test_tf_saved_model_save`` (``y = 3*2*x``, unknown rank).
- :func:`tf_text_model`: a model using a TensorFlow Text op (``tf_text_regression``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

VERSION_DIR = "00000123"


def half_plus_two_tf1(base: Path, *, offset: float = 2.0) -> Path:
    """``<base>/00000123``: TF1 half_plus_two (offset 3.0 gives half_plus_three)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    path = base / VERSION_DIR
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(offset, name="b")
        c = v1.Variable(offset + 1.0, name="c")
        serialized = v1.placeholder(tf.string, name="tf_example")  # unknown rank, as TF Serving's model
        features = tf.io.parse_example(
            serialized,
            {
                "x": tf.io.FixedLenFeature([], tf.float32),
                "x2": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
            },
        )
        y_ex = tf.add(tf.multiply(a, features["x"]), b, name="y_ex")
        y2_ex = tf.add(tf.multiply(a, features["x"]), c, name="y2_ex")
        scores = tf.reshape(y_ex, [-1, 1], name="scores")
        x = v1.placeholder(tf.float32, shape=[None, 1], name="x")
        y = tf.add(tf.multiply(a, x), b, name="y")
        sess.run(v1.global_variables_initializer())
        sd = v1.saved_model.signature_def_utils
        signatures = {
            "serving_default": sd.predict_signature_def({"x": x}, {"y": y}),
            "classify_x_to_y": sd.classification_signature_def(serialized, None, scores),
            "regress_x_to_y": sd.regression_signature_def(serialized, y_ex),
            "regress_x_to_y2": sd.regression_signature_def(serialized, y2_ex),
        }
        builder = v1.saved_model.builder.SavedModelBuilder(str(path))
        builder.add_meta_graph_and_variables(
            sess, [v1.saved_model.tag_constants.SERVING], signature_def_map=signatures, strip_default_attrs=True
        )
        builder.save()
    return path


def half_plus_two_tf2(base: Path) -> Path:
    """``<base>/00000123``: TF2 half_plus_two; every signature's method_name is ``tensorflow/serving/predict``."""
    import tensorflow as tf

    spec = {"x": tf.io.FixedLenFeature([], tf.float32)}

    class HalfPlusTwo(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(2.0)

        def _y(self, serialized: Any) -> Any:
            return self.a * tf.io.parse_example(serialized, spec)["x"] + self.b

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def regress(self, inputs: Any) -> dict[str, Any]:
            return {"outputs": self._y(inputs)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def classify(self, inputs: Any) -> dict[str, Any]:
            return {"scores": tf.reshape(self._y(inputs), [-1, 1])}

        @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="x")])
        def predict(self, x: Any) -> dict[str, Any]:
            return {"y": self.a * x + self.b}

    module = HalfPlusTwo()
    path = base / VERSION_DIR
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "serving_default": module.predict,
            "regress_x_to_y": module.regress,
            "classify_x_to_y": module.classify,
        },
    )
    return path


def saved_model_save(base: Path) -> Path:
    """``test_tf_saved_model_save``: ``{'y': v1*v2*x}`` for ``TensorSpec(None, float32)`` (unknown rank)."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.v1 = tf.Variable(3.0)
            self.v2 = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="x")])
        def f(self, x: Any) -> dict[str, Any]:
            return {"y": self.v1 * self.v2 * x}

    module = Model()
    path = base / VERSION_DIR
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})
    return path


def tf_text_model(base: Path) -> Path:
    """``<base>/1``: y = 0.5 * (number of whitespace tokens) + 2 through TF Text's tokenizer op."""
    import tensorflow as tf
    import tensorflow_text as text

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="x")])
        def f(self, x: Any) -> dict[str, Any]:
            tokens = text.WhitespaceTokenizer().tokenize(x)
            count = tf.cast(tokens.row_lengths(), tf.float32)
            return {"y": 0.5 * count + 2.0}

    module = Model()
    path = base / "1"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})
    return path
