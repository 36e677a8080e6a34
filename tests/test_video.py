"""Video sources through the client (issue 14): decoding, timestamps, pipelining, outputs, interruption,
broken files, the CLI, and the supervision interop. Every video is generated here (PyAV), none downloaded."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from helpers import running_server
from yolo_tfserving import Client, Detections, InputError, MissingDependencyError
from yolo_tfserving.client.images import PreparedImage

av = pytest.importorskip("av")

from yolo_tfserving.video import (  # noqa: E402  (after the importorskip)
    FrameResult,
    VideoOutputs,
    VideoSource,
    detect_video,
    pick_encoder,
    split_sources,
)
from yolo_tfserving.video.pipeline import _frame_encoder, _Settings  # noqa: E402
from yolo_tfserving.video.runner import output_stem  # noqa: E402


def make_video(
    path: Path, *, frames: int = 20, size_hw: tuple[int, int] = (48, 64), fps: int = 25, codec: str = "mpeg4"
) -> list[np.ndarray]:
    """A clip of a bright bar sliding over a textured background; returns the frames as written."""
    rng = np.random.default_rng(3)
    background = rng.integers(0, 120, (*size_hw, 3), np.uint8)
    container = av.open(str(path), mode="w")
    stream = container.add_stream(codec, rate=fps)
    stream.height, stream.width = size_hw
    stream.pix_fmt = "yuv420p"
    written = []
    for i in range(frames):
        frame = background.copy()
        x = (i * 3) % (size_hw[1] - 10)
        frame[size_hw[0] // 4 : size_hw[0] // 2, x : x + 10] = (255, 200, 40)
        written.append(frame)
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return written


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` decoded by PyAV directly (the reference the pipeline is held to)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


class FakeDetector:
    """A client stand-in: one box per frame whose size encodes the frame's mean (so order is checkable)."""

    def __init__(self, *, mode: str = "server") -> None:
        self.mode = mode
        self.batches: list[int] = []

    def detect_batch(self, images: Sequence[Any]) -> list[Detections]:
        self.batches.append(len(images))
        out = []
        for image in images:
            assert isinstance(image, PreparedImage)
            assert bool(image.encoded) == (self.mode == "server")
            m = float(image.rgb.mean())
            box = [[0, 0, m, m]]
            out.append(Detections.from_arrays(box, [0.5], [1], names=["a", "b"], image_size_hw=image.size_hw))
        return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("videos") / "clip.mp4"
    make_video(path)
    return path


# -- sources --------------------------------------------------------------------------------
def test_split_sources_and_names(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "b.MKV").write_bytes(b"")
    (tmp_path / "c.jpg").write_bytes(b"")
    videos, others = split_sources([str(tmp_path), "0", "rtsp://cam.local:554/live", "x.png", str(tmp_path / "*.mp4")])
    a, b = str(tmp_path / "a.mp4"), str(tmp_path / "b.MKV")
    assert videos == [a, b, "0", "rtsp://cam.local:554/live", a]
    assert others == [str(tmp_path), "x.png"]
    assert output_stem("0") == "webcam0" and output_stem("/x/clip.mov") == "clip"
    assert output_stem("rtsp://cam.local:554/live") == "stream_cam.local_554_live"


def test_frames_count_size_and_timestamps(clip: Path) -> None:
    with VideoSource(str(clip)) as video:
        assert video.size_hw == (48, 64) and video.fps == 25 and video.frame_count == 20 and not video.is_stream
        frames = list(video.frames())
    assert [f.index for f in frames] == list(range(20))
    assert [f.timestamp_ms for f in frames] == pytest.approx([i * 40.0 for i in range(20)])
    reference = decoded_frames(clip)
    assert all(np.array_equal(f.rgb, r) for f, r in zip(frames, reference, strict=True))
    with VideoSource(str(clip)) as video:
        strided = list(video.frames(stride=3))
        assert [f.index for f in strided] == [0, 3, 6, 9, 12, 15, 18] and video.decoded == 20


@pytest.mark.parametrize(
    ("suffix", "codec"), [(".mov", "mpeg4"), (".avi", "mpeg4"), (".mkv", "libx264"), (".webm", "libvpx-vp9")]
)
def test_every_container_decodes_with_count_and_timestamps(tmp_path: Path, suffix: str, codec: str) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    path = tmp_path / f"clip{suffix}"
    make_video(path, frames=15, codec=codec)
    with VideoSource(str(path)) as video:
        frames = list(video.frames())
        assert video.frame_count == 15 and video.size_hw == (48, 64)  # Matroska/WebM: from the duration
    assert [f.timestamp_ms for f in frames] == pytest.approx([i * 40.0 for i in range(15)])


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_unreadable_file_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"cannot open video .*broken\.mp4"):
        detect_video(FakeDetector(), path)
    with pytest.raises(InputError, match="no such video file"):
        VideoSource(str(tmp_path / "missing.mp4"))


