"""Loading YOLOv5 checkpoints with our layers, through the allowlisting unpickler."""

from __future__ import annotations

import os
import pickle

import pytest

torch = pytest.importorskip("torch", reason="needs the [export] extra")

from helpers import save_yolov5_checkpoint, yolov5_class_paths
from yolo_tfserving import CheckpointError, UnsafeCheckpointError
from yolo_tfserving.yolov5 import common
from yolo_tfserving.yolov5.checkpoint import load_checkpoint
from yolo_tfserving.yolov5.yolo import build_model


def test_fp16_checkpoint_loads_as_fp32_with_names_and_strides(tiny_model, tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.names == ("cat", "dog", "bird")
    assert ckpt.strides == (8, 16, 32)
    assert ckpt.num_classes == 3
    assert all(p.dtype == torch.float32 for p in ckpt.model.parameters())
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        # the checkpoint stores fp16 weights: compare with the same rounding applied
        reference = build_model(nc=3, width_multiple=0.125, names=["cat", "dog", "bird"])
        reference.load_state_dict({k: v.half().float() for k, v in tiny_model.state_dict().items()})
        want = reference.eval()(x)
        got = ckpt.model(x)
    assert got.shape == (1, 3 * (16 * 16 + 8 * 8 + 4 * 4), 8)
    assert torch.allclose(got, want, atol=1e-3, rtol=1e-4)


def test_fusing_keeps_outputs(tiny_checkpoint):
    fused = load_checkpoint(tiny_checkpoint, fuse=True).model
    plain = load_checkpoint(tiny_checkpoint, fuse=False).model
    assert not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules() if not isinstance(m, common.BottleneckCSP)
    )
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(fused(x), plain(x), atol=1e-3, rtol=1e-4)


def test_ema_key_and_dict_names(tmp_path, tiny_model):
    import copy

    model = copy.deepcopy(tiny_model)
    model.names = {0: "a", 1: "b", 2: "c"}
    path = save_yolov5_checkpoint(model, tmp_path / "ema.pt", key="ema", model=None)
    assert load_checkpoint(path).names == ("a", "b", "c")


def test_real_checkpoint_loads(real_weights):
    ckpt = load_checkpoint(real_weights)
    assert ckpt.num_classes == 80 and ckpt.names[0] == "person" and ckpt.strides == (8, 16, 32)
    assert sum(p.numel() for p in ckpt.model.parameters()) > 1_800_000


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-checkpoint",))


def test_foreign_global_is_refused_and_nothing_runs(tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with yolov5_class_paths():
        torch.save({"model": tiny_model, "payload": _Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"'(posix|os|nt)\.system'"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned-by-checkpoint").exists()


def test_unknown_yolov5_layer_is_named():
    data = pickle.dumps(None)
    assert data  # sanity: pickling works at all
    from yolo_tfserving.yolov5.checkpoint import _resolve_global

    with pytest.raises(UnsafeCheckpointError, match=r"models\.common\.CBAM"):  # a forks' layer, not YOLOv5's
        _resolve_global("models.common", "CBAM")
    assert _resolve_global("models.yolo", "SegmentationModel").__name__ == "SegmentationModel"  # issue 13
    with pytest.raises(CheckpointError, match="Ultralytics"):
        _resolve_global("ultralytics.nn.tasks", "DetectionModel")


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_state_dict_only_is_refused(tmp_path, tiny_model):
    path = tmp_path / "sd.pt"
    torch.save({"state_dict": tiny_model.state_dict()}, path)
    with pytest.raises(CheckpointError, match="no YOLOv5 model"):
        load_checkpoint(path)


def test_other_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"model": torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3))}, path)
    with pytest.raises(CheckpointError, match="not a YOLOv5 detection checkpoint"):
        load_checkpoint(path)


def test_sppf_equals_spp_and_focus_is_space_to_depth():
    torch.manual_seed(0)
    sppf = common.SPPF(16, 16).eval()
    spp = common.SPP(16, 16, (5, 9, 13)).eval()
    spp.load_state_dict(sppf.state_dict(), strict=False)
    spp.cv1.load_state_dict(sppf.cv1.state_dict())
    spp.cv2.load_state_dict(sppf.cv2.state_dict())
    x = torch.rand(1, 16, 20, 20)
    with torch.no_grad():
        assert torch.allclose(sppf(x), spp(x), atol=1e-5)
    focus = common.Focus(3, 8, 3)
    assert focus(torch.rand(1, 3, 32, 32)).shape == (1, 8, 16, 16)
    csp = common.BottleneckCSP(8, 8, n=2).eval()
    assert csp(torch.rand(1, 8, 16, 16)).shape == (1, 8, 16, 16)
