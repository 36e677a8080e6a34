"""Every YOLOv5 checkpoint users actually have: train.py's last.pt / best.pt at v5.0, v6.0 and
v7.0 (numpy values, optimizer state), stripped release weights, the ``yolov5`` PyPI package's
class paths, and the hub architectures; each loads through the allowlist and exports with parity.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the [export] extra")

import yolov5_configs as configs
from helpers import save_training_checkpoint, training_checkpoint, yolov5_class_paths
from yolo_tfserving import UnsafeCheckpointError
from yolo_tfserving.yolov5 import common, experimental, ghost, transformer
from yolo_tfserving.yolov5.checkpoint import _AllowlistUnpickler, load_checkpoint
from yolo_tfserving.yolov5.yolo import Model, build_model

NAMES = ["cat", "dog", "bird"]


@dataclass(frozen=True)
class Family:
    """An architecture family, the release whose train.py saves it here, and an export size."""

    cfg: dict[str, Any]
    release: str
    imgsz: int = 64
    strides: tuple[int, ...] = (8, 16, 32)
    names: tuple[str, ...] = tuple(NAMES)
    slow: bool = False  # its export (~30-90 s here) runs only without -m "not slow"


FAMILIES = {
    "v5.0-focus-spp": Family(configs.V5_YOLOV5S, "v5.0"),
    "v6-conv-sppf": Family(configs.YOLOV5S, "v6.0", slow=True),
    "v5.0-p6-focus-spp": Family(configs.V5_YOLOV5S6, "v5.0", 128, (8, 16, 32, 64), slow=True),
    "p6": Family(configs.YOLOV5S6, "v7.0", 128, (8, 16, 32, 64)),
    "p6-1280": Family(configs.YOLOV5S6, "v7.0", 1280, (8, 16, 32, 64), slow=True),
    "p2": Family(configs.YOLOV5_P2, "v7.0", 64, (4, 8, 16, 32), slow=True),
    "p7": Family(configs.YOLOV5_P7, "v7.0", 128, (8, 16, 32, 64, 128), slow=True),
    "ghost": Family(configs.YOLOV5S_GHOST, "v6.0", slow=True),
    "transformer": Family(configs.YOLOV5S_TRANSFORMER, "v7.0"),
    "bifpn": Family(configs.YOLOV5_BIFPN, "v7.0", slow=True),
    "fpn": Family(configs.YOLOV5_FPN, "v7.0", slow=True),
    "leakyrelu": Family(configs.YOLOV5S_LEAKYRELU, "v7.0", slow=True),
    "every-other-layer": Family(configs.EVERY_OTHER_LAYER, "v7.0"),
    "v5.0-experimental": Family(configs.V5_EXPERIMENTAL, "v5.0", slow=True),
    "one-class": Family(configs.YOLOV5S, "v7.0", names=("wheat head",), slow=True),
    "many-classes": Family(configs.YOLOV5S, "v7.0", names=tuple(f"part {i:02d}" for i in range(20)), slow=True),
}


def _build(family: Family, seed: int = 0) -> Model:
    model = build_model(family.cfg, nc=len(family.names), width_multiple=0.125, names=family.names, seed=seed)
    for module in model.modules():  # trained-looking weights: non-trivial batch norms everywhere
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    return build_model(nc=3, width_multiple=0.125, depth_multiple=0.33, names=NAMES)


def _pickle_bytes(path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))


def _same_outputs(loaded: torch.nn.Module, reference: torch.nn.Module, size: int = 128) -> None:
    """``loaded`` (from an fp16 checkpoint) computes what ``reference`` does with fp16-rounded weights."""
    import copy

    rounded = copy.deepcopy(reference).half().float().eval()
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        assert torch.allclose(loaded(x), rounded(x), atol=1e-3, rtol=1e-4)


# -- train.py's checkpoints -------------------------------------------------------------------


@pytest.mark.parametrize("release", ["v5.0", "v6.0", "v7.0"])
@pytest.mark.parametrize("stripped", [False, True], ids=["last.pt", "stripped"])
def test_train_py_checkpoint_loads(tmp_path, tiny, release, stripped):
    if release == "v5.0":  # v5.0's own architecture: no SPPF yet
        tiny = _build(FAMILIES["v5.0-focus-spp"])
    path = save_training_checkpoint(tiny, tmp_path / "last.pt", release=release, stripped=stripped)
    with yolov5_class_paths(release=release):  # what it holds (we made it: a plain load is fine)
        raw = torch.load(path, map_location="cpu", weights_only=False)
    if not stripped:
        assert isinstance(raw["best_fitness"], np.ndarray)
        assert any(isinstance(g["momentum"], np.floating) for g in raw["optimizer"]["param_groups"])
        assert raw["optimizer"]["state"], "momentum buffers"
    ckpt = load_checkpoint(path)
    assert ckpt.names == tuple(NAMES) and ckpt.strides == (8, 16, 32)
    assert ckpt.date == raw.get("date")
    _same_outputs(ckpt.model, tiny)  # the EMA weights, not the trained 'model' entry


def test_yolov5_pypi_package_class_paths(tmp_path, tiny):
    path = save_training_checkpoint(tiny, tmp_path / "best.pt", release="v7.0", prefix="yolov5.")
    assert b"yolov5.models.yolo\nDetectionModel" in _pickle_bytes(path)
    ckpt = load_checkpoint(path)
    assert ckpt.names == tuple(NAMES)
    _same_outputs(ckpt.model, tiny)


# -- what the allowlist lets through ------------------------------------------------------------


def _numpy_pickle(value: object, *, numpy2: bool) -> bytes:
    data = pickle.dumps(value, protocol=2)  # torch.save's protocol
    if numpy2:  # numpy 2 writes numpy._core.*; numpy 1 numpy.core.*
        data = data.replace(b"numpy.core.multiarray", b"numpy._core.multiarray")
    return data


@pytest.mark.parametrize("numpy2", [False, True], ids=["numpy.core", "numpy._core"])
def test_numpy_values_in_either_spelling(numpy2):
    value = {"best": np.array([0.25, 0.5]), "lr": np.float64(0.01), "n": np.int64(3), "m": np.zeros((2, 3), "f4")}
    data = _numpy_pickle(value, numpy2=numpy2)
    assert (b"numpy._core" in data) is numpy2
    got = _AllowlistUnpickler(io.BytesIO(data)).load()
    assert got.keys() == value.keys()
    for key in value:
        assert np.array_equal(got[key], value[key]) and got[key].dtype == value[key].dtype


# -- what it still refuses ------------------------------------------------------------------------


def _global_call(module: str, name: str, *args: str) -> bytes:
    """A protocol-2 pickle that calls ``module.name(*args)`` (what a hostile __reduce__ writes)."""
    body = b"".join(b"X" + len(a.encode()).to_bytes(4, "little") + a.encode() for a in args)
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"(" + body + b"tR."


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("posix", "system"),
        ("nt", "system"),
        ("os", "system"),
        ("builtins", "exec"),
        ("builtins", "eval"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("subprocess", "Popen"),
        ("numpy", "load"),
        ("numpy.lib.npyio", "load"),
        ("torch", "load"),
        ("torch.nn.modules.module", "Module.__setattr__"),
        ("models.common", "__builtins__"),
        ("yolov5.models.yolo", "torch"),
    ],
)
def test_code_running_globals_are_refused_before_anything_runs(tmp_path, monkeypatch, module, name):
    monkeypatch.chdir(tmp_path)
    data = _global_call(module, name, "touch pwned")
    with pytest.raises(UnsafeCheckpointError, match=rf"'{module}\.{name}'"):
        _AllowlistUnpickler(io.BytesIO(data)).load()
    assert not (tmp_path / "pwned").exists()


class _Exec:
    def __reduce__(self):
        return (exec, ("open('pwned-by-checkpoint', 'w').close()",))


class _ArrayOfSystem:
    """An ndarray rebuild whose 'subtype' is os.system: still only ever an ndarray, or refused."""

    def __reduce__(self):
        import os

        return (np.core.multiarray._reconstruct, (os.system, ("touch pwned-by-checkpoint",), b"b"))


@pytest.mark.parametrize("payload", [_Exec, _ArrayOfSystem])
def test_hostile_training_checkpoint_is_refused(tmp_path, tiny, monkeypatch, payload):
    monkeypatch.chdir(tmp_path)
    path = save_training_checkpoint(tiny, tmp_path / "evil.pt", release="v6.0", wandb_id=payload())
    with pytest.raises(UnsafeCheckpointError, match=r"'(__builtin__\.exec|builtins\.exec|posix\.system)'"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned-by-checkpoint").exists()


def test_numpy_rebuilders_only_do_what_numpy_pickles_do():
    from yolo_tfserving.yolov5.allowlist import resolve_global

    reconstruct = resolve_global("numpy.core.multiarray", "_reconstruct")
    assert reconstruct(np.ndarray, (0,), b"b").shape == (0,)
    with pytest.raises(UnsafeCheckpointError):
        reconstruct(np.ndarray, (1 << 40,), b"b")  # numpy always starts from an empty array
    with pytest.raises(UnsafeCheckpointError):
        reconstruct(np.matrix, (0,), b"b")
    encode = resolve_global("_codecs", "encode")
    assert encode("\x00\xff", "latin1") == b"\x00\xff"
    with pytest.raises(UnsafeCheckpointError):
        encode("x", "rot13")


# -- the architecture families ------------------------------------------------------------------


def test_architectures_match_yolov5s_parameter_counts():
    """YOLOv5's own model summaries: yolov5s 7,235,389 parameters (v6.0+), 7,276,605 (v5.0), yolov5n 1,872,157."""

    def count(cfg: dict[str, Any], width: float) -> int:
        return sum(p.numel() for p in build_model(cfg, nc=80, width_multiple=width).parameters())

    assert count(configs.YOLOV5S, 0.50) == 7_235_389
    assert count(configs.V5_YOLOV5S, 0.50) == 7_276_605
    assert count(configs.YOLOV5S, 0.25) == 1_872_157


