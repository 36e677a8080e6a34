"""The closed loop: one :class:`~yolo_tfserving.client.Client` per worker thread, requests back to back.

Each worker takes the next request index from a shared counter; request ``i`` uses image
``i % len(images)``. The clock starts when every worker has finished its warm-up; the run stops
after ``requests`` requests or ``duration_s`` seconds (requests in flight finish and are counted).
Every request is recorded, failed ones included: a failure is a result, never a crash of the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from .._errors import ServerUnavailableError
from ..client import Client
from ._bodies import JsonFloatsBodies, json_predictions
from ._plan import BenchConfig
from ._report import BenchProgress, RequestRecord


# -- request kinds -----------------------------------------------------------------------------
class _Sender:
    """One worker's connection. ``prepare`` is untimed (its failures are recorded); ``send`` is timed."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def prepare(self, image: int) -> None:
        pass

    def send(self, image: int) -> tuple[int, int]:
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()


class _ClientSender(_Sender):
    """``server`` / ``client`` mode: ``Client.detect`` on the encoded image."""

    def __init__(self, client: Client, images: list[bytes]) -> None:
        super().__init__(client)
        self.images = images

    def prepare(self, image: int) -> None:  # noqa: ARG002 - _Sender's signature; this one prepares per client
        if self.client.mode == "client":
            self.client.model_facts()  # the model's size and class names, read once per client

    def send(self, image: int) -> tuple[int, int]:
        self.client.detect(self.images[image])
        return self.client.last_exchange_bytes  # a detect's last server call is its predict


class _JsonFloatsSender(_Sender):
    """``json-floats``: the pre-built JSON body posted as is, then the raw predictions through our NMS."""

    def __init__(self, client: Client, bodies: JsonFloatsBodies) -> None:
        from ..ops import NMSConfig

        super().__init__(client)
        self.bodies = bodies
        self.nms = NMSConfig()  # the Client's defaults: the same work as the other modes

    def prepare(self, image: int) -> None:
        self.bodies.get(image, self.client)

    def send(self, image: int) -> tuple[int, int]:
        from ..ops import detections_from_predictions

        item = self.bodies.get(image, self.client)
        response = self.client.predict_json(body=item.body)
        for pred in json_predictions(response):
            detections_from_predictions(pred, item.plan, self.nms)
        return len(item.body), len(response)


def open_clients(config: BenchConfig) -> list[Client]:
    """One client per worker (json-floats: a server-mode REST client, used for metadata and the raw POST)."""
    mode = "server" if config.mode == "json-floats" else config.mode
    clients: list[Client] = []
    try:
        for _ in range(config.concurrency):
            clients.append(Client(config.url, model=config.model, mode=mode, timeout_s=config.timeout_s))
    except BaseException:
        close_all(clients)
        raise
    return clients


def close_all(clients: list[Client]) -> None:
    for c in clients:
        c.close()


def make_senders(config: BenchConfig, clients: list[Client], images: list[bytes]) -> list[_Sender]:
    """Each client wrapped for its request kind; a sender closes its client when its worker ends."""
    if config.mode == "json-floats":
        bodies = JsonFloatsBodies(images, config.model)
        return [_JsonFloatsSender(c, bodies) for c in clients]
    return [_ClientSender(c, images) for c in clients]


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


def run_workers(
    config: BenchConfig,
    senders: list[_Sender],
    n_images: int,
    progress: Callable[[BenchProgress], None] | None,
    interval: float,
) -> tuple[list[RequestRecord], bool]:
    """Run one thread per sender until the run stops: ``(records sorted by start, interrupted)``.

    Ctrl-C stops the workers after their current request; what was measured is kept.
    """
    run = _Run(config, n_images)
    threads = [
        threading.Thread(target=_worker, args=(i, s, run), name=f"bench-{i}", daemon=True)
        for i, s in enumerate(senders)
    ]
    for t in threads:
        t.start()
    interrupted = False
    try:
        _wait(threads, run, progress, interval)
    except KeyboardInterrupt:
        interrupted = True
        run.stop.set()
        run.barrier.abort()
        _wait(threads, run, None, interval)
    if progress is not None and not interrupted:
        progress(run.snapshot())
    return sorted(run.records, key=lambda r: r.start_s), interrupted


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
