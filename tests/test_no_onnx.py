"""``export --no-onnx`` (issue 11): the intermediate ONNX stays out of assets.extra/; the export is still
verified (against PyTorch and the ONNX it made), and verify/eval say how to give them a reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_cli_export import assert_one_clear_line, run_cli

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    out = tmp_path_factory.mktemp("no-onnx")
    proc = run_cli("export", str(tiny_checkpoint), "--out", str(out), "--imgsz", "64", "--no-onnx", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["parity"]["passed"] and set(data["parity"]["raw_max_abs_diff"]) == {"onnxruntime", "savedmodel_raw"}
    return out / "yolov5" / "1"


def test_the_version_has_no_onnx(exported: Path) -> None:
    extra = exported / "assets.extra"
    assert not (extra / "model.onnx").exists()
    assert {"tf_serving_warmup_requests", "parity.json", "yolo_tfserving.json"} <= {p.name for p in extra.iterdir()}
    assert json.loads((extra / "yolo_tfserving.json").read_text())["onnx_asset"] is None


def test_verify_without_weights_says_how_to_give_it_a_reference(exported: Path, tiny_checkpoint: Path) -> None:
    proc = run_cli("verify", str(exported.parent))
    assert_one_clear_line(proc, code=2, needle="exported with --no-onnx")
    line = next(x for x in proc.stderr.splitlines() if x.startswith("error:"))
    assert "--weights model.pt" in line and "re-export without --no-onnx" in line
    proc = run_cli("verify", str(exported.parent), "--weights", str(tiny_checkpoint))
    assert proc.returncode == 0 and "PASSED" in proc.stdout, proc.stderr


def test_eval_onnxruntime_backend_says_how_to_give_it_one(exported: Path) -> None:
    from yolo_tfserving import InputError
    from yolo_tfserving.evaluation.backends import make_backend

    with pytest.raises(InputError, match=r"exported with --no-onnx.*--weights model\.onnx.*re-export without"):
        make_backend("onnxruntime", model_dir=exported.parent)


def test_export_help_lists_no_onnx() -> None:
    proc = run_cli("export", "--help")
    assert proc.returncode == 0 and "--no-onnx" in proc.stdout, proc.stderr
