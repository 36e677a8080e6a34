"""What a run measured: one record per request, progress snapshots, the result (summary, CSV, plot)."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import MissingDependencyError
from ._plan import BenchConfig

CSV_COLUMNS = ("start_s", "latency_ms", "request_bytes", "response_bytes", "ok", "error")


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
