"""--mixed_precision=bfloat16 (a TF Serving flag): oneDNN's bfloat16 rewrite where the CPU computes in
bfloat16, float32 (said once) where it does not."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from yolo_tfserving.serving import server as server_module  # noqa: E402
from yolo_tfserving.serving.options import parse_flags  # noqa: E402
from yolo_tfserving.serving.servable import LoadOptions, Servable, cpu_has_bfloat16  # noqa: E402


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conv") / "m" / "1"
    rng = np.random.default_rng(0)

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w1 = tf.Variable(rng.normal(size=(3, 3, 8, 16)).astype(np.float32))
            self.w2 = tf.Variable(rng.normal(size=(3, 3, 16, 16)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 8], tf.float32, name="x")])
        def f(self, x: Any) -> dict[str, Any]:
            return {"y": tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(x, self.w1, 1, "SAME")), self.w2, 1, "SAME")}

    module = Model()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})
    return path


def _run(path: Path, mode: str) -> np.ndarray:
    servable = Servable("m", 1, path, LoadOptions(mixed_precision=mode))
    try:
        x = np.random.default_rng(1).random((2, 32, 32, 8), np.float32)
        return servable.run(servable.signature(None), {"x": x})["y"]
    finally:
        servable.close()


def test_flag_is_accepted_and_resolved(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_flags(["--mixed_precision=bfloat16"]).options.mixed_precision == "bfloat16"
    assert parse_flags(["--mixed_precision=bfloat16"]).options.ignored_flags() == []
    with caplog.at_level(logging.WARNING):
        assert server_module.mixed_precision("float16") == ""
    assert "float16 auto mixed precision is not supported. Valid option: bfloat16" in caplog.text
    monkeypatch.setattr(server_module, "cpu_has_bfloat16", lambda: False)
    with caplog.at_level(logging.WARNING):
        assert server_module.mixed_precision("bfloat16") == ""  # float32 where the CPU has no bfloat16
    assert "has no effect" in caplog.text


@pytest.mark.skipif(not cpu_has_bfloat16(), reason="this CPU has no bfloat16 instructions (avx512_bf16 / amx_bf16)")
def test_bfloat16_rewrites_the_graph_within_tolerance(conv_model: Path) -> None:
    full = _run(conv_model, "")
    half = _run(conv_model, "bfloat16")
    assert not np.array_equal(full, half)  # the convolutions ran in bfloat16
    scale = float(np.abs(full).max())
    assert float(np.abs(full - half).max()) <= 0.02 * scale  # bfloat16 keeps 8 bits of mantissa


def test_float32_is_unchanged_without_the_flag(conv_model: Path) -> None:
    assert np.array_equal(_run(conv_model, ""), _run(conv_model, ""))
