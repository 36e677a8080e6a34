"""Load generation against a TF Serving endpoint (``yolo-tfserving bench``).

from yolo_tfserving.benchmark import BenchConfig, run_benchmark

result = run_benchmark(BenchConfig(url="http://localhost:8501", mode="server", concurrency=4, requests=200))
print(result.summary()["latency_ms"]["p50"])
result.write_csv("requests.csv")
result.plot("bench.png")  # needs the [bench] extra (matplotlib)
"""

from ._bodies import json_floats_body
from ._plan import MODES, BenchConfig, load_images, synthetic_jpeg
from ._report import BenchProgress, BenchResult, RequestRecord
from .loadgen import run_benchmark

__all__ = [
    "MODES",
    "BenchConfig",
    "BenchProgress",
    "BenchResult",
    "RequestRecord",
    "json_floats_body",
    "load_images",
    "run_benchmark",
    "synthetic_jpeg",
]
