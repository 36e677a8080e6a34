"""The serving half of ``make demo``: start the embedded server, detect over REST and gRPC, stop.

Runs the same commands a user would (``yolo-tfserving serve`` / ``detect``) as child processes.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from .._errors import ServerUnavailableError

CLI = [sys.executable, "-m", "yolo_tfserving.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    import httpx

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise ServerUnavailableError("the server exited during start-up (see its log above)")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ServerUnavailableError(f"the server did not answer {url} within {timeout_s:.0f} s")


def run(*, repo: Path, images: list[Path], out: Path, model: str = "yolov5") -> int:
    rest_port, grpc_port = _free_port(), _free_port()
    print(
        f"$ yolo-tfserving serve --model_name {model} --model_base_path {repo / model} "
        f"--rest_api_port {rest_port} --port {grpc_port}",
        file=sys.stderr,
        flush=True,
    )
    server = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--model_name",
            model,
            "--model_base_path",
            str(repo / model),
            "--rest_api_port",
            str(rest_port),
            "--port",
            str(grpc_port),
            "--host",
            "127.0.0.1",
            "--monitoring_config_file",
            str(repo / "monitoring.config"),
        ]
    )
    try:
        _wait_ready(f"http://127.0.0.1:{rest_port}/v1/models/{model}", server)
        targets = [str(p) for p in images] or [str(out)]
        annotated = out / "annotated"
        steps = [
            [
                "detect",
                *targets,
                "--url",
                f"http://127.0.0.1:{rest_port}",
                "--model",
                model,
                "--out",
                str(annotated),
                "--save-images",
                "--format",
                "json",
            ],
            [
                "detect",
                *targets[:2],
                "--grpc",
                f"127.0.0.1:{grpc_port}",
                "--model",
                model,
                "--mode",
                "client",
                "--format",
                "jsonl",
            ],
        ]
        for args in steps:
            print("$ yolo-tfserving " + " ".join(args), file=sys.stderr, flush=True)
            result = subprocess.run([*CLI, *args])
            if result.returncode != 0:
                return result.returncode
        print(f"annotated pictures and detections.json are in {annotated}", file=sys.stderr)
        return 0
    finally:
        server.terminate()
        server.wait(timeout=60)
        print("server stopped", file=sys.stderr)
