"""The test harness itself: what lets the suite run on every core (pytest-xdist) without workers colliding."""

from __future__ import annotations

import socket

import pytest

from helpers import free_port


@pytest.mark.parametrize("worker", ["gw0", "gw1", "gw2"])
def test_each_worker_gets_ports_of_its_own_share(monkeypatch: pytest.MonkeyPatch, worker: str) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    index = int(worker.removeprefix("gw"))
    ports = [free_port() for _ in range(20)]  # returns at all: Linux's bind(0) gives odd ports only
    assert all((p // 2) % 3 == index for p in ports)
    with socket.socket() as s:  # and the port is free
        s.bind(("127.0.0.1", ports[-1]))


def test_without_xdist_any_free_port_will_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert 0 < free_port() < 65536
