"""The server under test in a child process (its log in a file), and its resident memory over time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TRACEBACK = b"Traceback (most recent call last)"
READY_TIMEOUT_S = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``python -m yolo_tfserving.cli serve`` on 127.0.0.1, stdout and stderr appended to ``log_path``."""

    def __init__(self, config_file: Path, log_path: Path, *, models: tuple[str, ...], extra: tuple[str, ...] = ()):
        self.config_file = config_file
        self.log_path = log_path
        self.models = models
        self.extra = extra
        self.rest_port = 0
        self.grpc_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.rest_port, self.grpc_port = free_port(), free_port()
        command = [
            sys.executable,
            "-m",
            "yolo_tfserving.cli",
            "serve",
            f"--port={self.grpc_port}",
            f"--rest_api_port={self.rest_port}",
            "--host=127.0.0.1",
            f"--model_config_file={self.config_file}",
            "--file_system_poll_wait_seconds=0",
            *self.extra,
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = list(self.models)
        while pending:
            if not self.alive:
                raise RuntimeError(f"the server exited during start-up (log: {self.log_path})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready in {READY_TIMEOUT_S:.0f} s (log: {self.log_path})")
            try:
                if httpx.get(f"{self.rest_url}/v1/models/{pending[0]}", timeout=5).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            time.sleep(0.3)  # polling for readiness, bounded by the deadline

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for a process that may be dying to exit (at once if it already has)."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> bytes:
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return f.read()


def rss_bytes(pid: int) -> int | None:
    import psutil

    try:
        rss = int(psutil.Process(pid).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return rss or None  # a zombie (exited, not yet reaped) reads as 0


@dataclass
class RssMonitor:
    """Samples a process's RSS on a thread (every ``interval_s``) to catch peaks between cases."""

    pid: int
    interval_s: float = 0.2
    peak: int = 0
    last: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> int:
        value = rss_bytes(self.pid)
        if value is not None:
            self.last = value
            self.peak = max(self.peak, value)
        return self.last

    def start(self) -> RssMonitor:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="rss-monitor", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