def test_cut_mp4_is_unreadable(clip: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"  # an MP4's index (moov) is written last: half a file has none
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cannot open video .*cut\.mp4: Invalid data"):
        VideoSource(str(cut))


def test_truncated_file_gives_the_frames_before_the_cut(tmp_path: Path) -> None:
    full = tmp_path / "full.ts"  # MPEG-TS has no index: a cut file still opens and decodes up to the cut
    make_video(full, frames=30)
    data = full.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) // 2])
    summary = detect_video(FakeDetector(), cut, outputs=VideoOutputs(jsonl=tmp_path / "cut.jsonl"))
    lines = (tmp_path / "cut.jsonl").read_text().splitlines()
    assert 0 < summary.frames < 30 and len(lines) == summary.frames
    assert [json.loads(line)["frame"] for line in lines] == list(range(summary.frames))


# -- the pipeline, against a stand-in client --------------------------------------------------
@pytest.mark.parametrize(("batch_size", "in_flight"), [(1, 1), (3, 2), (4, 8)])
def test_pipeline_keeps_frame_order(clip: Path, tmp_path: Path, batch_size: int, in_flight: int) -> None:
    fake = FakeDetector()
    seen: list[FrameResult] = []
    jsonl = tmp_path / "out.jsonl"
    summary = detect_video(
        fake, clip, outputs=VideoOutputs(jsonl=jsonl), batch_size=batch_size, in_flight=in_flight, on_frame=seen.append
    )
    reference = decoded_frames(clip)
    assert summary.frames == summary.frames_decoded == 20 and summary.detections == 20 and summary.error is None
    assert [r.index for r in seen] == list(range(20))
    assert [float(r.detections.xyxy[0, 2]) for r in seen] == pytest.approx([float(f.mean()) for f in reference])
    assert max(fake.batches) == batch_size and sum(fake.batches) == 20
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(20))
    assert [r["timestamp_ms"] for r in records] == pytest.approx([i * 40.0 for i in range(20)])
    assert records[0]["detections"][0]["class_name"] == "b" and records[0]["source"] == str(clip)


def test_vid_stride_and_max_frames(clip: Path, tmp_path: Path) -> None:
    seen: list[FrameResult] = []
    out = tmp_path / "strided.mp4"
    summary = detect_video(
        FakeDetector(), clip, outputs=VideoOutputs(video=out), vid_stride=3, max_frames=4, on_frame=seen.append
    )
    assert [r.index for r in seen] == [0, 3, 6, 9] and summary.frames == 4
    assert [r.timestamp_ms for r in seen] == pytest.approx([0.0, 120.0, 240.0, 360.0])
    with VideoSource(str(out)) as video:  # every 3rd frame at a third of the rate: it lasts as long
        assert video.fps == Fraction(25, 3) and len(list(video.frames())) == 4


def test_annotated_video_is_playable_same_size_and_rate(clip: Path, tmp_path: Path) -> None:
    out, coco = tmp_path / "clip_det.mp4", tmp_path / "clip_coco.json"
    summary = detect_video(FakeDetector(), clip, outputs=VideoOutputs(video=out, coco=coco), batch_size=2)
    assert summary.encoder == pick_encoder()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.height, stream.codec_context.width) == (48, 64)
        assert stream.average_rate == 25
        if pick_encoder() == "libx264":
            assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 20
    assert not np.array_equal(frames[0], decoded_frames(clip)[0])  # the box was drawn
    rows = json.loads(coco.read_text())
    assert [r["image_id"] for r in rows] == list(range(20)) and rows[0]["category_id"] == 1


def test_odd_sized_video_is_written_padded_to_even(tmp_path: Path) -> None:
    src = tmp_path / "odd.mkv"
    make_video(src, frames=5, size_hw=(47, 63), codec="ffv1")
    out = tmp_path / "odd_det.mp4"
    detect_video(FakeDetector(), src, outputs=VideoOutputs(video=out))
    with VideoSource(str(out)) as video:
        assert video.size_hw == (48, 64) and len(list(video.frames())) == 5


