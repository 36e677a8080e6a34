"""Small SavedModels the serving tests build: TF Serving's classic half_plus_two family.

``build_half_plus(path, offset)`` writes a TF1-style SavedModel computing ``y = 0.5 x + offset``
with four signatures: ``serving_default`` (predict, x float [None] -> y), ``predict_bytes``
(a string in, its length and the string echoed as ``echo_bytes``), ``classify_x_to_y``
(tf.Example "x" -> classes/scores) and ``regress_x_to_y`` (tf.Example "x" -> outputs).
"""

from __future__ import annotations

from pathlib import Path


def build_half_plus(path: Path, offset: float = 2.0) -> Path:
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(offset, name="b")
        x = v1.placeholder(tf.float32, shape=[None], name="x")
        y = tf.add(tf.multiply(a, x), b, name="y")
        text = v1.placeholder(tf.string, shape=[None], name="text")
        length = tf.strings.length(text, name="length")
        echo = tf.identity(text, name="echo")
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        parsed = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        x_ex = parsed["x"]
        y_ex = tf.add(tf.multiply(a, x_ex), b, name="y_ex")
        classes = tf.identity(tf.tile(tf.constant([["low", "high"]]), [tf.shape(x_ex)[0], 1]), name="classes")
        scores = tf.concat([1.0 - tf.sigmoid(y_ex), tf.sigmoid(y_ex)], axis=1, name="scores")
        sess.run(v1.global_variables_initializer())

        info = v1.saved_model.utils.build_tensor_info
        predict = v1.saved_model.signature_def_utils.predict_signature_def({"x": x}, {"y": y})
        predict_bytes = v1.saved_model.signature_def_utils.build_signature_def(
            inputs={"text": info(text)},
            outputs={"length": info(length), "echo_bytes": info(echo)},
            method_name="tensorflow/serving/predict",
        )
        classify = v1.saved_model.signature_def_utils.build_signature_def(
            inputs={"inputs": info(serialized)},
            outputs={"classes": info(classes), "scores": info(scores)},
            method_name="tensorflow/serving/classify",
        )
        regress = v1.saved_model.signature_def_utils.build_signature_def(
            inputs={"inputs": info(serialized)},
            outputs={"outputs": info(tf.reshape(y_ex, [-1]))},
            method_name="tensorflow/serving/regress",
        )
        builder = v1.saved_model.builder.SavedModelBuilder(str(path))
        builder.add_meta_graph_and_variables(
            sess,
            [v1.saved_model.tag_constants.SERVING],
            signature_def_map={
                "serving_default": predict,
                "predict_bytes": predict_bytes,
                "classify_x_to_y": classify,
                "regress_x_to_y": regress,
            },
            strip_default_attrs=True,
        )
        builder.save()
    return path


def write_config(
    path: Path,
    models: list[tuple[str, Path]],
    *,
    policy: str = "latest { num_versions: 1 }",
    labels: dict[str, int] | None = None,
) -> Path:
    blocks = []
    for name, base in models:
        label_text = "".join(f' version_labels {{ key: "{k}" value: {v} }}' for k, v in (labels or {}).items())
        blocks.append(
            f'config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" '
            f"model_version_policy {{ {policy} }}{label_text} }}"
        )
    path.write_text("model_config_list {\n" + "\n".join(blocks) + "\n}\n")
    return path
