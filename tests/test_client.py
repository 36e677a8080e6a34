"""The light client: Detections, image inputs, both modes over REST and gRPC, errors, TF-free use."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from helpers import free_port, running_server
from yolo_tfserving import Client, Detections, ImageError, ModelNotFoundError, ServerUnavailableError
from yolo_tfserving.client.images import prepare


# -- Detections ---------------------------------------------------------------------------
def _dets() -> Detections:
    return Detections.from_arrays(
        [[0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4]],
        [0.9, 0.5, 0.3],
        [0, 2, 0],
        names=["cat", "dog", "bird"],
        image_size_hw=(40, 50),
    )


def test_detections_validate_and_index() -> None:
    d = _dets()
    assert len(d) == 3 and d.class_name.tolist() == ["cat", "bird", "cat"]
    cats = d[d.class_id == 0]
    assert isinstance(cats, Detections) and len(cats) == 2 and cats.image_size_hw == (40, 50)
    assert len(d[d.confidence > 0.4]) == 2 and len(d[1:]) == 2 and len(d[0]) == 1
    with pytest.raises(ValueError, match="confidence has 2 rows"):
        Detections(np.zeros((3, 4)), np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="x1 <= x2"):
        Detections(np.array([[5, 0, 1, 1]]), np.ones(1), np.zeros(1))
    assert len(Detections.empty()) == 0


def test_detections_exports() -> None:
    d = _dets()
    rows = json.loads(d.to_json())
    assert rows[0] == {"xyxy": [0.0, 0.0, 10.0, 10.0], "confidence": 0.9, "class_id": 0, "class_name": "cat"}
    coco = d.to_coco(7, category_ids=[1, 2, 3])
    assert coco[1] == {"image_id": 7, "category_id": 3, "bbox": [5.0, 5.0, 15.0, 25.0], "score": 0.5}
    picture = d.annotate(np.zeros((40, 50, 3), np.uint8))
    assert picture.size == (50, 40)
    assert np.asarray(picture).any()  # something was drawn


# -- image inputs -------------------------------------------------------------------------
def test_prepare_accepts_every_input_kind(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)
    png = tmp_path / "a.png"
    Image.fromarray(rgb).save(png)
    for item in (png, str(png), png.read_bytes(), rgb, Image.fromarray(rgb)):
        p = prepare(item)
        assert p.size_hw == (20, 30) and np.array_equal(p.rgb, rgb)
    assert prepare(png).encoded == png.read_bytes()  # upright PNG/JPEG bytes are sent as they are
    with pytest.raises(ImageError, match="cannot decode"):
        prepare(b"not an image")
    with pytest.raises(ImageError, match="cannot read"):
        prepare(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="HxWx3"):
        prepare(np.zeros((4, 4, 7), np.uint8))


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    Image.fromarray(rgb).save(path, exif=exif, quality=95)
    p = prepare(path)
    assert p.size_hw == (40, 20)  # displayed upright: portrait
    assert p.rgb[:20].mean() > 200 and p.rgb[20:].mean() < 50  # the white half is now on top
    assert p.encoded != path.read_bytes()  # re-encoded upright for the server


# -- against a served model -----------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tiny_repo: tuple[Path, Any]) -> Iterator[Any]:
    pytest.importorskip("tensorflow")
    out = tiny_repo[0]
    with running_server(model_name="yolov5", model_base_path=str(out / "yolov5")) as server:
        yield server


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (*hw, 3), np.uint8) for hw in ((48, 80), (90, 40), (64, 64))]


def _same(a: Detections, b: Detections) -> None:
    assert a.class_id.tolist() == b.class_id.tolist()
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.05)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_server_and_client_modes_agree(served: Any, protocol: str) -> None:
    url = f"http://127.0.0.1:{served.rest_port}" if protocol == "rest" else f"grpc://127.0.0.1:{served.grpc_port}"
    with (
        Client(url, mode="server", conf_threshold=0.001) as srv,
        Client(url, mode="client", conf_threshold=0.001) as cli,
    ):
        a, b = srv.detect_batch(_images()), cli.detect_batch(_images())
        assert sum(len(x) for x in a) > 0
        for x, y in zip(a, b, strict=True):
            _same(x, y)
        assert a[0].image_size_hw == (48, 80)
        assert srv.status()["model_version_status"][0]["state"] == "AVAILABLE"
        assert "raw" in srv.metadata()["metadata"]["signature_def"]["signature_def"]
        # per-request thresholds without re-exporting
        assert len(srv.detect(_images()[0], conf_threshold=1.0)) == 0
        assert len(cli.detect(_images()[0], conf_threshold=1.0)) == 0
        assert len(srv.detect(_images()[0], max_det=1)) <= 1


@pytest.mark.parametrize("mode", ["server", "client"])
def test_grpc_client_reads_both_output_forms(served: Any, mode: str) -> None:
    """Outputs in typed fields (TF Serving's default) and in tensor_content
    (--enable_serialization_as_tensor_content) give the same detections."""
    base = served.options.model_base_path
    with running_server(
        model_name="yolov5", model_base_path=base, enable_serialization_as_tensor_content=True
    ) as content_server:
        typed = Client(f"grpc://127.0.0.1:{served.grpc_port}", mode=mode, conf_threshold=0.001)
        content = Client(f"grpc://127.0.0.1:{content_server.grpc_port}", mode=mode, conf_threshold=0.001)
        try:
            a, b = typed.detect_batch(_images()), content.detect_batch(_images())
        finally:
            typed.close()
            content.close()
    assert sum(len(x) for x in a) > 0
    for x, y in zip(a, b, strict=True):
        _same(x, y)


def test_rest_and_grpc_agree_and_classes_filter(served: Any) -> None:
    rest = Client(f"http://127.0.0.1:{served.rest_port}", conf_threshold=0.001)
    grpc_client = Client(f"127.0.0.1:{served.grpc_port}", protocol="grpc", conf_threshold=0.001, classes=[1])
    try:
        a = rest.detect(_images()[2])
        b = grpc_client.detect(_images()[2])
        _same(a[a.class_id == 1], b)
        assert rest.transport.last_request_bytes > 0 and grpc_client.transport.last_response_bytes > 0
    finally:
        rest.close()
        grpc_client.close()


@pytest.mark.parametrize(
    "protocol,mode", [("rest", "server"), ("rest", "client"), ("grpc", "server"), ("grpc", "client")]
)
def test_async_client(served: Any, protocol: str, mode: str) -> None:
    from yolo_tfserving import AsyncClient

    url = f"http://127.0.0.1:{served.rest_port}" if protocol == "rest" else f"grpc://127.0.0.1:{served.grpc_port}"

    async def go() -> list[Detections]:
        async with AsyncClient(url, mode=mode, conf_threshold=0.001) as client:
            assert (await client.status())["model_version_status"][0]["state"] == "AVAILABLE"
            return list(await asyncio.gather(*(client.detect(im) for im in _images())))

    results = asyncio.run(go())
    with Client(f"http://127.0.0.1:{served.rest_port}", conf_threshold=0.001) as client:
        for x, y in zip(results, client.detect_batch(_images()), strict=True):
            _same(x, y)


def test_errors_name_the_server_and_model(served: Any) -> None:
    with (
        Client(f"http://127.0.0.1:{free_port()}", timeout_s=2) as down,
        pytest.raises(ServerUnavailableError, match=r"cannot reach the model server at http://127\.0\.0\.1"),
    ):
        down.detect(_images()[0])
    with (
        Client(f"http://127.0.0.1:{served.rest_port}", model="nope") as wrong,
        pytest.raises(ModelNotFoundError, match="model nope is not served"),
    ):
        wrong.detect(_images()[0])
    with (
        Client(f"grpc://127.0.0.1:{served.grpc_port}", model="nope") as wrong,
        pytest.raises(ModelNotFoundError, match="nope"),
    ):
        wrong.detect(_images()[0])


def test_client_works_without_tensorflow_and_torch(served: Any, tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    Image.fromarray(_images()[0]).save(image)
    script = textwrap.dedent(f"""
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in {{"tensorflow", "torch", "tensorflow_serving", "keras", "onnx"}}:
                    raise ImportError("blocked: " + name)
                return None

        sys.meta_path.insert(0, Block())
        for blocked in ("tensorflow", "torch"):
            try:
                __import__(blocked)
            except ImportError:
                pass
            else:
                raise SystemExit(blocked + " imported")
        from yolo_tfserving import Client
        for url, mode in (("http://127.0.0.1:{served.rest_port}", "server"),
                          ("http://127.0.0.1:{served.rest_port}", "client"),
                          ("grpc://127.0.0.1:{served.grpc_port}", "server"),
                          ("grpc://127.0.0.1:{served.grpc_port}", "client")):
            with Client(url, mode=mode, conf_threshold=0.001) as c:
                print(url, mode, len(c.detect({str(image)!r})))
        assert not [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "torch")]
        print("TF-FREE-OK")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "TF-FREE-OK" in proc.stdout


