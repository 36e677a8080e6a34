"""Shared helpers of the benchmark scripts (timing, machine description, inputs)."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REAL_WEIGHTS = SHARED / "models" / "yolov5n.pt"
COCO128_IMAGES = SHARED / "data" / "coco128" / "images"


def time_ms(fn: Callable[[], object], *, repeats: int = 30, warmup: int = 3) -> list[float]:
    """Wall-clock milliseconds of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


# CPU flags that decide bfloat16 / int8 speed on CPU (oneDNN's AVX-512 BF16, AMX, VNNI paths)
_MATH_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile", "amx_int8", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


def cpu_description() -> tuple[str, list[str]]:
    """The CPU's model name and which of :data:`_MATH_FLAGS` it reports (Linux ``/proc/cpuinfo``)."""
    cpu = platform.processor() or platform.machine()
    flags: list[str] = []
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return cpu, flags
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and cpu == (platform.processor() or platform.machine()):
            cpu = value.strip()
        elif key.strip() == "flags" and not flags:
            present = set(value.split())
            flags = [f for f in _MATH_FLAGS if f in present]
    return cpu, flags


def machine() -> str:
    """One line naming the machine: CPU model, its bf16/AMX/VNNI flags, cores, Python."""
    cpu, flags = cpu_description()
    shown = ", ".join(flags) if flags else "no AVX-512/AMX/VNNI flags"
    return f"{cpu} ({shown}), {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def sample_image() -> Path | None:
    candidate = COCO128_IMAGES / "000000000009.jpg"
    return candidate if candidate.is_file() else None


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``yolo-tfserving serve`` in a child process (so load generation does not share its GIL)."""

    def __init__(self, model_base_path: Path, *, name: str = "yolov5", extra: list[str] | None = None) -> None:
        import subprocess
        import sys

        self.rest_port, self.grpc_port = free_port(), free_port()
        cmd = [
            sys.executable,
            "-m",
            "yolo_tfserving.cli",
            "serve",
            "--model_name",
            name,
            "--model_base_path",
            str(model_base_path),
            "--rest_api_port",
            str(self.rest_port),
            "--port",
            str(self.grpc_port),
            "--host",
            "127.0.0.1",
            *(extra or []),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.name = name

    def __enter__(self) -> ServerProcess:
        import httpx

        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                if httpx.get(f"{self.rest_url}/v1/models/{self.name}", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the server did not become ready in 120 s")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except Exception:
            self.proc.kill()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"


def export_once(weights: Path, out: Path, *, imgsz: int = 640) -> Path:
    """Export ``weights`` into ``out`` (no parity run: benchmarks measure speed) and return the model dir."""
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    export_model(weights, out, options=ExportOptions(imgsz=imgsz, verify=False, force=True))
    return out / "yolov5"


def script_parser(doc: str | None, *, repeats: int) -> argparse.ArgumentParser:
    """The options every per-issue benchmark script takes: --weights, --image, --repeats, --json."""

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=REAL_WEIGHTS)
    parser.add_argument("--image", type=Path, default=sample_image())
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--json", action="store_true")
    return parser