def test_interrupt_closes_outputs_at_the_last_frame(tmp_path: Path) -> None:
    src = tmp_path / "long.mp4"
    make_video(src, frames=60)
    jsonl, out = tmp_path / "long.jsonl", tmp_path / "long_det.mp4"

    def interrupt_at_7(result: FrameResult) -> None:
        if result.index == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        detect_video(
            FakeDetector(), src, outputs=VideoOutputs(jsonl=jsonl, video=out), in_flight=3, on_frame=interrupt_at_7
        )
    lines = jsonl.read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(8))  # whole lines, frames 0..7
    with VideoSource(str(out)) as video:  # finalised: it opens and holds the frames written
        assert len(list(video.frames())) == 8


@pytest.fixture(scope="module")
def http_stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTP server on loopback serving a 60-frame MPEG-TS clip: ``<url>/full.ts`` whole, ``<url>/cut.ts``
    announced whole but cut at half and the connection closed (a stream that breaks)."""
    import http.server
    import socketserver
    import threading

    path = tmp_path_factory.mktemp("stream") / "s.ts"
    make_video(path, frames=60)
    data = path.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            cut = self.path.endswith("cut.ts")
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if cut else data)
            self.close_connection = True

        def log_message(self, *_args: Any) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_stream_that_ends_and_one_that_breaks(http_stream: str, tmp_path: Path) -> None:
    with VideoSource(f"{http_stream}/full.ts") as video:
        assert video.is_stream and video.frame_count is None and video.fps == 25
    whole = detect_video(FakeDetector(), f"{http_stream}/full.ts", batch_size=2)
    assert whole.frames == 60 and whole.error is None
    jsonl = tmp_path / "broke.jsonl"
    broke = detect_video(FakeDetector(), f"{http_stream}/cut.ts", outputs=VideoOutputs(jsonl=jsonl), batch_size=2)
    assert 0 < broke.frames < 60 and broke.error is not None and "broke after" in broke.error
    frames = [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()]
    assert frames == list(range(broke.frames))  # every frame before the break, the last partial batch too


def test_bad_options_are_input_errors(clip: Path) -> None:
    for kwargs in ({"batch_size": 0}, {"in_flight": 0}, {"vid_stride": 0}, {"max_frames": 0}, {"frame_format": "gif"}):
        with pytest.raises(InputError):
            detect_video(FakeDetector(), clip, **kwargs)


def test_client_mode_sends_no_encoded_frames(clip: Path) -> None:
    assert detect_video(FakeDetector(mode="client"), clip, max_frames=3).frames == 3


# -- against the served tiny model ------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tiny_repo: tuple[Path, Any]) -> Iterator[Any]:
    pytest.importorskip("tensorflow")
    with running_server(model_name="yolov5", model_base_path=str(tiny_repo[0] / "yolov5")) as server:
        yield server


def _url(server: Any, protocol: str) -> str:
    return f"http://127.0.0.1:{server.rest_port}" if protocol == "rest" else f"grpc://127.0.0.1:{server.grpc_port}"


@pytest.mark.parametrize(
    ("protocol", "mode", "frame_format"),
    [("rest", "server", "jpeg"), ("grpc", "server", "png"), ("rest", "client", "jpeg"), ("grpc", "client", "jpeg")],
)
def test_detections_equal_frame_by_frame(served: Any, clip: Path, protocol: str, mode: str, frame_format: str) -> None:
    """Each frame's detections through the pipeline (batched, 3 in flight) equal ``Client.detect`` on
    the decoded frame, sent the same way."""
    with Client(_url(served, protocol), mode=mode, conf_threshold=0.001) as client:
        seen: list[FrameResult] = []
        detect_video(client, clip, batch_size=1, in_flight=3, frame_format=frame_format, on_frame=seen.append)
        encode = _frame_encoder(mode, _Settings(1, 1, 1, None, frame_format, 95))
        expected = [
            client.detect(PreparedImage(rgb=f, encoded=encode(f)) if frame_format == "jpeg" else f)
            for f in decoded_frames(clip)
        ]
    assert len(seen) == 20 and sum(len(d) for d in expected) > 0
    assert all(r.detections == e for r, e in zip(seen, expected, strict=True))


def test_batched_requests_match_single_ones(served: Any, clip: Path) -> None:
    with Client(_url(served, "grpc"), conf_threshold=0.001) as client:
        single: list[FrameResult] = []
        batched: list[FrameResult] = []
        detect_video(client, clip, batch_size=1, on_frame=single.append)
        detect_video(client, clip, batch_size=4, in_flight=2, on_frame=batched.append)
    for a, b in zip(single, batched, strict=True):
        assert a.index == b.index and a.detections.class_id.tolist() == b.detections.class_id.tolist()
        np.testing.assert_allclose(a.detections.xyxy, b.detections.xyxy, atol=0.05)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "yolo_tfserving.cli", "detect", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_detect_cli_on_videos(served: Any, clip: Path, http_stream: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    url = _url(served, "rest")
    proc = _cli(str(clip), "--url", url, "--conf", "0.001", "--out", str(out), "--save-images", "--format", "coco")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip.jsonl", "clip_coco.json", "clip_det.mp4"]
    assert len((out / "clip.jsonl").read_text().splitlines()) == 20
    assert len(decoded_frames(out / "clip_det.mp4")) == 20
    assert "20 frames" in proc.stderr

    proc = _cli(str(clip), "--grpc", f"127.0.0.1:{served.grpc_port}", "--vid-stride", "2", "--max-frames", "5")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["frame"] for line in proc.stdout.splitlines()] == [0, 2, 4, 6, 8]

    proc = _cli(f"{http_stream}/cut.ts", "--url", url, "--out", str(out))
    assert proc.returncode == 1 and proc.stderr.count("error:") == 1 and "broke after" in proc.stderr
    (jsonl,) = out.glob("stream_127.0.0.1_*_cut.ts.jsonl")  # the URL made a file name
    assert 0 < len(jsonl.read_text().splitlines()) < 60

    mixed = tmp_path / "mixed"  # a folder of videos and pictures: each goes its own way
    mixed.mkdir()
    (mixed / "clip.mp4").write_bytes(clip.read_bytes())
    Image.fromarray(decoded_frames(clip)[0]).save(mixed / "still.png")
    proc = _cli(str(mixed), "--url", url, "--out", str(tmp_path / "mixed_out"), "--max-frames", "3")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "mixed_out").iterdir()) == ["clip.jsonl", "detections.json"]
    assert len((tmp_path / "mixed_out" / "clip.jsonl").read_text().splitlines()) == 3

    proc = _cli(str(clip), "--url", url, "--frame-format", "gif")
    assert proc.returncode == 2 and proc.stderr.count("error:") == 1 and "frame_format" in proc.stderr

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"garbage" * 50)
    proc = _cli(str(broken), "--url", url)
    assert proc.returncode == 1 and proc.stderr.count("error:") == 1 and "broken.mp4" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_detect_cli_interrupt_exits_130(
    served: Any, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C inside the run (the pipeline itself is held to its outputs above): one line and exit 130."""
    from typer.testing import CliRunner

    from yolo_tfserving.cli.main import app
    from yolo_tfserving.video import runner

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "detect_video", interrupted)
    result = CliRunner().invoke(app, ["detect", str(clip), "--url", _url(served, "rest"), "--out", str(tmp_path)])
    assert result.exit_code == 130
    assert "interrupted" in result.output and "Traceback" not in result.output


