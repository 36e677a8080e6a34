"""Wire formats to TF Serving (REST JSON, gRPC protobuf) behind one small interface.

Both transports take ``inputs: dict[str, np.ndarray]`` and return ``dict[str, np.ndarray]``;
foreign errors (httpx, grpc) become :class:`ServerUnavailableError` /
:class:`RequestError` / :class:`ModelNotFoundError` here, at the boundary.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import ModelNotFoundError, RequestError, ServerUnavailableError


@dataclass(frozen=True)
class ModelTarget:
    name: str
    version: int | None = None
    label: str | None = None

    def rest_path(self) -> str:
        path = f"/v1/models/{self.name}"
        if self.version is not None:
            path += f"/versions/{self.version}"
        elif self.label is not None:
            path += f"/labels/{self.label}"
        return path

    def describe(self) -> str:
        if self.version is not None:
            return f"{self.name} version {self.version}"
        if self.label is not None:
            return f"{self.name} (label {self.label})"
        return self.name


# -- REST ---------------------------------------------------------------------------------
def encode_rest_inputs(inputs: dict[str, NDArray[Any]], signature_name: str) -> bytes:
    """Columnar JSON; DT_STRING values as {"b64": ...} (TF Serving's rule for binary strings)."""
    cols: dict[str, Any] = {}
    for name, value in inputs.items():
        if value.dtype.kind in "OSU":
            cols[name] = _b64_nested(value)
        else:
            cols[name] = value.tolist()
    return json.dumps({"signature_name": signature_name, "inputs": cols}, separators=(",", ":")).encode()


def _b64_nested(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return [_b64_nested(v) for v in value]
    item = value.item() if isinstance(value, np.ndarray) else value
    raw = item if isinstance(item, bytes) else str(item).encode()
    return {"b64": base64.b64encode(raw).decode("ascii")}


def decode_rest_outputs(body: bytes, single_output: str = "output") -> dict[str, NDArray[Any]]:
    """Columnar response -> arrays. TF Serving writes a lone output without its name: ``single_output``."""
    data = json.loads(body)
    outputs = data.get("outputs")
    if outputs is None:
        raise RequestError(f"unexpected response (no 'outputs'): {body[:200]!r}", status=200)
    if not isinstance(outputs, dict):
        outputs = {single_output: outputs}
    return {k: _to_array(v) for k, v in outputs.items()}


def _to_array(value: Any) -> NDArray[Any]:
    flat = value
    while isinstance(flat, list) and flat:
        flat = flat[0]
    if isinstance(flat, dict) and "b64" in flat:
        return np.asarray(_unb64(value), dtype=object)
    if isinstance(flat, str):
        return np.asarray(_encode_strings(value), dtype=object)
    return np.asarray(value)


def _unb64(value: Any) -> Any:
    if isinstance(value, list):
        return [_unb64(v) for v in value]
    return base64.b64decode(value["b64"])


def _encode_strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_encode_strings(v) for v in value]
    return value.encode()


class _RestBase:
    """What both REST transports share: the URL, the error mapping, the size record (no I/O)."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._httpx = httpx
        self.last_request_bytes = 0
        self.last_response_bytes = 0

    def _check(self, response: Any, path: str, target: ModelTarget, body: bytes | None) -> bytes:
        """Record sizes; turn an error status into our exceptions (both transports)."""
        self.last_request_bytes = len(body or b"")
        self.last_response_bytes = len(response.content)
        if response.status_code != 200:
            message = _rest_error_message(response)
            if response.status_code == 404:
                raise ModelNotFoundError(
                    f"model {target.describe()} is not served at {self.url}: {message}", status=404, url=self.url
                )
            raise RequestError(
                f"{self.url}{path} answered {response.status_code}: {message}",
                status=response.status_code,
                url=self.url,
            )
        return bytes(response.content)

    @contextlib.contextmanager
    def _reaching(self, path: str) -> Iterator[None]:
        """httpx's transport errors (refused, reset, timed out) as ServerUnavailableError (both transports)."""
        try:
            yield
        except self._httpx.HTTPError as exc:
            raise _rest_unreachable(exc, self._httpx, self.url, path) from exc

    @staticmethod
    def _predict_request(
        target: ModelTarget, signature_name: str, inputs: dict[str, NDArray[Any]]
    ) -> tuple[str, bytes]:
        """(path, body) of a predict call (both transports)."""
        return target.rest_path() + ":predict", encode_rest_inputs(inputs, signature_name)


class RestTransport(_RestBase):
    """TF Serving's REST API over a blocking ``httpx.Client``."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        super().__init__(url)
        self._client = self._httpx.Client(base_url=self.url, timeout=timeout_s)

    def _call(self, method: str, path: str, target: ModelTarget, body: bytes | None = None) -> bytes:
        with self._reaching(path):
            response = self._client.request(method, path, content=body, headers=_json_headers(body))
        return self._check(response, path, target, body)

    def predict(
        self,
        target: ModelTarget,
        signature_name: str,
        inputs: dict[str, NDArray[Any]],
        *,
        single_output: str = "output",
    ) -> dict[str, NDArray[Any]]:
        path, body = self._predict_request(target, signature_name, inputs)
        return decode_rest_outputs(self._call("POST", path, target, body), single_output)

    def predict_raw_json(self, target: ModelTarget, body: bytes) -> bytes:
        """POST a ready-made JSON body (benchmarks of other clients' formats)."""
        return self._call("POST", target.rest_path() + ":predict", target, body)

    def status(self, target: ModelTarget) -> dict[str, Any]:
        return json.loads(self._call("GET", target.rest_path(), target))  # type: ignore[no-any-return]

    def metadata(self, target: ModelTarget) -> dict[str, Any]:
        return json.loads(self._call("GET", target.rest_path() + "/metadata", target))  # type: ignore[no-any-return]

    def close(self) -> None:
        self._client.close()


def _json_headers(body: bytes | None) -> dict[str, str] | None:
    return {"Content-Type": "application/json"} if body else None


def _rest_unreachable(exc: Exception, httpx: Any, url: str, path: str) -> ServerUnavailableError:
    if isinstance(exc, httpx.TimeoutException):
        return ServerUnavailableError(f"timed out waiting for {url}{path}; raise timeout_s or check the server's load")
    return ServerUnavailableError(
        f"cannot reach the model server at {url} ({exc}); is it running? "
        "start one with: yolo-tfserving serve --model_base_path ..."
    )


class AsyncRestTransport(_RestBase):
    """:class:`RestTransport`'s sibling on ``httpx.AsyncClient``: same requests, same parsing, awaitable I/O."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        super().__init__(url)
        self._async = self._httpx.AsyncClient(base_url=self.url, timeout=timeout_s)

    async def _acall(self, method: str, path: str, target: ModelTarget, body: bytes | None = None) -> bytes:
        with self._reaching(path):
            response = await self._async.request(method, path, content=body, headers=_json_headers(body))
        return self._check(response, path, target, body)

    async def apredict(
        self,
        target: ModelTarget,
        signature_name: str,
        inputs: dict[str, NDArray[Any]],
        *,
        single_output: str = "output",
    ) -> dict[str, NDArray[Any]]:
        path, body = self._predict_request(target, signature_name, inputs)
        return decode_rest_outputs(await self._acall("POST", path, target, body), single_output)

    async def astatus(self, target: ModelTarget) -> dict[str, Any]:
        return json.loads(await self._acall("GET", target.rest_path(), target))  # type: ignore[no-any-return]

    async def ametadata(self, target: ModelTarget) -> dict[str, Any]:
        return json.loads(await self._acall("GET", target.rest_path() + "/metadata", target))  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self._async.aclose()


def _rest_error_message(response: Any) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return str(response.text[:300])


# -- gRPC ----------------------------------------------------------------------------------
class _GrpcBase:
    """What both gRPC transports share: request builders, response parsers, error mapping (no I/O)."""

    def __init__(self, target: str, *, timeout_s: float) -> None:
        try:
            import grpc
        except ImportError as exc:
            from .._errors import MissingDependencyError

            raise MissingDependencyError("grpcio", "grpc") from exc
        from .._wire import services, tensors

        self.url = target
        self._grpc = grpc
        self._services = services
        self._tensors = tensors
        self._timeout_s = timeout_s
        self.last_request_bytes = 0
        self.last_response_bytes = 0

    def _stubs(self, channel: Any) -> None:
        self._predict = self._services.prediction_stub(channel)
        self._model = self._services.model_stub(channel)

    def _spec(self, spec: Any, target: ModelTarget, signature_name: str = "") -> None:
        spec.name = target.name
        if target.version is not None:
            spec.version.value = target.version
        elif target.label is not None:
            spec.version_label = target.label
        if signature_name:
            spec.signature_name = signature_name

    def _translate(self, exc: Any, target: ModelTarget) -> Exception:
        grpc = self._grpc
        code = exc.code()
        details = exc.details() or code.name
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and "queue" not in details:
            return ServerUnavailableError(
                f"cannot reach the model server at {self.url} ({code.name}: {details}); "
                "is it running? start one with: yolo-tfserving serve ..."
            )
        if code == grpc.StatusCode.NOT_FOUND:
            return ModelNotFoundError(
                f"model {target.describe()} is not served at {self.url}: {details}", status=code.name, url=self.url
            )
        return RequestError(f"{self.url} answered {code.name}: {details}", status=code.name, url=self.url)

    def _record(self, request: Any, response: Any) -> Any:
        self.last_request_bytes = request.ByteSize()
        self.last_response_bytes = response.ByteSize()
        return response

    # request builders and response parsers, shared with the async transport
    def _predict_request(self, target: ModelTarget, signature_name: str, inputs: dict[str, NDArray[Any]]) -> Any:
        from .._wire.serving_apis_pb2 import PredictRequest

        request = PredictRequest()
        self._spec(request.model_spec, target, signature_name)
        for name, value in inputs.items():
            self._tensors.write_tensor_proto(request.inputs[name], value)
        return request

    def _outputs(self, response: Any) -> dict[str, NDArray[Any]]:
        try:
            return {k: self._tensors.tensor_proto_to_ndarray(v) for k, v in response.outputs.items()}
        except (ValueError, TypeError) as exc:  # the wire codec's errors: a response we cannot read
            raise RequestError(f"{self.url} sent a malformed output tensor: {exc}", status="", url=self.url) from exc

    def _status_request(self, target: ModelTarget) -> Any:
        from .._wire.serving_apis_pb2 import GetModelStatusRequest

        request = GetModelStatusRequest()
        self._spec(request.model_spec, target)
        return request

    def _metadata_request(self, target: ModelTarget) -> Any:
        from .._wire.serving_apis_pb2 import GetModelMetadataRequest

        request = GetModelMetadataRequest()
        self._spec(request.model_spec, target)
        request.metadata_field.append("signature_def")
        return request

    def _metadata_json(self, response: Any) -> dict[str, Any]:
        from .._wire.formats import message_to_dict
        from .._wire.serving_apis_pb2 import SignatureDefMap

        sig_map = SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return {
            "model_spec": message_to_dict(response.model_spec, preserving_proto_field_name=True),
            "metadata": {"signature_def": message_to_dict(sig_map, preserving_proto_field_name=True)},
        }


_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


class GrpcTransport(_GrpcBase):
    """TF Serving's gRPC API over a blocking channel."""

    def __init__(self, target: str, *, timeout_s: float) -> None:
        super().__init__(target, timeout_s=timeout_s)
        self._channel = self._grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self._stubs(self._channel)

    def _invoke(self, method: Any, request: Any, target: ModelTarget) -> Any:
        try:
            response = method(request, timeout=self._timeout_s)
        except self._grpc.RpcError as exc:
            raise self._translate(exc, target) from exc
        return self._record(request, response)

    def predict(
        self,
        target: ModelTarget,
        signature_name: str,
        inputs: dict[str, NDArray[Any]],
        *,
        single_output: str = "output",  # noqa: ARG002 - the REST transport's signature; gRPC names every output
    ) -> dict[str, NDArray[Any]]:
        request = self._predict_request(target, signature_name, inputs)
        return self._outputs(self._invoke(self._predict.Predict, request, target))

    def status(self, target: ModelTarget) -> dict[str, Any]:
        response = self._invoke(self._model.GetModelStatus, self._status_request(target), target)
        return _status_json(response)

    def metadata(self, target: ModelTarget) -> dict[str, Any]:
        return self._metadata_json(self._invoke(self._predict.GetModelMetadata, self._metadata_request(target), target))

    def close(self) -> None:
        self._channel.close()


def _status_json(response: Any) -> dict[str, Any]:
    from .._wire.formats import message_to_dict

    return message_to_dict(response, preserving_proto_field_name=True)


class AsyncGrpcTransport(_GrpcBase):
    """:class:`GrpcTransport`'s sibling on a ``grpc.aio`` channel: same messages, same parsing, awaitable I/O."""

    def __init__(self, target: str, *, timeout_s: float) -> None:
        super().__init__(target, timeout_s=timeout_s)
        self._channel = self._grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self._stubs(self._channel)

    async def _ainvoke(self, method: Any, request: Any, target: ModelTarget) -> Any:
        try:
            response = await method(request, timeout=self._timeout_s)
        except self._grpc.RpcError as exc:
            raise self._translate(exc, target) from exc
        return self._record(request, response)

    async def apredict(
        self,
        target: ModelTarget,
        signature_name: str,
        inputs: dict[str, NDArray[Any]],
        *,
        single_output: str = "output",  # noqa: ARG002 - the REST transport's signature; gRPC names every output
    ) -> dict[str, NDArray[Any]]:
        request = self._predict_request(target, signature_name, inputs)
        return self._outputs(await self._ainvoke(self._predict.Predict, request, target))

    async def astatus(self, target: ModelTarget) -> dict[str, Any]:
        return _status_json(await self._ainvoke(self._model.GetModelStatus, self._status_request(target), target))

    async def ametadata(self, target: ModelTarget) -> dict[str, Any]:
        response = await self._ainvoke(self._predict.GetModelMetadata, self._metadata_request(target), target)
        return self._metadata_json(response)

    async def aclose(self) -> None:
        await self._channel.close()
