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

The pieces: ``_plan`` (options, images), ``_bodies`` (the json-floats bodies), ``_workers`` (the
closed loop, on the public :class:`~yolo_tfserving.client.Client` API), ``_report`` (records,
summary, CSV, plot).
"""

from __future__ import annotations

from collections.abc import Callable

from ._plan import BenchConfig, plan_images
from ._report import BenchProgress, BenchResult
from ._workers import close_all, make_senders, open_clients, run_workers


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
    clients = open_clients(config)  # no connection yet; the client checks the URL and names its protocol
    try:
        protocol = clients[0].protocol
        config.check_protocol(protocol)
        images, notes = plan_images(config)
        senders = make_senders(config, clients, images)
    except BaseException:
        close_all(clients)
        raise
    records, interrupted = run_workers(config, senders, len(images), progress, progress_interval_s)
    return BenchResult(
        config=config,
        protocol=protocol,
        records=records,
        wall_s=max((r.end_s for r in records), default=0.0),
        images=len(images),
        interrupted=interrupted,
        notes=notes,
    )
