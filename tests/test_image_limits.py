"""Image bombs (issue 10): refused from the header before decoding, in the graph and in the client;
a GIF decoded up to its first frame only."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from PIL import Image

from helpers import running_server
from image_bombs import BLUE, RED, bmp_header, gif_frames, jpeg_bomb, png_bomb
from yolo_tfserving import AsyncClient, Client, ImageError, ImageTooLargeError, InputError, RequestError
from yolo_tfserving._limits import DEFAULT_MAX_PIXELS
from yolo_tfserving.client.images import prepare

tf = pytest.importorskip("tensorflow")

from yolo_tfserving.export import tf_gif, tf_images, tf_ops  # noqa: E402

MODEL_LIMIT = 5_000_000  # the module's export: the 300-frame 2000x2000 GIF (4 MP a frame) passes it
MB = 1 << 20


def _encode(rgb: np.ndarray, fmt: str, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _flat_jpeg(w: int, h: int) -> bytes:
    """A real w x h JPEG of one colour (a few KB whatever its size)."""
    return _encode(np.full((h, w, 3), 90, np.uint8), "JPEG", quality=30)


def _peak_rss_growth(fn: Callable[[], object]) -> tuple[float, object]:
    """(the process's peak RSS growth in MB while ``fn`` ran, what it returned or raised)."""
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            done.wait(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result: object = fn()
    except Exception as exc:  # returned for the caller to assert on
        result = exc
    finally:
        done.set()
        sampler.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return (peak[0] - base) / MB, result


def _decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    fn = tf.function(lambda b: tf_ops.decode_rgb(b, max_pixels), input_signature=[tf.TensorSpec([], tf.string)])
    return fn(tf.constant(data)).numpy()


def _tf_frames(data: bytes) -> np.ndarray:
    """Every frame as TensorFlow decodes the whole file (the reference for frame 0)."""
    return tf.io.decode_gif(data).numpy()


# -- reading headers ---------------------------------------------------------------------------
def test_header_size_reads_each_format() -> None:
    rgb = _photo(30, 70)
    size = tf.function(tf_images.header_size, input_signature=[tf.TensorSpec([], tf.string)])
    for fmt in ("JPEG", "PNG", "GIF", "BMP"):
        assert size(tf.constant(_encode(rgb, fmt))).numpy().tolist() == [70, 30], fmt
    assert size(tf.constant(jpeg_bomb(13000, 12000))).numpy().tolist() == [13000, 12000]
    assert size(tf.constant(png_bomb(3000, 2000))).numpy().tolist() == [3000, 2000]
    assert size(tf.constant(bmp_header(30000, -20000))).numpy().tolist() == [30000, 20000]  # top-down rows
    for junk in (b"", b"GIF", b"\x89PNG\r\n\x1a\n", b"hello, world"):  # none of the four, or no IHDR
        assert size(tf.constant(junk)).numpy().tolist() == [-1, -1], junk


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP"])
def test_limit_refuses_before_decoding_and_names_the_fix(fmt: str) -> None:
    data = _encode(_photo(80, 100), fmt)
    with pytest.raises(tf.errors.InvalidArgumentError) as refused:
        _decode(data, max_pixels=7999)
    message = refused.value.message
    assert "100x80 (8000 pixels), over the limit of 7999 pixels" in message
    assert "--max-pixels" in message
    assert _decode(data, max_pixels=8000).shape == (80, 100, 3)
    assert _decode(data, max_pixels=0).shape == (80, 100, 3)  # 0: no limit


def test_header_bombs_are_refused_at_the_default_limit() -> None:
    for bomb, size in ((jpeg_bomb(13000, 13000), "13000x13000"), (bmp_header(30000, -20000), "30000x20000")):
        growth, result = _peak_rss_growth(lambda b=bomb: _decode(b))
        assert isinstance(result, tf.errors.InvalidArgumentError), result
        assert size in result.message and f"limit of {DEFAULT_MAX_PIXELS} pixels" in result.message
        assert growth < 200


def test_unknown_headers_keep_the_decoders_own_error() -> None:
    for junk, needle in ((b"hello", "Unknown image file format"), (b"GIF89a", "Invalid GIF data")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=needle):
            _decode(junk)


# -- GIF: the first frame only -------------------------------------------------------------------
def _animated(frames: list[np.ndarray], **kwargs: Any) -> bytes:
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], **kwargs)
    return buf.getvalue()


