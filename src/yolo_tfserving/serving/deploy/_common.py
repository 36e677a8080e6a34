"""Shared by every target: ports, server config file names, the option record and the server's flags."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..._repository_layout import BATCHING_CONFIG as BATCHING_CONFIG
from ..._repository_layout import MODELS_CONFIG as MODELS_CONFIG
from ..._repository_layout import MONITORING_CONFIG as MONITORING_CONFIG

IMAGE_REPOSITORY = "tensorflow/serving"
FALLBACK_TF_VERSION = "2.19.0"
GRPC_PORT = 8500
REST_PORT = 8501
DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"
CPU_TARGET_UTILIZATION = 70


def server_args(config_dir: str, *, enable_batching: bool, models_config: bool = True) -> list[str]:
    """``tensorflow_model_server`` flags (names from model_servers/main.cc) for configs under ``config_dir``."""
    args = [f"--model_config_file={config_dir}/{MODELS_CONFIG}"] if models_config else []
    if enable_batching:
        args += ["--enable_batching", f"--batching_parameters_file={config_dir}/{BATCHING_CONFIG}"]
    args += [f"--monitoring_config_file={config_dir}/{MONITORING_CONFIG}", "--enable_model_warmup=true"]
    return args


@dataclass(frozen=True)
class _Options:
    image: str
    replicas: int
    namespace: str
    cpu: str
    memory: str
    max_replicas: int
    enable_batching: bool


def _k8s_name(name: str) -> str:
    """A DNS-1035 label (what Services and InferenceServices need) derived from a model name."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    text = re.sub(r"-{2,}", "-", text)
    if not text or not text[0].isalpha():
        text = f"m-{text}".rstrip("-")
    return text[:40].rstrip("-")


def _metrics_path(monitoring_config: str) -> str:
    match = re.search(r'\bpath\s*:\s*"([^"]+)"', monitoring_config)
    return match.group(1) if match else DEFAULT_METRICS_PATH