# -- supervision interop ------------------------------------------------------------------------
def test_supervision_round_trip_tracker_and_annotator() -> None:
    sv = pytest.importorskip("supervision")
    dets = Detections.from_arrays(
        [[2, 3, 20, 30], [30, 5, 60, 40]], [0.9, 0.6], [2, 0], names=["cat", "dog", "bird"], image_size_hw=(48, 64)
    )
    converted = dets.to_supervision()
    assert isinstance(converted, sv.Detections) and len(converted) == 2
    np.testing.assert_array_equal(converted.xyxy, dets.xyxy)
    assert converted.class_id.tolist() == [2, 0] and converted.data["class_name"].tolist() == ["bird", "cat"]
    assert Detections.from_supervision(converted, image_size_hw=(48, 64)) == dets

    confident = converted[converted.confidence > 0.7]  # supervision's own filtering, then back
    assert Detections.from_supervision(confident, image_size_hw=(48, 64)) == dets[dets.confidence > 0.7]
    tracked = dets.to_supervision()
    tracked.tracker_id = np.array([7, 8])  # what a tracker (the `trackers` package) adds; not carried back
    smoothed = sv.DetectionsSmoother(length=3).update_with_detections(tracked)
    assert Detections.from_supervision(smoothed).class_name.tolist() == ["bird", "cat"]
    picture = sv.BoxAnnotator().annotate(np.zeros((48, 64, 3), np.uint8), converted)
    assert picture.any()
    labelled = sv.LabelAnnotator().annotate(np.zeros((48, 64, 3), np.uint8), converted)
    assert labelled.any()

    bare = sv.Detections(xyxy=np.array([[0.0, 0.0, 4.0, 4.0]]), class_id=np.array([1]))
    named = Detections.from_supervision(bare, names=["cat", "dog"])
    assert named.confidence.tolist() == [1.0] and named.class_name.tolist() == ["dog"]
    with pytest.raises(InputError, match="no class_id"):
        Detections.from_supervision(sv.Detections(xyxy=np.array([[0.0, 0.0, 4.0, 4.0]])))
    assert len(Detections.from_supervision(sv.Detections.empty())) == 0


