"""gRPC service names, method paths and stubs of the wire schema.

The stubs are the generated ``*_pb2_grpc`` classes (they work on a ``grpc.Channel`` or a ``grpc.aio``
channel alike, taking and returning our message classes); this module imports grpc only when a stub is asked
for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .health_pb2_grpc import HealthStub
    from .profiler_pb2_grpc import ProfilerServiceStub
    from .serving_service_pb2_grpc import ModelServiceStub, PredictionServiceStub

__all__ = [
    "CLASSIFY_METHOD",
    "GET_MODEL_METADATA_METHOD",
    "GET_MODEL_STATUS_METHOD",
    "HANDLE_RELOAD_CONFIG_METHOD",
    "HEALTH_CHECK_METHOD",
    "HEALTH_SERVICE",
    "HEALTH_WATCH_METHOD",
    "MODEL_SERVICE",
    "MULTI_INFERENCE_METHOD",
    "PREDICTION_SERVICE",
    "PREDICT_METHOD",
    "PROFILER_MONITOR_METHOD",
    "PROFILER_PROFILE_METHOD",
    "PROFILER_SERVICE",
    "PROFILER_TERMINATE_METHOD",
    "REGRESS_METHOD",
    "health_stub",
    "model_stub",
    "prediction_stub",
    "profiler_stub",
]

# serving_service.proto
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
CLASSIFY_METHOD = f"/{PREDICTION_SERVICE}/Classify"
REGRESS_METHOD = f"/{PREDICTION_SERVICE}/Regress"
PREDICT_METHOD = f"/{PREDICTION_SERVICE}/Predict"
MULTI_INFERENCE_METHOD = f"/{PREDICTION_SERVICE}/MultiInference"
GET_MODEL_METADATA_METHOD = f"/{PREDICTION_SERVICE}/GetModelMetadata"
GET_MODEL_STATUS_METHOD = f"/{MODEL_SERVICE}/GetModelStatus"
HANDLE_RELOAD_CONFIG_METHOD = f"/{MODEL_SERVICE}/HandleReloadConfigRequest"
# profiler.proto
PROFILER_SERVICE = "tensorflow.ProfilerService"
PROFILER_PROFILE_METHOD = f"/{PROFILER_SERVICE}/Profile"
PROFILER_TERMINATE_METHOD = f"/{PROFILER_SERVICE}/Terminate"
PROFILER_MONITOR_METHOD = f"/{PROFILER_SERVICE}/Monitor"
# health.proto
HEALTH_SERVICE = "grpc.health.v1.Health"
HEALTH_CHECK_METHOD = f"/{HEALTH_SERVICE}/Check"
HEALTH_WATCH_METHOD = f"/{HEALTH_SERVICE}/Watch"


def prediction_stub(channel: Any) -> PredictionServiceStub:
    """A ``tensorflow.serving.PredictionService`` stub on ``channel`` (``grpc.Channel`` or ``grpc.aio``)."""
    from .serving_service_pb2_grpc import PredictionServiceStub

    return PredictionServiceStub(channel)


def model_stub(channel: Any) -> ModelServiceStub:
    """A ``tensorflow.serving.ModelService`` stub on ``channel``."""
    from .serving_service_pb2_grpc import ModelServiceStub

    return ModelServiceStub(channel)


def profiler_stub(channel: Any) -> ProfilerServiceStub:
    """A ``tensorflow.ProfilerService`` stub on ``channel``."""
    from .profiler_pb2_grpc import ProfilerServiceStub

    return ProfilerServiceStub(channel)


def health_stub(channel: Any) -> HealthStub:
    """A ``grpc.health.v1.Health`` stub on ``channel``."""
    from .health_pb2_grpc import HealthStub

    return HealthStub(channel)
