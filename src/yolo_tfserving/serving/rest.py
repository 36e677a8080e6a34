"""The REST front end: TF Serving's URLs, JSON bodies and error mapping over HTTP/1.1.

Routes (case-insensitive, as TF Serving's regexes):

- ``POST /v1/models/<name>[/versions/<v> | /labels/<l>]:(predict|classify|regress)``
- ``GET  /v1/models/<name>[/versions/<v> | /labels/<l>]`` -> model status
- ``GET  /v1/models/<name>[/versions/<v> | /labels/<l>]/metadata`` -> signature defs
- ``GET  <prometheus path>`` when the monitoring config enables it

Errors are ``{"error": "<message>"}`` with the HTTP status TF Serving maps the canonical
code to (:func:`.status.http_status`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import json_codec
from .core import DataPlane, ModelRef, status_json
from .http_server import HttpLimits, HttpServer, error_body
from .servable import SignatureInfo
from .status import ServingStatusError, http_status, invalid_argument

log = logging.getLogger("yolo_tfserving.serving.rest")

_PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.I
)
_STATUS = re.compile(r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.I)
#: --rest_api_enable_cors_support: on every REST response, as TF Serving's http_server.cc adds them
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, GET"),
    ("Access-Control-Allow-Headers", "Content-Type"),
)


class RestFrontEnd:
    """TF Serving's REST API over :class:`~.http_server.HttpServer`; requests run on a thread pool."""

    def __init__(
        self,
        plane: DataPlane,
        *,
        host: str = "0.0.0.0",
        port: int = 8501,
        timeout_ms: int = 30000,
        metrics_path: str | None = None,
        num_threads: int = 64,
        cors: bool = False,
        limits: HttpLimits | None = None,
    ) -> None:
        self.plane = plane
        self.cors = cors  # --rest_api_enable_cors_support
        self.metrics_path = metrics_path
        limits = limits or HttpLimits()
        limits = dataclasses.replace(limits, request_timeout_s=timeout_ms / 1000.0 if timeout_ms > 0 else None)
        self._executor = ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="rest-work")
        self.http = HttpServer(self._dispatch, host=host, port=port, limits=limits, executor=self._executor)
        if cors:
            self.http.extra_headers = CORS_HEADERS
        self.port = self.http.port

    def start(self) -> None:
        self.http.start()

    def stop(self, drain_s: float = 30.0) -> None:
        """Stop accepting; idle connections close; in-flight requests finish (``drain_s`` at most)."""
        self.http.stop(drain_s)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _dispatch(
        self, method: str, target: str, headers: dict[bytes, bytes], body: bytes, deadline: float | None
    ) -> tuple[int, str | None, bytes]:
        if deadline is not None and time.monotonic() >= deadline:  # waited past its deadline: not started
            return 504, "application/json", _error_body("Deadline Exceeded")
        if method == "OPTIONS":  # a CORS preflight, as TF Serving's dispatcher answers it; no body
            origin = headers.get(b"origin", b"").decode("latin-1")
            return (200 if re.match(r"https?://", origin) else 400), None, b""
        return self.handle(method, target, body, deadline)

    # -- dispatch (transport-free inputs) -------------------------------------------
    def handle(self, method: str, path: str, body: bytes, deadline: float | None = None) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        try:
            if self.metrics_path is not None and method == "GET" and path == self.metrics_path:
                return 200, "text/plain; version=0.0.4", self.plane.metrics.render().encode()
            if method == "POST" and (m := _PREDICT.fullmatch(path)):
                name, version, label, verb = m.groups()
                ref = ModelRef(name=name, version=_version(version), label=label)
                return 200, "application/json", self._post(ref, verb.lower(), body, deadline)
            if method == "GET" and (m := _STATUS.fullmatch(path)):
                name, version, label, meta = m.groups()
                if not name:
                    raise invalid_argument("Missing model name in request.")
                ref = ModelRef(name=name, version=_version(version), label=label)
                if meta:
                    return 200, "application/json", self._metadata(ref)
                return 200, "application/json", json.dumps(status_json(self.plane.status(ref)), indent=1).encode()
            if path.lower().startswith("/v1/"):
                raise invalid_argument(f"Malformed request: {method} {path}")
            return 404, "application/json", _error_body(f"Not found: {method} {path}")
        except ServingStatusError as exc:
            return http_status(exc.code), "application/json", _error_body(exc.message)
        except Exception as exc:  # never a traceback to the client, never a dead server
            log.exception("internal error on %s %s", method, path)
            return 500, "application/json", _error_body(f"Internal error: {type(exc).__name__}: {exc}")

    def _post(self, ref: ModelRef, verb: str, body: bytes, deadline: float | None) -> bytes:
        if verb == "predict":
            document = json_codec.read_predict_body(body, budget=self.plane.limits.check_json)
            row_format = True

            def decode(signature: SignatureInfo) -> Mapping[str, np.ndarray]:
                nonlocal row_format
                request = json_codec.parse_predict_request(document, signature.input_specs())
                row_format = request.row_format
                return request.inputs

            result = self.plane.predict(
                ref, document.signature_name, decode, missing_signature=_rest_missing_signature, deadline=deadline
            )
            return json_codec.format_predict_response(result.outputs, row_format=row_format)
        self.plane.limits.check_json(body)
        parsed = json_codec.parse_classify_regress_request(body, max_examples=self.plane.limits.check_examples)
        examples = _serialize_examples(parsed.examples, parsed.context)
        if verb == "classify":
            _, classes = self.plane.classify(ref, parsed.signature_name, examples, deadline=deadline)
            return json_codec.format_classify_response(classes)
        _, values = self.plane.regress(ref, parsed.signature_name, examples, deadline=deadline)
        return json_codec.format_regress_response(values)

    def _metadata(self, ref: ModelRef) -> bytes:
        """GET .../metadata as TF Serving assembles it: model_spec and the SignatureDefMap printed by protobuf's
        JSON printer with every field (``"dim": []``, ``"name": ""``, ``"defaults": {}`` ...)."""
        from .._wire import serving_apis_pb2
        from .._wire.formats import message_to_json

        version, sig_map = self.plane.metadata(ref)
        spec = serving_apis_pb2.ModelSpec(name=ref.name)
        spec.version.value = version

        def printed(message: Any) -> str:
            return message_to_json(
                message, preserving_proto_field_name=True, including_default_value_fields=True, indent=1
            )

        text = f'{{\n"model_spec":{printed(spec)},\n"metadata": {{"signature_def": {printed(sig_map)}}}\n}}\n'
        return text.encode("utf-8")


def _rest_missing_signature(name: str) -> ServingStatusError:
    """The REST handler's own words for an unknown signature (it looks the signature up itself)."""
    return invalid_argument(f'Serving signature name: "{name}" not found in signature def')


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise invalid_argument(f"Failed to convert version: {text} to numeric.") from None


_error_body = error_body


def _serialize_examples(examples: list[dict[str, list[Any]]], context: dict[str, list[Any]] | None) -> list[bytes]:
    """JSON examples (+ context merged in, as TF Serving does) -> serialized tf.Example protos."""
    from .._wire.messages import messages

    msgs = messages()
    out = []
    for example in examples:
        merged = dict(context or {})
        merged.update(example)
        proto = msgs.Example()
        for key, values in merged.items():
            feature = proto.features.feature[key]
            if all(isinstance(v, bytes) for v in values):
                feature.bytes_list.value.extend(values)
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                feature.int64_list.value.extend(values)
            elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                feature.float_list.value.extend(float(v) for v in values)
            else:
                raise invalid_argument(f"feature {key!r} mixes value types")
        out.append(proto.SerializeToString())
    return out