# -- the extras -------------------------------------------------------------------------------
def test_video_package_imports_light_and_names_its_extras(monkeypatch: pytest.MonkeyPatch, clip: Path) -> None:
    code = "import sys, yolo_tfserving.video; sys.exit(1 if 'av' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0  # PyAV only on first open
    monkeypatch.setitem(sys.modules, "av", None)  # as if the video extra were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'yolo-tfserving\[video\]'"):
        VideoSource(str(clip))
    monkeypatch.setitem(sys.modules, "supervision", None)
    with pytest.raises(MissingDependencyError, match=r"yolo-tfserving\[supervision\]"):
        Detections.empty().to_supervision()


def test_sigint_mid_video_leaves_playable_outputs(served: Any, tmp_path: Path) -> None:
    """A real Ctrl-C (SIGINT to the CLI) once some frames are written: exit 130, one line, the JSONL
    whole up to the last frame, the annotated MP4 finalised with exactly those frames."""
    import signal

    src = tmp_path / "long.mp4"
    make_video(src, frames=400)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "yolo_tfserving.cli", "detect", str(src), "--url", _url(served, "rest")]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out), "--save-images", "--in-flight", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    jsonl = out / "long.jsonl"
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:  # wait on a condition, not a duration
            if jsonl.is_file() and len(jsonl.read_text().splitlines()) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    frames = [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()]
    assert 3 <= len(frames) < 400 and frames == list(range(len(frames)))
    assert len(decoded_frames(out / "long_det.mp4")) == len(frames)


def test_progress_bar_runs_with_and_without_a_length() -> None:
    from yolo_tfserving.video.progress import frame_progress

    for total in (None, 3):
        with frame_progress("clip", total=total, enabled=True) as advance:
            for _ in range(3):
                advance()


def test_encoder_fallback_is_mpeg4_and_playable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from yolo_tfserving.video.writers import AnnotatedVideoWriter

    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - {"libx264", "libopenh264"})
    assert pick_encoder() == "mpeg4"
    writer = AnnotatedVideoWriter(tmp_path / "m4.mp4", size_hw=(48, 64), fps=Fraction(30))
    for i in range(6):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.close()
    writer.close()  # idempotent
    with av.open(str(tmp_path / "m4.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "mpeg4" and stream.average_rate == 30
        assert sum(1 for _ in container.decode(stream)) == 6


def test_interrupt_before_the_first_frame_leaves_no_video(clip: Path, tmp_path: Path) -> None:
    def interrupt(_video: VideoSource) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        detect_video(FakeDetector(), clip, outputs=VideoOutputs(video=tmp_path / "v.mp4"), on_open=interrupt)
    assert not (tmp_path / "v.mp4").exists()


@pytest.mark.slow
@pytest.mark.shared
def test_real_model_on_a_coco_clip(real_export: tuple[Path, Any], tmp_path: Path) -> None:
    """The real yolov5n on a clip panning over a coco128 picture: real detections, and each frame's
    equal to ``Client.detect`` on the decoded frame (gRPC, server mode, JPEG as the pipeline sends)."""
    from helpers import coco128_images

    picture = np.asarray(Image.open(coco128_images(1)[0]).convert("RGB").resize((800, 560)))
    clip = tmp_path / "coco.mp4"
    container = av.open(str(clip), mode="w")
    stream = container.add_stream(pick_encoder(), rate=30)
    stream.height, stream.width = 480, 640
    stream.pix_fmt = "yuv420p"
    for i in range(12):
        frame = np.ascontiguousarray(picture[i * 6 : i * 6 + 480, i * 12 : i * 12 + 640])
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    with running_server(model_name="yolov5", model_base_path=str(real_export[0] / "yolov5")) as server:
        with Client(_url(server, "grpc")) as client:
            seen: list[FrameResult] = []
            detect_video(client, clip, in_flight=4, on_frame=seen.append)
            encode = _frame_encoder("server", _Settings(1, 1, 1, None, "jpeg", 95))
            expected = [client.detect(PreparedImage(rgb=f, encoded=encode(f))) for f in decoded_frames(clip)]
    assert len(seen) == 12 and all(len(e) > 0 for e in expected)
    assert all(r.detections == e for r, e in zip(seen, expected, strict=True))
