"""What one request may cost, checked before anything is allocated, and how many a model takes at once.

- :class:`RequestLimits`: the decoded-size budget of a request -- tensor elements and bytes, counted from
  the shapes a request *claims* (a 35-byte gRPC tensor may claim a million strings) and, for REST, from
  the JSON text before it is parsed -- and the largest batch. Past a limit: INVALID_ARGUMENT with a message
  that names the limit and the flag that raises it; never MemoryError, never INTERNAL.
- :class:`Admission`: per model, a bounded number of requests in flight plus a bounded queue; beyond it a
  request is refused at once with UNAVAILABLE (HTTP 503), as TF Serving answers a full batching queue, and a
  request whose deadline passes while it waits is not started (DEADLINE_EXCEEDED).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .status import Code, ServingStatusError, invalid_argument

#: the cost of one string element beside its bytes (pointer, tensor string header, copies)
STRING_ELEMENT_BYTES = 64
DEFAULT_MAX_BATCH = 64
#: a JSON list or object costs ~100 bytes and a slow step of the parse (a value ~30): lists are allowed one
#: per 32 values of the element budget (an NHWC 640x640 image in JSON floats has 410k lists; NCHW, 2k)
JSON_VALUES_PER_CONTAINER = 32
_ITEMSIZE = {1: 4, 2: 8, 3: 4, 4: 1, 5: 2, 6: 1, 8: 8, 9: 8, 10: 1, 14: 2, 17: 2, 18: 16, 19: 2, 22: 4, 23: 8}


def shown(value: object, limit: int = 200) -> str:
    """A client's value for an error message: at most ``limit`` characters (a 1 MB model name is not echoed)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


@dataclass(frozen=True)
class RequestLimits:
    max_elements: int = 1 << 24
    max_decoded_bytes: int = 512 << 20
    max_batch_size: int = DEFAULT_MAX_BATCH

    def check(self, elements: int, decoded_bytes: int) -> None:
        if elements > self.max_elements:
            raise invalid_argument(
                f"Request tensors hold {elements} elements, more than the limit of {self.max_elements} "
                "(serve --max_request_elements raises it)"
            )
        if decoded_bytes > self.max_decoded_bytes:
            raise invalid_argument(
                f"Request tensors decode to {decoded_bytes} bytes, more than the limit of {self.max_decoded_bytes} "
                "(serve --max_request_decoded_bytes raises it)"
            )

    def check_protos(self, protos: Mapping[str, Any]) -> None:
        """A request's TensorProtos, from the shapes they claim (before a single element is allocated)."""
        elements = decoded = 0
        for proto in protos.values():
            dims = [int(d.size) for d in proto.tensor_shape.dim]
            if any(d < 0 for d in dims):
                continue  # not a valid tensor: decoding says so
            if int(proto.dtype) == 7 and dims and dims[0] > self.max_batch_size:  # DT_STRING: see check_batch
                self._batch_error(dims[0])
            count = math.prod(dims)
            elements += count
            if int(proto.dtype) == 7:  # DT_STRING: each element holds a copy of (at most) the longest value
                longest = max((len(v) for v in proto.string_val), default=0)
                decoded += count * (STRING_ELEMENT_BYTES + longest)
            else:
                decoded += count * _ITEMSIZE.get(int(proto.dtype), 8)
            self.check(elements, decoded)
        self.check(elements, decoded)

    def check_json(self, text: str | bytes) -> None:
        """A JSON body, before it is parsed: every list and value becomes a Python object first."""
        if isinstance(text, bytes):
            values, containers = text.count(b",") + 1, text.count(b"[") + text.count(b"{")
        else:
            values, containers = text.count(",") + 1, text.count("[") + text.count("{")
        if values > self.max_elements:
            raise invalid_argument(
                f"Request JSON holds about {values} values, more than the limit of {self.max_elements} "
                "(serve --max_request_elements raises it)"
            )
        if containers > self.max_elements // JSON_VALUES_PER_CONTAINER:
            raise invalid_argument(
                f"Request JSON holds {containers} lists or objects, more than the limit of "
                f"{self.max_elements // JSON_VALUES_PER_CONTAINER} (serve --max_request_elements raises it)"
            )

    def check_arrays(self, inputs: Mapping[str, np.ndarray]) -> None:
        """Decoded inputs: the batch (dim 0) and the budget."""
        elements = sum(int(a.size) for a in inputs.values())
        decoded = sum(_array_bytes(a) for a in inputs.values())
        self.check(elements, decoded)
        self.check_batch(inputs)

    def check_batch(self, inputs: Mapping[str, np.ndarray]) -> None:
        """The batch of string inputs (encoded images, serialized examples): each small string may expand into
        a large tensor inside the graph, which the byte budget cannot see. Numeric inputs are bounded by it."""
        batch = max((int(a.shape[0]) for a in inputs.values() if a.ndim and a.dtype.kind in "OSU"), default=1)
        if batch > self.max_batch_size:
            self._batch_error(batch)

    def check_examples(self, count: int) -> None:
        """A classify/regress request's examples (a string batch), counted before they are converted."""
        if count > self.max_batch_size:
            self._batch_error(count)

    def _batch_error(self, batch: int) -> None:
        raise invalid_argument(
            f"Request batch of {batch} is larger than the limit of {self.max_batch_size} "
            "(serve --max_batch_size raises it, or send smaller batches)"
        )