def test_gif_cut_after_the_first_image() -> None:
    data = gif_frames(frames=3, size=40)
    end, frame_wh = tf.function(tf_gif.gif_first_image_end)(tf.constant(data))
    one = gif_frames(frames=1, size=40)
    assert int(end) == len(one) - 1  # everything up to frame 0's last sub-block; then the trailer is added
    assert frame_wh.numpy().tolist() == [40, 40]
    cut = tf.function(lambda b: tf_gif.first_gif_frame(b, DEFAULT_MAX_PIXELS))(tf.constant(data)).numpy()
    assert cut == one
    assert Image.open(io.BytesIO(cut)).n_frames == 1


def test_multi_frame_gif_decodes_frame_zero() -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (50, 70, 3), dtype=np.uint8) for _ in range(4)]  # local colour tables
    cases = {
        "pillow": _animated(frames, duration=40, loop=0, comment=b"a comment"),
        "pillow, no optimise": _animated(frames, optimize=False, disposal=2),
        "flat red then blue": gif_frames(frames=5, size=64),
    }
    for name, data in cases.items():
        assert Image.open(io.BytesIO(data)).n_frames > 1, name
        ours = _decode(data)
        assert np.array_equal(ours, _tf_frames(data)[0]), name
    flat = cases["flat red then blue"]
    assert (_decode(flat) == RED).all() and (_tf_frames(flat)[1:] == BLUE).all()


def test_single_frame_gifs_decode_exactly_as_before() -> None:
    for data in (_encode(_photo(45, 61, seed=2), "GIF"), _encode(_photo(300, 200, seed=3), "GIF", interlace=True)):
        before = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
        assert np.array_equal(_decode(data), before)


def test_gif_walk_crosses_windows() -> None:
    """A first frame spanning many 4 KiB windows, after an extension of 1-byte sub-blocks."""
    frames = [_photo(200, 300, seed=4), _photo(200, 300, seed=5)]
    data = _animated(frames)
    assert len(data) > 20 * 4096
    head = 13 + 768 if data[10] & 0x80 else 13
    hostile = data[:head] + b"\x21\xfe" + b"\x01x" * 9000 + b"\x00" + data[head:]  # a comment, 9000 sub-blocks
    for gif in (data, hostile):
        assert np.array_equal(_decode(gif), _tf_frames(data)[0])


def test_gif_first_frame_size_is_checked() -> None:
    data = bytearray(gif_frames(frames=2, size=16))
    start = 13 + 768 + 8  # the first image descriptor (after the graphic control extension)
    assert data[start] == 0x2C
    data[start + 5 : start + 9] = (5000).to_bytes(2, "little") * 2  # the frame claims 5000x5000 on a 16x16 screen
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"the first frame of the GIF is 5000x5000"):
        _decode(bytes(data), max_pixels=1_000_000)


def test_truncated_gif_keeps_todays_behaviour() -> None:
    data = gif_frames(frames=2, size=64)
    cut = data[: 13 + 768 + 8 + 15]  # inside the first frame's data
    end, _ = tf.function(tf_gif.gif_first_image_end)(tf.constant(cut))
    assert int(end) == -1
    with pytest.raises(tf.errors.InvalidArgumentError) as ours:
        _decode(cut)
    with pytest.raises(tf.errors.InvalidArgumentError) as before:
        tf.io.decode_image(cut, channels=3, expand_animations=False)
    assert _reason(ours.value) == _reason(before.value) and "Invalid GIF data" in _reason(ours.value)


def _reason(exc: Any) -> str:
    """An op error's message without the function and op names around it."""
    return str(exc.message).split("\n")[0].split("}}")[-1].split(" [Op:")[0].strip()


# -- the exported model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    out = tmp_path_factory.mktemp("limits-repo")
    export_model(tiny_checkpoint, out, options=ExportOptions(imgsz=64, verify=False, max_pixels=MODEL_LIMIT))
    return out


@pytest.fixture(scope="module")
def loaded(exported: Path) -> Any:
    return tf.saved_model.load(str(exported / "yolov5" / "1"))


def test_limit_is_in_the_metadata_and_the_limits_signature(exported: Path, loaded: Any) -> None:
    meta = json.loads((exported / "yolov5" / "1" / "assets.extra" / "yolo_tfserving.json").read_text())
    assert meta["max_pixels"] == MODEL_LIMIT and "limits" in meta["signatures"]
    values = loaded.signatures["limits"](names=tf.constant(["max_pixels", "max_det", "nope"]))["values"]
    assert values.numpy().tolist() == [MODEL_LIMIT, 300, -1]