def test_detect_cli(served: Any, tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    images.mkdir()
    for i, im in enumerate(_images()):
        Image.fromarray(im).save(images / f"{i}.png")
    (images / "broken.jpg").write_bytes(b"garbage")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "yolo_tfserving.cli",
        "detect",
        str(images),
        "--url",
        f"http://127.0.0.1:{served.rest_port}",
        "--conf",
        "0.001",
        "--out",
        str(out),
        "--save-images",
        "--format",
        "coco",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # one image failed, the rest were processed
    assert "skipped" in proc.stderr and "broken.jpg" in proc.stderr and "Traceback" not in proc.stderr
    rows = json.loads((out / "detections_coco.json").read_text())
    assert rows and {"image_id", "category_id", "bbox", "score"} <= set(rows[0])
    assert sorted(p.name for p in out.glob("*_det.png")) == ["0_det.png", "1_det.png", "2_det.png"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "yolo_tfserving.cli",
            "detect",
            str(images / "0.png"),
            "--grpc",
            f"127.0.0.1:{served.grpc_port}",
            "--format",
            "jsonl",
            "--conf",
            "0.001",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["size_hw"] == [48, 80]
    proc = subprocess.run(
        [sys.executable, "-m", "yolo_tfserving.cli", "detect", str(images / "0.png"), "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3 and proc.stderr.count("error:") == 1 and "http://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_encoded_bytes_roundtrip() -> None:
    buf = io.BytesIO()
    Image.fromarray(_images()[1]).save(buf, format="JPEG")
    assert prepare(buf.getvalue()).encoded == buf.getvalue()
