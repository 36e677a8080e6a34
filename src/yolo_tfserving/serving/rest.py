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

import json
import logging
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from . import json_codec
from .core import DataPlane, ModelRef, status_json
from .servable import SignatureInfo
from .status import Code, ServingStatusError, http_status, invalid_argument

log = logging.getLogger("yolo_tfserving.serving.rest")

_PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.I
)
_STATUS = re.compile(r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.I)
MAX_BODY_BYTES = 1 << 30


class RestFrontEnd:
    """Owns the HTTP server thread; requests run on per-connection threads."""

    def __init__(
        self,
        plane: DataPlane,
        *,
        host: str = "0.0.0.0",
        port: int = 8501,
        timeout_ms: int = 30000,
        metrics_path: str | None = None,
        num_threads: int = 64,
    ) -> None:
        self.plane = plane
        self.timeout_s = timeout_ms / 1000.0 if timeout_ms > 0 else None
        self.metrics_path = metrics_path
        self._executor = ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="rest-work")
        handler = type("Handler", (_Handler,), {"front": self})
        self.httpd = _Server((host, port), handler)
        self.httpd.daemon_threads = False
        self.httpd.block_on_close = True  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="rest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting; in-flight requests finish first."""
        self.httpd.shutdown()
        self.httpd.server_close()  # joins the request threads (block_on_close)
        self._executor.shutdown(wait=True)

    # -- dispatch (transport-free inputs) -------------------------------------------
    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        try:
            if self.metrics_path is not None and method == "GET" and path == self.metrics_path:
                return 200, "text/plain; version=0.0.4", self.plane.metrics.render().encode()
            if method == "POST" and (m := _PREDICT.fullmatch(path)):
                name, version, label, verb = m.groups()
                ref = ModelRef(name=name, version=_version(version), label=label)
                return 200, "application/json", self._with_timeout(self._post, ref, verb.lower(), body)
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

    def _with_timeout(self, fn: Any, *args: Any) -> bytes:
        future = self._executor.submit(fn, *args)
        try:
            return future.result(timeout=self.timeout_s)  # type: ignore[no-any-return]
        except FutureTimeout:
            raise ServingStatusError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded") from None

    def _post(self, ref: ModelRef, verb: str, body: bytes) -> bytes:
        if verb == "predict":
            signature_name = _peek_signature_name(body)
            row_format = True

            def decode(signature: SignatureInfo) -> Mapping[str, np.ndarray]:
                nonlocal row_format
                request = json_codec.parse_predict_request(body, signature.input_specs())
                row_format = request.row_format
                return request.inputs

            result = self.plane.predict(ref, signature_name, decode, missing_signature=_rest_missing_signature)
            return json_codec.format_predict_response(result.outputs, row_format=row_format)
        parsed = json_codec.parse_classify_regress_request(body)
        examples = _serialize_examples(parsed.examples, parsed.context)
        if verb == "classify":
            _, classes = self.plane.classify(ref, parsed.signature_name, examples)
            return json_codec.format_classify_response(classes)
        _, values = self.plane.regress(ref, parsed.signature_name, examples)
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


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


_SIG = re.compile(rb'"signature_name"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _peek_signature_name(body: bytes) -> str | None:
    """The request's signature_name without parsing the (possibly huge) body twice.

    A top-level key can only be found before or after the payload, so look at both ends.
    """
    for chunk in (body[:4096], body[-4096:]):
        m = _SIG.search(chunk)
        if m:
            return str(json.loads(b'"' + m.group(1) + b'"'))
    if len(body) <= 8192:
        return None
    try:  # rare: signature_name buried in the middle; parse once to be exact
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("signature_name") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


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


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection-level failures are logged, never printed as tracebacks."""
        log.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    front: RestFrontEnd
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stall
    server_version = "TensorFlowServing-compatible (yolo-tfserving)"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def _respond(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, "application/json", _error_body("Request body too large"))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        status, content_type, payload = self.front.handle(method, self.path, body)
        self._send(status, content_type, payload)

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client went away: nothing to answer
            self.close_connection = True
            log.debug("client %s disconnected before the response", self.address_string())

    def do_GET(self) -> None:
        self._respond("GET")

    def do_POST(self) -> None:
        self._respond("POST")

    def do_PUT(self) -> None:
        self._respond("PUT")

    def do_DELETE(self) -> None:
        self._respond("DELETE")