@pytest.mark.parametrize(
    "bomb,size", [(jpeg_bomb(13000, 13000), "13000x13000"), (png_bomb(23000, 23000), "23000x23000")]
)
def test_served_signatures_refuse_bombs(loaded: Any, bomb: bytes, size: str) -> None:
    default, detect = loaded.signatures["serving_default"], loaded.signatures["detect"]
    photo = _encode(_photo(48, 80), "JPEG")
    assert default(images=tf.constant([photo]))["boxes"].shape[0] == 1  # warmed up; a normal image works
    growth, result = _peak_rss_growth(lambda: default(images=tf.constant([photo, bomb])))
    assert isinstance(result, tf.errors.InvalidArgumentError), result
    assert f"{size} " in result.message and f"over the limit of {MODEL_LIMIT} pixels" in result.message
    assert "yolo-tfserving export --max-pixels" in result.message
    assert growth < 200
    with pytest.raises(tf.errors.InvalidArgumentError, match=size):
        detect(
            images=tf.constant([bomb]),
            conf_threshold=tf.constant([0.25]),
            iou_threshold=tf.constant([0.45]),
            max_det=tf.constant([10]),
        )


def test_served_gif_is_its_first_frame(loaded: Any) -> None:
    detect = loaded.signatures["detect"]

    def outputs(data: bytes) -> np.ndarray:
        out = detect(
            images=tf.constant([data]),
            conf_threshold=tf.constant([0.0]),
            iou_threshold=tf.constant([0.45]),
            max_det=tf.constant([50]),
        )
        return np.concatenate([out["boxes"].numpy()[0].ravel(), out["scores"].numpy()[0]])

    gif = _animated([_photo(64, 64, seed=7), _photo(64, 64, seed=8), _photo(64, 64, seed=9)])
    frames = _tf_frames(gif)
    ours = outputs(gif)
    np.testing.assert_allclose(ours, outputs(_encode(frames[0], "PNG")), atol=1e-5)
    assert not np.allclose(ours, outputs(_encode(frames[1], "PNG")), atol=1e-3)


def test_served_many_frame_gif_costs_one_frame(loaded: Any) -> None:
    bomb = gif_frames(frames=300, size=2000)  # 300 x 12 MB decoded before; one frame (12 MB) now
    default = loaded.signatures["serving_default"]
    growth, result = _peak_rss_growth(lambda: default(images=tf.constant([bomb])))
    assert not isinstance(result, Exception), result
    assert growth < 200


# -- export options and command line ---------------------------------------------------------------
def test_export_option_is_checked_first(tmp_path: Path) -> None:
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    assert ExportOptions().max_pixels == DEFAULT_MAX_PIXELS
    with pytest.raises(InputError, match="--max-pixels must be a non-negative integer"):
        export_model(tmp_path / "absent.pt", tmp_path, options=ExportOptions(max_pixels=-1))


