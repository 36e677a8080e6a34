"""The per-model admission gate (--max_in_flight_requests_per_model / --max_queued_requests_per_model):
bounded concurrency, one waiter woken per release of its own model, refusals in TF Serving's codes."""

from __future__ import annotations

import threading
import time

import pytest

from yolo_tfserving.serving.limits import Admission
from yolo_tfserving.serving.status import Code, ServingStatusError


def _until(condition: object, timeout_s: float = 10.0) -> None:
    """Wait (bounded) for a state another thread reaches; fail the test if it never comes."""
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("state not reached")
        time.sleep(0.005)


def _holder(admission: Admission, model: str, release: threading.Event) -> threading.Thread:
    def hold() -> None:
        with admission.slot(model):
            release.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


def test_no_more_than_max_in_flight_run_at_once_and_every_task_runs() -> None:
    admission = Admission(max_in_flight=2, max_queued=16)
    active, peak, done = [0], [0], [0]
    lock = threading.Lock()
    gate = threading.Barrier(8)

    def task() -> None:
        gate.wait(10)
        for _ in range(20):
            with admission.slot("m"):
                with lock:
                    active[0] += 1
                    peak[0] = max(peak[0], active[0])
                sum(range(2000))  # some work inside the slot
                with lock:
                    active[0] -= 1
                    done[0] += 1

    threads = [threading.Thread(target=task) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert done[0] == 160
    assert 1 <= peak[0] <= 2
    assert admission.load("m") == (0, 0)


def test_a_release_wakes_a_waiter_of_its_own_model() -> None:
    admission = Admission(max_in_flight=1, max_queued=4)
    release_a, release_b = threading.Event(), threading.Event()
    holder_a, holder_b = _holder(admission, "a", release_a), _holder(admission, "b", release_b)
    _until(lambda: admission.load("a") == (1, 0) and admission.load("b") == (1, 0))
    got = threading.Event()

    def wait_for_a() -> None:
        with admission.slot("a"):
            got.set()

    waiter = threading.Thread(target=wait_for_a, daemon=True)
    waiter.start()
    _until(lambda: admission.load("a") == (1, 1))
    release_b.set()  # another model's release: the waiter of "a" still has no slot
    holder_b.join(10)
    assert admission.load("a") == (1, 1) and not got.is_set()
    release_a.set()
    holder_a.join(10)
    waiter.join(10)
    assert got.is_set() and admission.load("a") == (0, 0)


def test_a_full_queue_is_refused_at_once_with_unavailable() -> None:
    admission = Admission(max_in_flight=1, max_queued=0)
    release = threading.Event()
    holder = _holder(admission, "m", release)
    _until(lambda: admission.load("m") == (1, 0))
    with pytest.raises(ServingStatusError) as info:
        with admission.slot("m"):
            pass
    assert info.value.code == Code.UNAVAILABLE and "at capacity" in info.value.message
    release.set()
    holder.join(10)
    with admission.slot("m"):  # free again
        assert admission.load("m") == (1, 0)


def test_a_waiter_past_its_deadline_gives_up_and_leaves_the_queue() -> None:
    admission = Admission(max_in_flight=1, max_queued=2)
    release = threading.Event()
    holder = _holder(admission, "m", release)
    _until(lambda: admission.load("m") == (1, 0))
    with pytest.raises(ServingStatusError) as info:
        with admission.slot("m", deadline=time.monotonic() + 0.05):
            pass
    assert info.value.code == Code.DEADLINE_EXCEEDED
    assert admission.load("m") == (1, 0)
    release.set()
    holder.join(10)
    assert admission.load("m") == (0, 0)
