"""ONNX -> TensorFlow with onnx2tf, then a frozen, layout-cleaned network function.

A ``.pt`` export converts the network up to the Detect head and finishes it with the
NHWC head of ``tf_head``; a ``.onnx`` export converts the whole graph as it is.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from .._errors import ExportError
from . import graph_rewrite, interrupt, tf_head
from .tf_head import DetectHead

# onnx2tf looks for this file in the working directory before trying to download it.
_CALIBRATION_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


@contextlib.contextmanager
def _quiet_in(directory: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(directory)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        os.chdir(previous)


def convert_onnx(
    onnx_path: Path, *, input_name: str, size_hw: tuple[int, int], batch: int | None
) -> Callable[..., object]:
    """Convert a whole YOLOv5 ONNX model: NHWC float32 -> predictions, layout-cleaned."""
    graph_def, input_tensor, outputs = _convert_frozen(onnx_path, input_name=input_name, size_hw=size_hw, batch=batch)
    if len(outputs) != 1:
        raise ExportError(f"converted model has {len(outputs)} outputs; expected 1")
    return network_from_graph_def(graph_def, input_tensor, outputs[0])


def convert_trunk(
    onnx_path: Path,
    head: DetectHead,
    *,
    input_name: str,
    size_hw: tuple[int, int],
    batch: int | None,
    dynamic_size: bool = False,
) -> Callable[..., object]:
    """Convert the network up to the Detect head and finish it with our NHWC head (``tf_head``).

    ``onnx_path`` holds the trunk alone: one output per head level (the head's inputs). With
    ``dynamic_size`` (``export --rect``) the network takes any H x W that the largest stride
    divides (:mod:`.dynamic_size`); ``size_hw`` is then the size it was converted at.
    """
    tf = require("tensorflow")
    graph_def, input_tensor, outputs = _convert_frozen(onnx_path, input_name=input_name, size_hw=size_hw, batch=batch)
    static_trunk = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []).prune(
        input_tensor, outputs
    )
    shapes = [t.shape.as_list() for t in static_trunk.outputs]
    if dynamic_size:
        from .dynamic_size import free_spatial_size

        free = free_spatial_size(graph_def, input_tensor)
        trunk = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(free, name=""), []).prune(
            input_tensor, outputs
        )
        spec = tf.TensorSpec([batch, None, None, 3], tf.float32)
    else:
        trunk = static_trunk
        spec = tf.TensorSpec([batch, size_hw[0], size_hw[1], 3], tf.float32)
    nchw = tf_head.left_in_nchw(shapes, head, size_hw)
    shapes = [[s[0], s[2], s[3], s[1]] if flag else s for s, flag in zip(shapes, nchw, strict=True)]
    order = tf_head.feature_order(shapes, head, size_hw)

    def network(images: Any) -> Any:
        features = [tf.transpose(f, [0, 2, 3, 1]) if flag else f for f, flag in zip(trunk(images), nchw, strict=True)]
        return tf_head.decode([features[i] for i in order], head)

    return tf.function(network, input_signature=[spec])


def _convert_frozen(
    onnx_path: Path, *, input_name: str, size_hw: tuple[int, int], batch: int | None
) -> tuple[Any, str, list[str]]:
    """onnx2tf, frozen to a GraphDef and cleaned by ``graph_rewrite``: (graph, input, outputs).

    onnx2tf rewrites its input file, writes TFLite files and may try to download
    calibration data: it runs on a copy, in a scratch directory that holds that data.
    """
    tf = require("tensorflow")
    onnx2tf = require("onnx2tf")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    with (
        tempfile.TemporaryDirectory(prefix="yolo-tfserving-onnx2tf-") as scratch_dir,
        interrupt.remove_on_interrupt(Path(scratch_dir)),
    ):
        scratch = Path(scratch_dir)
        work_copy = scratch / "model.onnx"
        shutil.copyfile(onnx_path, work_copy)
        np.save(scratch / _CALIBRATION_FILE, np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
        overwrite = None if batch is None else [f"{input_name}:{batch},3,{size_hw[0]},{size_hw[1]}"]
        try:
            with _quiet_in(scratch):
                keras_model = onnx2tf.convert(
                    input_onnx_file_path=str(work_copy),
                    output_folder_path=str(scratch / "out"),
                    disable_model_save=True,
                    non_verbose=True,
                    overwrite_input_shape=overwrite,
                )
        except SystemExit as exc:  # onnx2tf calls sys.exit on conversion errors
            raise ExportError(f"onnx2tf could not convert {onnx_path.name} (exit {exc.code})") from exc
        except Exception as exc:
            raise ExportError(f"onnx2tf could not convert {onnx_path.name}: {exc}") from exc
    spec = tf.TensorSpec([batch, size_hw[0], size_hw[1], 3], tf.float32)
    concrete = tf.function(lambda x: keras_model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    outputs = [t.name for t in frozen.outputs]
    graph_def = graph_rewrite.optimize(frozen.graph.as_graph_def(), outputs)
    return graph_def, frozen.inputs[0].name, outputs


def network_from_graph_def(graph_def: object, input_tensor: str, output_tensor: str) -> Callable[..., object]:
    tf = require("tensorflow")
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    return wrapped.prune(input_tensor, output_tensor)  # type: ignore[no-any-return]