def test_activation_key_sets_every_default_conv_activation():
    leaky = _build(FAMILIES["leakyrelu"])
    convs = [m for m in leaky.modules() if isinstance(m, common.Conv)]
    assert convs and all(isinstance(c.act, torch.nn.LeakyReLU) and c.act.negative_slope == 0.1 for c in convs)
    assert len({id(c.act) for c in convs}) == 1  # one shared instance, as YOLOv5 does
    plain = _build(FAMILIES["v6-conv-sppf"])
    assert all(isinstance(m.act, torch.nn.SiLU) for m in plain.modules() if isinstance(m, common.Conv))


def test_integer_anchors_are_placeholders_per_level():
    p2 = _build(FAMILIES["p2"])
    detect = p2.model[-1]
    assert detect.anchors.shape == (4, 3, 2) and p2.yaml["anchors"] == 3


def test_layer_state_uses_yolov5_attribute_names():
    layer = transformer.TransformerLayer(8, 2)
    assert set(layer.state_dict()) == {
        "q.weight",
        "k.weight",
        "v.weight",
        "ma.in_proj_weight",
        "ma.in_proj_bias",
        "ma.out_proj.weight",
        "ma.out_proj.bias",
        "fc1.weight",
        "fc2.weight",
    }
    block = transformer.TransformerBlock(4, 8, 2, 1)
    assert {k.split(".")[0] for k in block.state_dict()} == {"conv", "linear", "tr"} and block.c2 == 8
    assert {k.split(".")[0] for k in transformer.C3TR(8, 16).state_dict()} == {"cv1", "cv2", "cv3", "m"}
    assert {k.split(".")[0] for k in ghost.GhostConv(8, 16).state_dict()} == {"cv1", "cv2"}
    bottleneck = ghost.GhostBottleneck(8, 16, 3, 2)
    assert {k.split(".")[0] for k in bottleneck.state_dict()} == {"conv", "shortcut"}
    assert isinstance(ghost.GhostBottleneck(8, 8).shortcut, torch.nn.Identity)
    assert {k.split(".")[0] for k in common.CrossConv(8, 8).state_dict()} == {"cv1", "cv2"}
    assert {k.split(".")[0] for k in experimental.MixConv2d(8, 8).state_dict()} == {"m", "bn"}
    assert isinstance(experimental.Sum(3).iter, range)