def _array_bytes(array: np.ndarray) -> int:
    if array.dtype.kind == "O":
        return int(array.size) * STRING_ELEMENT_BYTES + sum(len(v) for v in array.ravel() if isinstance(v, bytes))
    return int(array.nbytes)


def default_in_flight() -> int:
    """--max_in_flight_requests_per_model's default: 2 x schedulable CPUs (a model's run uses every core)."""
    from .options import schedulable_cpus

    return 2 * schedulable_cpus()


class Admission:
    """Per model: ``max_in_flight`` requests run, ``max_queued`` wait; the rest are refused at once.

    One lock, one condition per model: a finished request wakes one waiter of its own model (not every
    waiter of every model, which then re-check and sleep again: a thundering herd at each release).
    """

    def __init__(self, *, max_in_flight: int, max_queued: int) -> None:
        self.max_in_flight = max(1, max_in_flight)
        self.max_queued = max(0, max_queued)
        self._lock = threading.Lock()
        self._conds: dict[str, threading.Condition] = {}
        self._running: dict[str, int] = {}
        self._waiting: dict[str, int] = {}

    def _cond(self, model: str) -> threading.Condition:
        cond = self._conds.get(model)
        if cond is None:
            cond = self._conds[model] = threading.Condition(self._lock)
        return cond

    @contextmanager
    def slot(self, model: str, deadline: float | None = None) -> Iterator[None]:
        with self._lock:
            if self._running.get(model, 0) >= self.max_in_flight:
                self._wait_for_slot(model, deadline)
            self._running[model] = self._running.get(model, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._running[model] -= 1
                if self._waiting.get(model, 0):
                    self._cond(model).notify()

    def _wait_for_slot(self, model: str, deadline: float | None) -> None:
        """Queue for a run slot (the lock held); UNAVAILABLE when the queue is full, DEADLINE_EXCEEDED past
        ``deadline``."""
        if self._waiting.get(model, 0) >= self.max_queued:
            raise ServingStatusError(
                Code.UNAVAILABLE,
                f"Model {shown(model)} is at capacity: {self.max_in_flight} requests running and "
                f"{self.max_queued} waiting; retry later (serve --max_in_flight_requests_per_model, "
                "--max_queued_requests_per_model)",
            )
        cond = self._cond(model)
        self._waiting[model] = self._waiting.get(model, 0) + 1
        try:
            while self._running.get(model, 0) >= self.max_in_flight:
                timeout = None if deadline is None else deadline - time.monotonic()
                if timeout is not None and timeout <= 0:  # no slot is free: no wake-up is lost
                    raise ServingStatusError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded (waited for the model)")
                cond.wait(timeout)
        finally:
            self._waiting[model] -= 1

    def load(self, model: str) -> tuple[int, int]:
        """(running, waiting) for a model, for tests and metrics."""
        with self._lock:
            return self._running.get(model, 0), self._waiting.get(model, 0)
