"""The export/verify command line: one clear line and a non-zero exit on bad input, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "yolo_tfserving.cli"]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_clear_line(proc: subprocess.CompletedProcess[str], *, code: int, needle: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert needle in errors[0], errors[0]


def test_missing_weights(tmp_path):
    assert_one_clear_line(
        run_cli("export", str(tmp_path / "nope.pt"), "--out", str(tmp_path)), code=2, needle="not found"
    )


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("hello")
    assert_one_clear_line(
        run_cli("export", str(bad), "--out", str(tmp_path / "o")), code=2, needle="not a PyTorch checkpoint"
    )
    assert not (tmp_path / "o" / "yolov5" / "1").exists()


def test_corrupt_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    assert_one_clear_line(
        run_cli("export", str(bad), "--out", str(tmp_path / "o")), code=2, needle="not a valid ONNX model"
    )


def test_unwritable_output(tmp_path, tiny_checkpoint):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a directory should be")
    assert_one_clear_line(
        run_cli("export", str(tiny_checkpoint), "--out", str(blocker / "repo"), "--imgsz", "64"),
        code=1,
        needle="cannot create",
    )


def test_unsafe_checkpoint(tmp_path, tiny_model):
    import torch

    from helpers import yolov5_class_paths

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned > owned.txt",))

    path = tmp_path / "evil.pt"
    with yolov5_class_paths():
        torch.save({"model": tiny_model, "x": Evil()}, path)
    proc = subprocess.run(
        [*CLI, "export", str(path), "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=tmp_path
    )
    assert_one_clear_line(proc, code=2, needle="refusing to load")
    assert not (tmp_path / "owned.txt").exists()


@pytest.mark.parametrize(
    "step", ["exporting ONNX", "converting to TensorFlow (onnx2tf)", "writing SavedModel", "verifying parity"]
)
def test_interrupted_export_leaves_nothing(tmp_path, tiny_checkpoint, step):
    """Ctrl-C at any step: exit 130, no staging directory, no scratch directory (issue 11: SIGINT during
    onnx2tf was swallowed and the export finished with exit 0). The signal is sent when the export reports
    the step, not after a guessed delay."""
    out = tmp_path / "repo"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(
        [*CLI, "export", str(tiny_checkpoint), "--out", str(out), "--imgsz", "64"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if step in line:
            proc.send_signal(signal.SIGINT)
            break
    else:
        proc.wait(60)
        raise AssertionError(f"the export never reported {step!r}: {''.join(seen)}")
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, "".join(seen) + rest
    assert "Traceback" not in rest and "interrupted" in rest
    assert list((out / "yolov5").iterdir()) == []
    assert list(scratch.iterdir()) == []


def test_export_json_and_verify_cli(tmp_path, tiny_checkpoint):
    out = tmp_path / "repo"
    proc = run_cli("export", str(tiny_checkpoint), "--out", str(out), "--imgsz", "64", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["parity"]["passed"] and data["version"] == 1 and data["num_classes"] == 3
    proc = run_cli("verify", str(out / "yolov5"), "--weights", str(tiny_checkpoint), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and report["images"] == 3
    assert report["reference"] == "pytorch"
    assert set(report["raw_max_abs_diff"]) == {"onnxruntime", "savedmodel_raw"}
    proc = run_cli("verify", str(out / "yolov5"), "--weights", str(tiny_checkpoint))
    assert proc.returncode == 0 and "PASSED" in proc.stdout
    proc = run_cli("verify", str(out / "yolov5"))  # no weights: the stored ONNX is the reference
    assert proc.returncode == 0 and "PASSED" in proc.stdout and "ONNX Runtime reference" in proc.stdout
    proc = run_cli("verify", str(tmp_path), "--weights", str(tiny_checkpoint))
    assert_one_clear_line(proc, code=2, needle="neither a SavedModel")


def test_help_lists_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "export" in proc.stdout and "verify" in proc.stdout
