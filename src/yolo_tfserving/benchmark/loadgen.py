"""A closed-loop load generator for a TF Serving endpoint: N workers, each with its own client.

Three request kinds (``mode``), all end to end, image bytes in and detections out:

- ``server``: :class:`~yolo_tfserving.client.Client` in server mode (encoded image to ``detect``;
  letterbox and NMS run in the model's graph);
- ``client``: :class:`~yolo_tfserving.client.Client` in client mode (letterbox here, the ``raw`` /
  ``raw_bytes`` signature over the wire, numpy NMS here);
- ``json-floats``: the original write-up's request, REST only: the letterboxed image as a
  ``1x3xHxW`` float32 array written as JSON nested lists, ``{"signature_name": "predict_nchw",
  "inputs": {"input": [...]}}``, then the raw predictions parsed from the JSON ``outputs`` and our
  numpy NMS run on them (so its latency covers the same work as the other modes). The JSON body is
  built once per image before it is first sent, outside the timed part: the numbers flatter this
  mode (a real client of that contract pays the encoding on every request).

Each worker sends requests back to back (closed loop), taking the next request index from a shared
counter; request ``i`` uses image ``i % len(images)`` (round robin). The run stops by itself after
``requests`` requests in total or after ``duration_s`` seconds (requests in flight at the deadline
finish and are counted), whichever comes first. Every request is recorded, failed ones included.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ImageError, InputError, MissingDependencyError, ServerUnavailableError

MODES = ("server", "client", "json-floats")
NCHW_SIGNATURE = "predict_nchw"
JSON_FLOATS_DEFAULT_MAX_IMAGES = 8  # each 640x640 body is ~20 MB of JSON, held in memory for the run
CSV_COLUMNS = ("start_s", "latency_ms", "request_bytes", "response_bytes", "ok", "error")

ImageSource = str | Path | bytes


@dataclass(frozen=True)
class BenchConfig:
    """What to run. ``url``: ``http://host:8501`` (REST) or ``grpc://host:8500`` (gRPC).

    ``requests`` and/or ``duration_s`` bound the run (at least one; with both, the first reached
    stops it). ``images``: paths or encoded bytes; empty means the built-in synthetic 640x480 JPEG.
    ``warmup``: unmeasured requests per worker before the clock starts. ``max_images``: use at most
    this many images (json-floats defaults to 8, see ``JSON_FLOATS_DEFAULT_MAX_IMAGES``).
    """

    url: str = "http://localhost:8501"
    model: str = "yolov5"
    mode: str = "server"
    concurrency: int = 1
    requests: int | None = None
    duration_s: float | None = None
    images: Sequence[ImageSource] = ()
    warmup: int = 1
    timeout_s: float = 30.0
    max_images: int | None = None

    def validate(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.concurrency < 1:
            raise InputError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.requests is None and self.duration_s is None:
            raise InputError("say how long to run: pass --requests M (total requests) or --duration S (seconds)")
        if self.requests is not None and self.requests < 1:
            raise InputError(f"--requests must be at least 1, got {self.requests}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise InputError(f"--duration must be positive, got {self.duration_s}")
        if self.warmup < 0:
            raise InputError(f"--warmup must be 0 or more, got {self.warmup}")
        if not self.timeout_s > 0:
            raise InputError(f"--timeout must be positive, got {self.timeout_s}")
        if self.max_images is not None and self.max_images < 1:
            raise InputError(f"--max-images must be at least 1, got {self.max_images}")
        if not self.model:
            raise InputError("--model must not be empty")


@dataclass(frozen=True)
class RequestRecord:
    """One measured request. ``start_s`` counts from the start of the measured run."""

    start_s: float
    latency_ms: float
    request_bytes: int
    response_bytes: int
    ok: bool
    error: str = ""
    error_type: str = ""
    timeout: bool = False
    worker: int = 0
    image: int = 0

    @property
    def end_s(self) -> float:
        return self.start_s + self.latency_ms / 1000.0


@dataclass(frozen=True)
class BenchProgress:
    """A running snapshot, handed to ``progress`` about four times a second and once at the end."""

    warming_up: bool
    done: int
    ok: int
    errors: int
    elapsed_s: float
    fraction: float
    p50_ms: float | None
    requests_per_s: float


@dataclass
class BenchResult:
    config: BenchConfig
    protocol: str
    records: list[RequestRecord]
    wall_s: float
    images: int
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok_records(self) -> list[RequestRecord]:
        return [r for r in self.records if r.ok]

    @property
    def errors(self) -> int:
        return sum(not r.ok for r in self.records)

    @property
    def all_failed(self) -> bool:
        return bool(self.records) and self.errors == len(self.records)

    def top_errors(self, n: int = 5) -> list[tuple[str, int]]:
        return Counter(r.error for r in self.records if not r.ok).most_common(n)

    def summary(self) -> dict[str, Any]:
        """Counts, latency percentiles of successful requests (ms), throughput, mean payload sizes."""
        ok = self.ok_records
        lat = np.asarray([r.latency_ms for r in ok], dtype=np.float64)
        total = len(self.records)
        latency: dict[str, float | None]
        if lat.size:
            p50, p90, p99 = (float(v) for v in np.percentile(lat, [50, 90, 99]))
            latency = {
                "p50": p50,
                "p90": p90,
                "p99": p99,
                "mean": float(lat.mean()),
                "min": float(lat.min()),
                "max": float(lat.max()),
            }
        else:
            latency = dict.fromkeys(("p50", "p90", "p99", "mean", "min", "max"))
        wall = self.wall_s
        return {
            "mode": self.config.mode,
            "protocol": self.protocol,
            "url": self.config.url,
            "model": self.config.model,
            "concurrency": self.config.concurrency,
            "images": self.images,
            "warmup_per_worker": self.config.warmup,
            "requests": total,
            "ok": len(ok),
            "errors": total - len(ok),
            "timeouts": sum(r.timeout for r in self.records),
            "error_rate": (total - len(ok)) / total if total else 0.0,
            "wall_s": wall,
            "throughput_ips": len(ok) / wall if wall > 0 else 0.0,
            "requests_per_s": total / wall if wall > 0 else 0.0,
            "latency_ms": latency,
            "request_bytes_mean": float(np.mean([r.request_bytes for r in ok])) if ok else None,
            "response_bytes_mean": float(np.mean([r.response_bytes for r in ok])) if ok else None,
            "top_errors": [{"message": m, "count": c} for m, c in self.top_errors()],
            "interrupted": self.interrupted,
            "notes": list(self.notes),
        }

    def write_csv(self, path: str | Path) -> Path:
        """One row per request: start_s, latency_ms, request_bytes, response_bytes, ok (0/1), error."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for r in self.records:
                writer.writerow(
                    [f"{r.start_s:.6f}", f"{r.latency_ms:.3f}", r.request_bytes, r.response_bytes, int(r.ok), r.error]
                )
        return path

    def plot(self, path: str | Path) -> Path:
        """One PNG (Agg, no display needed): latency histogram and completions per 1 s bin."""
        return plot_result(self, Path(path))


