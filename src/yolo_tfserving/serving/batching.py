"""Server-side batching with TF Serving's parameters (``--batching_parameters_file``).

Requests to the same servable, signature and per-example shape are merged along dim 0
into batches of at most ``max_batch_size``; a batch runs when full or when
``batch_timeout_micros`` has passed since its first task; ``num_batch_threads`` workers run
batches; when ``max_enqueued_batches`` batches wait, a new task is refused with
UNAVAILABLE, as TF Serving's shared batch scheduler does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .status import Code, ServingStatusError, invalid_argument


@dataclass(frozen=True)
class BatchingParameters:
    max_batch_size: int = 8
    batch_timeout_micros: int = 0
    num_batch_threads: int = 2
    max_enqueued_batches: int = 100

    @classmethod
    def from_file(cls, path: Path) -> BatchingParameters:
        """``--batching_parameters_file``: a text-format BatchingParameters (unset fields keep our defaults)."""
        from .._wire import serving_config_pb2
        from .model_config import read_text_proto

        message = read_text_proto(path, serving_config_pb2.BatchingParameters)

        def value(key: str, default: int) -> int:
            return int(getattr(message, key).value) if message.HasField(key) else default  # type: ignore[arg-type]

        params = cls(
            max_batch_size=value("max_batch_size", cls.max_batch_size),
            batch_timeout_micros=value("batch_timeout_micros", cls.batch_timeout_micros),
            num_batch_threads=value("num_batch_threads", cls.num_batch_threads),
            max_enqueued_batches=value("max_enqueued_batches", cls.max_enqueued_batches),
        )
        if params.max_batch_size < 1 or params.num_batch_threads < 1 or params.max_enqueued_batches < 1:
            raise invalid_argument(
                f"{path}: max_batch_size, num_batch_threads and max_enqueued_batches must be positive"
            )
        return params


@dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    size: int
    future: Future[dict[str, np.ndarray]] = field(default_factory=Future)


@dataclass
class _Batch:
    key: Hashable
    run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    opened: float
    tasks: list[_Task] = field(default_factory=list)
    size: int = 0
    closed: bool = False


class BatchScheduler:
    """Merge concurrent tasks into batches and run them on worker threads."""

    def __init__(self, params: BatchingParameters) -> None:
        self.params = params
        self._cond = threading.Condition()
        self._open: dict[Hashable, _Batch] = {}
        self._queue: list[_Batch] = []  # closed batches, oldest first
        self._stopping = False
        self._workers = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True) for i in range(params.num_batch_threads)
        ]
        for worker in self._workers:
            worker.start()
        self.batches_run = 0
        self.tasks_run = 0

    def submit(
        self,
        key: Hashable,
        inputs: Mapping[str, np.ndarray],
        run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    ) -> dict[str, np.ndarray]:
        """Queue one task (each input batched along dim 0) and wait for its outputs."""
        sizes = {v.shape[0] if v.ndim else -1 for v in inputs.values()}
        if len(sizes) != 1 or -1 in sizes:
            return run(dict(inputs))  # not batchable: run alone
        size = sizes.pop()
        if size > self.params.max_batch_size:
            raise invalid_argument(
                f"Task size {size} is larger than maximum input batch size {self.params.max_batch_size}"
            )
        task = _Task(inputs=inputs, size=size)
        with self._cond:
            batch = self._open.get(key)
            if batch is not None and batch.size + size > self.params.max_batch_size:
                self._close(batch)
                batch = None
            if batch is None:
                if len(self._queue) + len(self._open) >= self.params.max_enqueued_batches:
                    raise ServingStatusError(
                        Code.UNAVAILABLE, "The batch scheduling queue to which this task was submitted is full"
                    )
                batch = _Batch(key=key, run=run, opened=time.monotonic())
                self._open[key] = batch
            batch.tasks.append(task)
            batch.size += size
            if batch.size >= self.params.max_batch_size or self.params.batch_timeout_micros == 0:
                self._close(batch)
            self._cond.notify_all()
        return task.future.result()

    def _close(self, batch: _Batch) -> None:
        if not batch.closed:
            batch.closed = True
            self._open.pop(batch.key, None)
            self._queue.append(batch)

    def _next_batch(self) -> _Batch | None:
        timeout_s = self.params.batch_timeout_micros / 1e6
        with self._cond:
            while True:
                if self._queue:
                    return self._queue.pop(0)
                now = time.monotonic()
                due = [b for b in self._open.values() if now - b.opened >= timeout_s]
                if due:
                    oldest = min(due, key=lambda b: b.opened)
                    self._close(oldest)
                    continue
                if self._stopping and not self._open:
                    return None
                wait = min((timeout_s - (now - b.opened) for b in self._open.values()), default=0.5)
                self._cond.wait(timeout=max(wait, 1e-4))

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._run(batch)

    def _run(self, batch: _Batch) -> None:
        tasks = batch.tasks
        try:
            if len(tasks) == 1:
                outputs = batch.run(dict(tasks[0].inputs))
                tasks[0].future.set_result(outputs)
            else:
                merged = {k: np.concatenate([t.inputs[k] for t in tasks], axis=0) for k in tasks[0].inputs}
                outputs = batch.run(merged)
                offset = 0
                for t in tasks:
                    part = {}
                    for name, value in outputs.items():
                        if value.ndim == 0 or value.shape[0] != batch.size:
                            raise ServingStatusError(
                                Code.INTERNAL,
                                f"batched output {name} has shape {value.shape}; expected dim 0 "
                                f"{batch.size} (the signature does not batch along dim 0)",
                            )
                        part[name] = value[offset : offset + t.size]
                    offset += t.size
                    t.future.set_result(part)
            self.batches_run += 1
            self.tasks_run += len(tasks)
        except BaseException as exc:  # hand the error to every waiting request
            for t in tasks:
                if not t.future.done():
                    t.future.set_exception(exc)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(timeout=30)


def shape_key(inputs: Mapping[str, np.ndarray]) -> tuple[Any, ...]:
    """Tasks merge only when every input agrees beyond dim 0 (and in dtype)."""
    return tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))
