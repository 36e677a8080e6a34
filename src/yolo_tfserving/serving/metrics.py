"""Prometheus metrics under TF Serving's names (``--monitoring_config_file``).

- ``:tensorflow:serving:request_count{model_name, status}``: requests by outcome
- ``:tensorflow:serving:request_latency{model_name, API, entrypoint}``: histogram, microseconds
- ``:tensorflow:serving:runtime_latency{model_name, API, runtime}``: model run time, microseconds
- ``:tensorflow:serving:model_count`` ... not exported by TF Serving; we add nothing it lacks.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

# TF Serving's request latency buckets: exponential, 10 us * 1.8^i (33 buckets).
BUCKETS_US = [10.0 * 1.8**i for i in range(33)]


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS_US)
        self.total = 0.0
        self.n = 0

    def observe(self, value_us: float) -> None:
        for i, bound in enumerate(BUCKETS_US):
            if value_us <= bound:
                self.counts[i] += 1
                break
        self.total += value_us
        self.n += 1


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in pairs)


class Metrics:
    """Thread-safe counters and histograms rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self._latency: dict[tuple[tuple[str, str], ...], _Histogram] = defaultdict(_Histogram)
        self._runtime: dict[tuple[tuple[str, str], ...], _Histogram] = defaultdict(_Histogram)

    def record_request(self, *, model: str, api: str, entrypoint: str, status: str, latency_us: float) -> None:
        with self._lock:
            self._requests[(("model_name", model), ("status", status))] += 1
            self._latency[(("model_name", model), ("API", api), ("entrypoint", entrypoint))].observe(latency_us)

    def record_runtime(self, *, model: str, api: str, latency_us: float) -> None:
        with self._lock:
            self._runtime[(("model_name", model), ("API", api), ("runtime", "TF"))].observe(latency_us)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            lines.append("# TYPE :tensorflow:serving:request_count counter")
            for key, value in sorted(self._requests.items()):
                lines.append(f":tensorflow:serving:request_count{{{_labels(key)}}} {value}")
            for name, series in (
                (":tensorflow:serving:request_latency", self._latency),
                (":tensorflow:serving:runtime_latency", self._runtime),
            ):
                lines.append(f"# TYPE {name} histogram")
                for key, hist in sorted(series.items()):
                    cumulative = 0
                    for bound, count in zip(BUCKETS_US, hist.counts, strict=True):
                        cumulative += count
                        lines.append(f'{name}_bucket{{{_labels(key)},le="{bound:g}"}} {cumulative}')
                    lines.append(f'{name}_bucket{{{_labels(key)},le="+Inf"}} {hist.n}')
                    lines.append(f"{name}_sum{{{_labels(key)}}} {hist.total:g}")
                    lines.append(f"{name}_count{{{_labels(key)}}} {hist.n}")
        return "\n".join(lines) + "\n"


def prometheus_path(monitoring_config: Path | None) -> str | None:
    """The metrics URL path if the monitoring config (text-format MonitoringConfig) enables Prometheus."""
    if monitoring_config is None:
        return None
    from .._wire import serving_config_pb2
    from .model_config import read_text_proto

    config = read_text_proto(monitoring_config, serving_config_pb2.MonitoringConfig)
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or "/monitoring/prometheus/metrics"