# -- images ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def synthetic_jpeg() -> bytes:
    """A deterministic 640x480 JPEG with a few shapes (the default when no images are given)."""
    from PIL import Image, ImageDraw

    y, x = np.mgrid[0:480, 0:640]
    rgb = np.stack([(x * 255 // 639), (y * 255 // 479), ((x + y) * 255 // 1118)], axis=-1).astype(np.uint8)
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    draw.rectangle((80, 120, 260, 400), fill=(200, 40, 40), outline=(0, 0, 0), width=4)
    draw.ellipse((330, 90, 560, 300), fill=(40, 160, 60), outline=(255, 255, 255), width=4)
    draw.rectangle((360, 330, 600, 450), fill=(30, 60, 200))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def load_images(sources: Sequence[ImageSource]) -> list[bytes]:
    """Encoded bytes of each image (checked to decode), or the synthetic JPEG when none are given."""
    from ..client.images import prepare

    if not sources:
        return [synthetic_jpeg()]
    out = []
    for src in sources:
        if isinstance(src, (bytes, bytearray)):
            data = bytes(src)
        else:
            try:
                data = Path(src).read_bytes()
            except OSError as exc:
                raise ImageError(f"cannot read image {src}: {exc.strerror or exc}") from exc
        prepare(data)  # fail before the run, not on every request
        out.append(data)
    return out


# -- request kinds -----------------------------------------------------------------------------
class _Sender:
    """One worker's connection. ``prepare`` is untimed (its failures are recorded); ``send`` is timed."""

    def prepare(self, image: int) -> None:
        pass

    def send(self, image: int) -> tuple[int, int]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _ClientSender(_Sender):
    def __init__(self, config: BenchConfig, images: list[bytes]) -> None:
        from ..client.client import Client

        self.client = Client(config.url, model=config.model, mode=config.mode, timeout_s=config.timeout_s)
        self.images = images

    def prepare(self, image: int) -> None:
        if self.client.mode == "client":
            self.client.model_facts()  # the model's size and class names, read once per client

    def send(self, image: int) -> tuple[int, int]:
        transport = self.client.transport
        transport.last_request_bytes = transport.last_response_bytes = 0
        self.client.detect(self.images[image])
        return transport.last_request_bytes, transport.last_response_bytes

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class _JsonBody:
    body: bytes
    plan: Any  # ops.Letterbox


class _JsonFloatsBodies:
    """The JSON bodies, built once per image and shared by the workers (the model size read once)."""

    def __init__(self, images: list[bytes]) -> None:
        self.images = images
        self.size_hw: tuple[int, int] | None = None
        self.bodies: dict[int, _JsonBody] = {}
        self.lock = threading.Lock()

    def get(self, image: int, client: Any) -> _JsonBody:
        ready = self.bodies.get(image)
        if ready is not None:
            return ready
        with self.lock:
            if self.size_hw is None:
                self.size_hw = nchw_input_size(client.metadata(), client._core.target.name)
            if image not in self.bodies:
                self.bodies[image] = json_floats_body(self.images[image], self.size_hw)
            return self.bodies[image]


def nchw_input_size(metadata: dict[str, Any], model: str) -> tuple[int, int]:
    """``(H, W)`` of the ``predict_nchw`` signature's ``input`` [N, 3, H, W] from model metadata."""
    sigs = metadata.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
    sig = sigs.get(NCHW_SIGNATURE)
    if sig is None:
        raise InputError(
            f"model {model!r} has no {NCHW_SIGNATURE!r} signature (it has {sorted(sigs)}); "
            "export with --nchw-signature add for --mode json-floats"
        )
    dims = sig["inputs"]["input"]["tensor_shape"]["dim"]
    return int(dims[2]["size"]), int(dims[3]["size"])


def json_floats_body(image: bytes, size_hw: tuple[int, int]) -> _JsonBody:
    """The original write-up's request: letterboxed float32 NCHW in [0, 1] as JSON nested lists."""
    from ..client.images import prepare
    from ..ops import letterbox

    canvas, plan = letterbox(prepare(image).rgb, size_hw)
    x = (canvas.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1)[None]
    body = json.dumps({"signature_name": NCHW_SIGNATURE, "inputs": {"input": x.tolist()}}).encode()
    return _JsonBody(body=body, plan=plan)


class _JsonFloatsSender(_Sender):
    def __init__(self, config: BenchConfig, bodies: _JsonFloatsBodies) -> None:
        from ..client.client import Client
        from ..ops import NMSConfig

        self.client = Client(config.url, model=config.model, mode="server", timeout_s=config.timeout_s)
        self.bodies = bodies
        self.nms = NMSConfig()  # the Client's defaults: the same work as the other modes

    def prepare(self, image: int) -> None:
        self.bodies.get(image, self.client)

    def send(self, image: int) -> tuple[int, int]:
        from ..client._transport import RestTransport, decode_rest_outputs
        from ..ops import non_max_suppression, unletterbox_xyxy

        item = self.bodies.get(image, self.client)
        transport = self.client.transport
        assert isinstance(transport, RestTransport)
        response = transport.predict_raw_json(self.client._core.target, item.body)
        predictions = np.asarray(decode_rest_outputs(response, "output")["output"], dtype=np.float32)
        for pred in predictions:
            xyxy, _scores, _classes = non_max_suppression(pred, self.nms)
            unletterbox_xyxy(xyxy, item.plan)
        return len(item.body), len(response)

    def close(self) -> None:
        self.client.close()


# -- the run -----------------------------------------------------------------------------------
class _Run:
    """Shared state of one run: the request counter, the clock, the records."""

    def __init__(self, config: BenchConfig, n_images: int) -> None:
        self.config = config
        self.n_images = n_images
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.issued = 0
        self.t0: float | None = None
        self.records: list[RequestRecord] = []
        self.ok_latencies: list[float] = []
        self.barrier = threading.Barrier(config.concurrency, action=self._start_clock)

    def _start_clock(self) -> None:
        self.t0 = time.perf_counter()

    def next_request(self) -> int | None:
        if self.stop.is_set():
            return None
        assert self.t0 is not None
        if self.config.duration_s is not None and time.perf_counter() - self.t0 >= self.config.duration_s:
            return None
        with self.lock:
            if self.config.requests is not None and self.issued >= self.config.requests:
                return None
            index = self.issued
            self.issued += 1
            return index

    def add(self, record: RequestRecord) -> None:
        with self.lock:
            self.records.append(record)
            if record.ok:
                self.ok_latencies.append(record.latency_ms)

    def snapshot(self) -> BenchProgress:
        with self.lock:
            done = len(self.records)
            latencies = list(self.ok_latencies)
        ok = len(latencies)
        p50 = float(np.median(latencies)) if ok else None
        if self.t0 is None:
            return BenchProgress(True, 0, 0, 0, 0.0, 0.0, None, 0.0)
        elapsed = time.perf_counter() - self.t0
        fractions = [0.0]
        if self.config.requests is not None:
            fractions.append(done / self.config.requests)
        if self.config.duration_s is not None:
            fractions.append(elapsed / self.config.duration_s)
        return BenchProgress(
            False, done, ok, done - ok, elapsed, min(1.0, max(fractions)), p50, done / elapsed if elapsed > 0 else 0.0
        )


def _is_timeout(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, TimeoutError) or (
        isinstance(exc, ServerUnavailableError) and ("timed out" in text or "DEADLINE_EXCEEDED" in text)
    )


def _worker(wid: int, sender: _Sender, run: _Run) -> None:
    n = run.n_images
    try:
        for k in range(run.config.warmup):
            if run.stop.is_set():
                break
            try:
                sender.prepare((wid + k) % n)
                sender.send((wid + k) % n)
            except Exception:  # a failing server: the measured requests will record why
                break
        run.barrier.wait()
        assert run.t0 is not None
        while (index := run.next_request()) is not None:
            image = index % n
            began = time.perf_counter()
            try:
                sender.prepare(image)
                began = time.perf_counter()
                sent, received = sender.send(image)
            except Exception as exc:  # every failure is a result here, never a crash of the run
                end = time.perf_counter()
                run.add(
                    RequestRecord(
                        began - run.t0,
                        (end - began) * 1000.0,
                        0,
                        0,
                        False,
                        str(exc) or type(exc).__name__,
                        type(exc).__name__,
                        _is_timeout(exc),
                        wid,
                        image,
                    )
                )
                continue
            end = time.perf_counter()
            run.add(
                RequestRecord(began - run.t0, (end - began) * 1000.0, sent, received, True, worker=wid, image=image)
            )
    except threading.BrokenBarrierError:
        pass
    finally:
        sender.close()


def run_benchmark(
    config: BenchConfig, *, progress: Callable[[BenchProgress], None] | None = None, progress_interval_s: float = 0.25
) -> BenchResult:
    """Run the load described by ``config``; returns every request's record.

    Bad configuration raises :class:`InputError` before any request; failing requests
    (server down, timeouts, error statuses) never raise: they are records with ``ok=False``.
    ``progress`` is called on the calling thread while the run goes. Ctrl-C stops the workers
    after their current request and returns what was measured, with ``interrupted=True``.
    """
    config.validate()
    from ..client.client import _split_url

    protocol, _ = _split_url(config.url, None)
    if config.mode == "json-floats" and protocol != "rest":
        raise InputError(
            f"--mode json-floats is REST only (the JSON request of the original write-up), but "
            f"{config.url} is gRPC; use --url http://HOST:8501, or --mode server/client over gRPC"
        )
    images = load_images(config.images)
    notes: list[str] = []
    limit = config.max_images
    if limit is None and config.mode == "json-floats" and len(images) > JSON_FLOATS_DEFAULT_MAX_IMAGES:
        limit = JSON_FLOATS_DEFAULT_MAX_IMAGES
        notes.append(
            f"json-floats: using the first {limit} of {len(images)} images (each JSON body is held in "
            "memory; pass --max-images to change)"
        )
    if limit is not None:
        images = images[:limit]
    if not config.images:
        notes.append("images: the built-in synthetic 640x480 JPEG (pass --images for real ones)")

    bodies = _JsonFloatsBodies(images) if config.mode == "json-floats" else None
    senders: list[_Sender] = []
    try:
        for _ in range(config.concurrency):
            senders.append(_JsonFloatsSender(config, bodies) if bodies is not None else _ClientSender(config, images))
    except BaseException:
        for s in senders:
            s.close()
        raise

    run = _Run(config, len(images))
    threads = [
        threading.Thread(target=_worker, args=(i, s, run), name=f"bench-{i}", daemon=True)
        for i, s in enumerate(senders)
    ]
    for t in threads:
        t.start()
    interrupted = False
    try:
        _wait(threads, run, progress, progress_interval_s)
    except KeyboardInterrupt:
        interrupted = True
        run.stop.set()
        run.barrier.abort()
        _wait(threads, run, None, progress_interval_s)
    if progress is not None and not interrupted:
        progress(run.snapshot())
    records = sorted(run.records, key=lambda r: r.start_s)
    wall = max((r.end_s for r in records), default=0.0)
    return BenchResult(
        config=config,
        protocol=protocol,
        records=records,
        wall_s=wall,
        images=len(images),
        interrupted=interrupted,
        notes=notes,
    )


def _wait(
    threads: list[threading.Thread], run: _Run, progress: Callable[[BenchProgress], None] | None, interval: float
) -> None:
    while True:
        alive = [t for t in threads if t.is_alive()]
        if not alive:
            return
        alive[0].join(interval)
        if progress is not None:
            progress(run.snapshot())


# -- plot --------------------------------------------------------------------------------------
def plot_result(result: BenchResult, path: Path) -> Path:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "bench") from exc
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    summary = result.summary()
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    hist, rate = fig.subplots(1, 2)
    ok = [r.latency_ms for r in result.records if r.ok]
    if ok:
        hist.hist(ok, bins=min(50, max(10, len(ok) // 5)), color="tab:blue")
        lat = summary["latency_ms"]
        for key, style in (("p50", "-"), ("p90", "--"), ("p99", ":")):
            hist.axvline(lat[key], color="black", linestyle=style, label=f"{key} {lat[key]:.1f} ms")
        hist.legend()
    else:
        hist.text(0.5, 0.5, "no successful requests", ha="center", va="center", transform=hist.transAxes)
    hist.set_xlabel("latency (ms)")
    hist.set_ylabel("requests")
    hist.set_title("Latency (successful requests)")

    n_bins = max(1, int(np.ceil(result.wall_s)))
    edges = np.arange(n_bins + 1, dtype=np.float64)
    ok_ends = [r.end_s for r in result.records if r.ok]
    err_ends = [r.end_s for r in result.records if not r.ok]
    ok_counts, _ = np.histogram(np.minimum(ok_ends, n_bins - 1e-9), bins=edges)
    err_counts, _ = np.histogram(np.minimum(err_ends, n_bins - 1e-9), bins=edges)
    widths = np.ones(n_bins)
    widths[-1] = min(1.0, max(0.05, result.wall_s - (n_bins - 1)))  # the last bin may be partial: drawn narrower
    rate.bar(edges[:-1], ok_counts, width=widths, align="edge", color="tab:green", label="ok")
    if err_ends:
        rate.bar(edges[:-1], err_counts, width=widths, align="edge", bottom=ok_counts, color="tab:red", label="errors")
    rate.set_xlabel("time since start (s)")
    rate.set_ylabel("requests completed per 1 s bin")
    rate.set_title("Throughput over time")
    rate.legend()
    fig.suptitle(
        f"{summary['mode']} over {summary['protocol']}, concurrency {summary['concurrency']}: "
        f"{summary['throughput_ips']:.1f} images/s, {summary['errors']} errors of {summary['requests']}"
    )
    fig.savefig(path, format="png", dpi=100)
    return path