@pytest.mark.parametrize("gain", [2, 3])
def test_contract_and_expand_are_inverse_pixel_rearrangements(gain):
    x = torch.arange(2 * 4 * 6 * 6, dtype=torch.float32).reshape(2, 4, 6, 6)
    contracted = common.Contract(gain)(x)
    assert contracted.shape == (2, 4 * gain * gain, 6 // gain, 6 // gain)
    # channel (i*s + j)*c + k holds pixel offset (i, j) of channel k
    i, j, k = gain - 1, 0, 3
    assert torch.equal(contracted[:, (i * gain + j) * 4 + k], x[:, k, i::gain, j::gain])
    assert torch.equal(common.Expand(gain)(contracted), x)


def test_mixconv2d_legacy_form_keeps_its_residual():
    torch.manual_seed(0)
    x = torch.rand(1, 8, 10, 10)
    old, new = experimental.MixConv2d(8, 8, legacy=True).eval(), experimental.MixConv2d(8, 8).eval()
    assert isinstance(old.act, torch.nn.LeakyReLU) and all(m.groups == 1 for m in old.m)
    assert [m.groups for m in new.m] == [4, 4]
    with torch.no_grad():
        branch = old.act(old.bn(torch.cat([m(x) for m in old.m], 1)))
        assert torch.allclose(old(x), x + branch)
        assert torch.allclose(new(x), new.act(new.bn(torch.cat([m(x) for m in new.m], 1))))


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_checkpoint_loads_and_runs(tmp_path, name):
    family = FAMILIES[name]
    model = _build(family)
    path = save_training_checkpoint(model, tmp_path / "last.pt", release=family.release)
    ckpt = load_checkpoint(path)
    assert ckpt.names == family.names and ckpt.strides == family.strides
    _same_outputs(ckpt.model, model, size=max(128, max(family.strides)))


def test_old_multihead_attention_pickles_load(tmp_path):
    """torch < 1.9 pickled MultiheadAttention without ``batch_first``; the v5.0 transformer was trained then."""
    model = _build(FAMILIES["transformer"])
    old = training_checkpoint(model, release="v7.0", stripped=True)
    attentions = [m for m in old["model"].modules() if isinstance(m, torch.nn.MultiheadAttention)]
    assert attentions
    for module in attentions:
        del module.batch_first
    with yolov5_class_paths():
        torch.save(old, tmp_path / "best.pt")
    _same_outputs(load_checkpoint(tmp_path / "best.pt").model, model)


def test_tracing_the_trunk_leaves_the_model_in_eval_mode(tmp_path):
    """Unfused batch norms (BottleneckCSP, MixConv2d, a bare BatchNorm2d) must stay in eval mode for parity."""
    pytest.importorskip("onnx")
    from yolo_tfserving.export.onnx_export import export_trunk_onnx

    model = load_checkpoint(save_training_checkpoint(_build(FAMILIES["every-other-layer"]), tmp_path / "w.pt")).model
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
    export_trunk_onnx(model, tmp_path / "trunk.onnx", size_hw=(64, 64))
    assert not [name for name, m in model.named_modules() if m.training]
    with torch.no_grad():
        assert torch.equal(model(x), before)


# -- export, parity on ----------------------------------------------------------------------------


def _autoanchor(model: Model) -> Model:
    """What AutoAnchor writes over a yaml's placeholder anchors (``anchors: 3``): real sizes, per stride."""
    detect = model.model[-1]
    detect.anchors[:] = torch.tensor([[1.25, 1.625], [2.0, 3.75], [4.125, 2.875]])  # YOLOv5's P3 set / 8
    return model


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if f.slow else n for n, f in FAMILIES.items()]
)
def test_family_exports_with_parity(tmp_path, name):
    """The export's parity gate passes, and the converted network agrees with PyTorch far inside it.

    (A random-weight model clears no confidence threshold, so parity's detection matching has
    nothing to match here; the real-model parity tests cover it. Every raw output is compared.)
    """
    pytest.importorskip("tensorflow")
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    family = FAMILIES[name]
    model = _build(family)
    if isinstance(family.cfg["anchors"], int):
        _autoanchor(model)
    path = save_training_checkpoint(model, tmp_path / "best.pt", release=family.release)
    options = ExportOptions(imgsz=family.imgsz, nchw_signature="none", warmup=False)
    result = export_model(path, tmp_path / "repo", options=options)
    assert result.class_names == family.names and result.size_hw == (family.imgsz, family.imgsz)
    parity = result.parity
    assert parity is not None and parity["passed"], parity
    assert set(parity["raw_max_scaled_diff"]) == {"onnxruntime", "savedmodel_raw"}
    assert max(parity["raw_max_scaled_diff"].values()) < 1e-5, parity["raw_max_scaled_diff"]


def test_outputs_onnx2tf_left_in_nchw_are_recognised():
    """A Detect input computed by an addition (a residual block, Sum) can come back from onnx2tf as NCHW."""
    pytest.importorskip("tensorflow")
    from yolo_tfserving.export.tf_head import DetectHead, left_in_nchw

    head = DetectHead.from_detect(_build(FAMILIES["every-other-layer"]).model[-1])
    (h3, w3, c3), (h4, w4, c4), (h5, w5, c5) = head.feature_shapes((64, 64))
    shapes = [[None, h3, w3, c3], [None, c4, h4, w4], [None, h5, w5, c5], [None, None, None, 8]]
    assert left_in_nchw(shapes, head, (64, 64)) == [False, True, False, False]


def test_imgsz_must_be_a_multiple_of_the_largest_stride(tmp_path):
    pytest.importorskip("tensorflow")
    from yolo_tfserving import InputError
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    path = save_training_checkpoint(_build(FAMILIES["p6"]), tmp_path / "p6.pt")
    with pytest.raises(InputError, match=r"--imgsz 96 .* multiple of 64"):
        export_model(path, tmp_path / "repo", options=ExportOptions(imgsz=96))
    assert not (tmp_path / "repo" / "yolov5" / "1").exists()
