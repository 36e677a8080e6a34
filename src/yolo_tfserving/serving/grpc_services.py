"""The gRPC services TF Serving registers beside its own: ``tensorflow.ProfilerService`` (``--enable_profiler``,
on by default) and the standard ``grpc.health.v1.Health`` (``--enable_grpc_healthcheck_service``).

Profile runs TensorFlow's own profiler for ``opts.duration_ms`` (TF's ProfilerServiceImpl reads the duration
from the options, not the request's top-level field), then writes the collected XSpace to
``<repository_root>/<session_id>/<host_name>.xplane.pb`` (``:`` in the host name becomes ``_``) and answers
``empty_trace`` — where TensorBoard's profiler plugin and ``tf.profiler.experimental.client.trace`` look.
Terminate ends a running Profile of the same session early; Monitor is UNIMPLEMENTED, as in TF.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc

log = logging.getLogger("yolo_tfserving.serving.grpc")

PROFILER_SERVICE = "tensorflow.ProfilerService"
HEALTH_SERVICE = "grpc.health.v1.Health"
#: the service names TF Serving marks SERVING in the health service ("" is the server as a whole)
HEALTHY_SERVICES = ("", "ModelService", "PredictionService")


class ProfilerService:
    """``tensorflow.ProfilerService`` on TensorFlow's profiler; one profile at a time, as TF's session allows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._terminate: dict[str, threading.Event] = {}

    def handler(self) -> grpc.GenericRpcHandler:
        from .._wire import profiler_pb2 as pb

        def unary(fn: Any, request_cls: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=request_cls.FromString, response_serializer=lambda m: m.SerializeToString()
            )

        return grpc.method_handlers_generic_handler(
            PROFILER_SERVICE,
            {
                "Profile": unary(self.profile, pb.ProfileRequest),
                "Terminate": unary(self.terminate, pb.TerminateRequest),
                "Monitor": unary(self.monitor, pb.MonitorRequest),
            },
        )

    def profile(self, request: Any, context: grpc.ServicerContext) -> Any:
        from .._wire import profiler_pb2 as pb

        if not self._lock.acquire(blocking=False):
            context.abort(grpc.StatusCode.INTERNAL, "Another profiling session active.")
        stop = threading.Event()
        self._terminate[request.session_id] = stop
        scratch = Path(tempfile.mkdtemp(prefix="yolo-tfserving-profile-"))
        try:
            xplane = self._capture(scratch, request.opts.duration_ms / 1000.0, stop, context)
            response = pb.ProfileResponse(empty_trace=xplane is None or xplane.stat().st_size == 0)
            if xplane is not None and request.repository_root:
                target = Path(request.repository_root) / request.session_id
                target.mkdir(parents=True, exist_ok=True)
                host = (request.host_name or "localhost").replace(":", "_")
                shutil.copyfile(xplane, target / f"{host}.xplane.pb")
            return response
        except OSError as exc:
            context.abort(grpc.StatusCode.INTERNAL, f"Failed to save the profile: {exc}")
        finally:
            self._terminate.pop(request.session_id, None)
            shutil.rmtree(scratch, ignore_errors=True)
            self._lock.release()

    @staticmethod
    def _capture(scratch: Path, duration_s: float, stop: threading.Event, context: grpc.ServicerContext) -> Path | None:
        import tensorflow as tf

        try:
            tf.profiler.experimental.start(str(scratch))
        except Exception as exc:  # TF refuses a second session ("Another profiler is running")
            context.abort(grpc.StatusCode.INTERNAL, str(exc))
        deadline = time.monotonic() + duration_s
        try:
            while time.monotonic() < deadline and not stop.is_set():
                if not context.is_active():
                    context.abort(grpc.StatusCode.CANCELLED, "Profiling was cancelled by the client")
                stop.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        finally:
            tf.profiler.experimental.stop()
        found = sorted(scratch.rglob("*.xplane.pb"))
        return found[0] if found else None

    def terminate(self, request: Any, _context: grpc.ServicerContext) -> Any:
        from .._wire import profiler_pb2 as pb

        event = self._terminate.get(request.session_id)
        if event is not None:
            event.set()
        return pb.TerminateResponse()

    def monitor(self, _request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "unimplemented.")


def health_handler() -> grpc.GenericRpcHandler:
    """grpc.health.v1.Health: SERVING for the server and TF Serving's two services, SERVICE_UNKNOWN otherwise
    (NOT_FOUND for Check, as gRPC's default health service answers)."""
    from .._wire import health_pb2 as pb

    def check(request: Any, context: grpc.ServicerContext) -> Any:
        if request.service not in HEALTHY_SERVICES:
            context.abort(grpc.StatusCode.NOT_FOUND, "service name unknown")
        return pb.HealthCheckResponse(status=pb.HealthCheckResponse.SERVING)

    def watch(request: Any, context: grpc.ServicerContext) -> Any:
        known = request.service in HEALTHY_SERVICES
        yield pb.HealthCheckResponse(
            status=pb.HealthCheckResponse.SERVING if known else pb.HealthCheckResponse.SERVICE_UNKNOWN
        )
        while context.is_active():  # statuses never change while the server runs
            time.sleep(1.0)

    serialize = lambda m: m.SerializeToString()  # noqa: E731
    return grpc.method_handlers_generic_handler(
        HEALTH_SERVICE,
        {
            "Check": grpc.unary_unary_rpc_method_handler(
                check, request_deserializer=pb.HealthCheckRequest.FromString, response_serializer=serialize
            ),
            "Watch": grpc.unary_stream_rpc_method_handler(
                watch, request_deserializer=pb.HealthCheckRequest.FromString, response_serializer=serialize
            ),
        },
    )