def test_cli_export_has_max_pixels() -> None:
    from typer.testing import CliRunner

    from yolo_tfserving.cli.main import app

    result = CliRunner().invoke(app, ["export", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--max-pixels" in result.output


# -- the client ------------------------------------------------------------------------------------
def test_client_prepare_refuses_from_the_header() -> None:
    for bomb, size in ((jpeg_bomb(13000, 13000), "13000x13000"), (png_bomb(23000, 23000), "23000x23000")):
        growth, result = _peak_rss_growth(lambda b=bomb: prepare(b))
        assert isinstance(result, ImageTooLargeError), result
        assert f"image bytes is {size}" in str(result) and f"limit of {DEFAULT_MAX_PIXELS} pixels" in str(result)
        assert "--max-pixels" in str(result) and "max_pixels=" in str(result)
        assert growth < 200
    small = _encode(_photo(80, 100), "PNG")
    assert prepare(small, max_pixels=8000).size_hw == (80, 100)
    for item in (small, Image.open(io.BytesIO(small)), _photo(80, 100)):
        with pytest.raises(ImageTooLargeError, match="100x80"):
            prepare(item, max_pixels=7999)


def test_client_turns_pillows_bomb_refusal_into_the_same_error() -> None:
    # no limit of ours, but 529 MP is past twice Pillow's MAX_IMAGE_PIXELS: Image.open refuses it
    with pytest.raises(ImageTooLargeError, match="decompression bomb") as refused:
        prepare(png_bomb(23000, 23000), max_pixels=0)
    assert isinstance(refused.value, ImageError) and "MAX_IMAGE_PIXELS" in str(refused.value)
    assert "23000x23000 (529000000 pixels)" in str(refused.value)


def test_client_refuses_before_pillow_warns() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning (from 89.5 MP) would fail this
        with pytest.raises(ImageTooLargeError, match="13000x13000"):
            prepare(jpeg_bomb(13000, 13000))


@pytest.fixture(scope="module")
def served(exported: Path) -> Iterator[Any]:
    with running_server(model_name="yolov5", model_base_path=str(exported / "yolov5")) as server:
        yield server


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_learns_the_models_limit(served: Any, protocol: str) -> None:
    url = f"http://127.0.0.1:{served.rest_port}" if protocol == "rest" else f"grpc://127.0.0.1:{served.grpc_port}"
    between = _flat_jpeg(2500, 2100)  # 5.25 MP: past the model's limit, under the default
    with Client(url) as client:
        assert client.max_pixels == DEFAULT_MAX_PIXELS  # nothing asked yet
        with pytest.raises(RequestError) as refused:  # so the model refuses it: 400 / INVALID_ARGUMENT
            client.detect(between)
        assert refused.value.status in (400, "INVALID_ARGUMENT")
        assert "2500x2100" in str(refused.value) and "--max-pixels" in str(refused.value)
        assert client.model_facts().max_pixels == MODEL_LIMIT
        with pytest.raises(ImageTooLargeError, match=f"2500x2100 .* limit of {MODEL_LIMIT} pixels"):
            client.detect(between)  # now refused here, before it is sent
        assert client.detect(_photo(48, 80)).image_size_hw == (48, 80)
    with Client(url) as client:  # a bomb past the default: the client asks the model, then refuses it
        with pytest.raises(ImageTooLargeError, match=f"13000x13000 .* limit of {MODEL_LIMIT} pixels"):
            client.detect(jpeg_bomb(13000, 13000))
        assert client.max_pixels == MODEL_LIMIT


def _fake_limits_reply(client: Any, limit: int) -> list[str]:
    """Answer the client's calls in-process: a model whose `limits` signature says ``limit``."""
    calls: list[str] = []
    metadata = {
        "metadata": {
            "signature_def": {
                "signature_def": {
                    "raw": {
                        "inputs": {"images": {"tensor_shape": {"dim": [{"size": -1}, {"size": 64}, {"size": 64}]}}},
                        "outputs": {"predictions": {"tensor_shape": {"dim": [{}, {}, {"size": 8}]}}},
                    },
                    "limits": {},
                }
            }
        }
    }

    def perform(call: Any) -> Any:
        name = getattr(call, "signature", "metadata")
        calls.append(name)
        if name == "metadata":
            return metadata
        if name == "class_names":
            return {"class_names": np.asarray([b"a", b"b", b"c"], dtype=object)}
        # one call for every limit the client needs: the pixel limit, and the --rect facts (-1: the export
        # does not know the name, as before rectangular inference existed)
        names = call.inputs["names"].tolist()
        assert name == "limits" and names == [b"max_pixels", b"size_h", b"size_w", b"stride", b"rect"]
        return {"values": np.asarray([limit, -1, -1, -1, -1], np.int64)}

    client._perform = perform
    return calls


def test_client_plan_raises_to_a_higher_model_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("yolo_tfserving.client.client.DEFAULT_MAX_PIXELS", 1000)
    image = _encode(_photo(40, 40), "PNG")  # 1600 pixels: past this default
    with Client("http://127.0.0.1:9") as client:
        calls = _fake_limits_reply(client, 5000)
        assert client.prepare(image).size_hw == (40, 40)
        assert calls == ["metadata", "class_names", "limits"] and client.max_pixels == 5000
        client.prepare(image)
        assert len(calls) == 3  # learned once
    with Client("http://127.0.0.1:9", max_pixels=1200) as client:  # the client's own limit wins; nothing asked
        calls = _fake_limits_reply(client, 5000)
        with pytest.raises(ImageTooLargeError, match="limit of 1200 pixels"):
            client.prepare(image)
        assert calls == []
    with pytest.raises(InputError, match="max_pixels"):
        Client("http://127.0.0.1:9", max_pixels=-5)


def test_async_client_learns_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("yolo_tfserving.client.client.DEFAULT_MAX_PIXELS", 1000)
    image = _encode(_photo(40, 40), "PNG")

    async def main() -> tuple[int, int]:
        async with AsyncClient("http://127.0.0.1:9") as client:
            calls = _fake_limits_reply(client, 1500)
            sync_perform = client._perform

            async def perform(call: Any) -> Any:
                return sync_perform(call)

            client._perform = perform
            with pytest.raises(ImageTooLargeError, match="limit of 1500 pixels"):
                await client.prepare(image)
            return len(calls), client.max_pixels

    assert asyncio.run(main()) == (3, 1500)
