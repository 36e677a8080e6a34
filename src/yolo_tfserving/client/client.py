"""``Client`` / ``AsyncClient``: images in, :class:`Detections` out, over REST or gRPC.

Two modes give the same answer:

- ``server``: send the encoded image bytes to the ``detect`` signature with this client's
  thresholds; letterbox, NMS and rescaling happen in the model's graph.
- ``client``: letterbox here (YOLOv5-exact, numpy), call the ``raw`` model over the wire
  (REST: ``raw_bytes``, the 8-bit canvas as b64; gRPC: ``raw`` with float32 ``tensor_content``),
  and run YOLOv5's NMS here.

Both clients run the same plans (``_ClientBase._facts_steps``, ``_detect_steps``): generators
that yield each server call they need (``_Metadata`` or ``_Predict``) and are sent its reply, so
every decision, request and parse lives once; ``Client`` performs the calls blocking,
``AsyncClient`` awaits them.

Images past the pixel limit are refused before they are decoded or sent: the limit is
``max_pixels`` when given, else the model's (its ``limits`` signature, asked the first time an
image is past the default), else the default (40 MP, as ``export --max-pixels``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import ImageTooLargeError, InputError, RequestError
from .._limits import DEFAULT_MAX_PIXELS, check_max_pixels
from ..ops import NMSConfig
from ._core import (
    _LIMIT_NAMES,
    _T,
    LIMITS_SIGNATURE,
    PROTOCOLS,
    ModelFacts,
    _advance,
    _Call,
    _Core,
    _Metadata,
    _nms_config,
    _Predict,
    _split_url,
    _Steps,
)
from ._transport import AsyncGrpcTransport, AsyncRestTransport, GrpcTransport, RestTransport
from .classification import Classification, ClassifierFacts, classifier_facts_steps, classify_steps
from .detections import Detections
from .images import ImageInput, PreparedImage, prepare


class _ClientBase:
    """Argument handling and the transport-free steps shared by :class:`Client` and :class:`AsyncClient`."""

    def __init__(
        self,
        url: str = "http://localhost:8501",
        *,
        model: str = "yolov5",
        protocol: str | None = None,
        mode: str = "server",
        version: int | None = None,
        label: str | None = None,
        timeout_s: float = 30.0,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_det: int = 300,
        classes: Sequence[int] | None = None,
        agnostic: bool = False,
        multi_label: bool = False,
        max_pixels: int | None = None,
    ) -> None:
        proto, address = _split_url(url, protocol)
        if proto not in PROTOCOLS:
            raise InputError(f"protocol must be one of {PROTOCOLS}, got {proto!r}")
        nms = _nms_config(conf_threshold, iou_threshold, max_det, classes, agnostic, multi_label)
        self._core = _Core(model=model, mode=mode, version=version, label=label, nms=nms)
        self.protocol = proto
        self._address = address
        self._timeout_s = timeout_s
        self._max_pixels = None if max_pixels is None else check_max_pixels(max_pixels)
        self._open_transport()

    def _open_transport(self) -> None:
        """Create ``self.transport`` for ``self.protocol`` (each client its own kind)."""
        raise NotImplementedError

    @property
    def mode(self) -> str:
        return self._core.mode

    @property
    def max_pixels(self) -> int:
        """The pixel limit images are checked against (0: none): the client's, else the model's once known."""
        if self._max_pixels is not None:
            return self._max_pixels
        for facts in (self._core.facts, self._classifier_facts):
            if facts is not None and facts.max_pixels is not None:
                return facts.max_pixels
        return DEFAULT_MAX_PIXELS

    def _raw_request(self, canvases: NDArray[Any]) -> tuple[str, dict[str, NDArray[Any]], str]:
        """Client mode's model call: REST sends 8-bit canvases as bytes, gRPC float32 tensor_content."""
        if self.protocol == "rest":
            inputs = {"images": np.asarray([c.tobytes() for c in canvases], dtype=object)}
            facts = self._core.facts
            if facts is not None and facts.rect_stride is not None:  # a --rect export's raw_bytes: the canvas size
                inputs["size_hw"] = np.asarray(canvases.shape[1:3], np.int32)
            return "raw_bytes", inputs, "predictions_bytes"
        return "raw", {"images": canvases.astype(np.float32) / np.float32(255.0)}, "predictions"

    @staticmethod
    def _raw_predictions(outputs: dict[str, NDArray[Any]], name: str = "predictions") -> NDArray[Any]:
        """The raw output ``name`` (``raw``), or its ``name_bytes`` TensorProtos decoded (``raw_bytes``)."""
        if name in outputs:
            return outputs[name]
        from .._wire.tensors import tensor_proto_to_ndarray
        from .._wire.tf_core_pb2 import TensorProto

        if f"{name}_bytes" not in outputs:
            raise RequestError(f"the model's raw outputs lack {name!r} (have {sorted(outputs)})", status="")
        try:
            return np.stack([tensor_proto_to_ndarray(TensorProto.FromString(b)) for b in outputs[f"{name}_bytes"]])
        except Exception as exc:  # a malformed TensorProto (protobuf's DecodeError, the codec's ValueError)
            raise RequestError(f"the model's {name}_bytes output is not a TensorProto: {exc}", status="") from exc

    def _prepare_steps(
        self, images: Sequence[ImageInput], *, facts_steps: Callable[[], _Steps[Any]] | None = None
    ) -> _Steps[list[PreparedImage]]:
        """Plan: the decoded images, each checked against the pixel limit from its header first.

        An image past the default limit, while the model's own limit is unknown, makes the plan
        ask the model (``facts_steps``: a detector's ``_facts_steps`` unless a classifier's is given)
        and check again against what it says.
        """
        try:
            return [prepare(im, max_pixels=self.max_pixels) for im in images]
        except ImageTooLargeError as exc:
            known = self._core.facts is not None or self._classifier_facts is not None
            if self._max_pixels is not None or known or exc.pixels is None:
                raise
            refused = exc
        try:
            yield from (facts_steps or self._facts_steps)()
        except RequestError:
            raise refused from None
        return [prepare(im, max_pixels=self.max_pixels) for im in images]

    def _client_mode_request(
        self, prepared: Sequence[PreparedImage]
    ) -> tuple[list[Any], str, dict[str, NDArray[Any]], str]:
        """Letterbox here and build the raw-model request: (plans, signature, inputs, single output name)."""
        canvases, plans = self._core.canvases(prepared)
        signature, inputs, single = self._raw_request(canvases)
        return plans, signature, inputs, single

    def _client_mode_response(
        self, outputs: dict[str, NDArray[Any]], plans: list[Any], prepared: Sequence[PreparedImage], cfg: NMSConfig
    ) -> list[Detections]:
        facts = self._core.facts
        protos = self._raw_predictions(outputs, "protos") if facts is not None and facts.num_masks else None
        return self._core.client_response(self._raw_predictions(outputs), plans, prepared, cfg, protos)

    def _facts_steps(self) -> _Steps[ModelFacts]:
        """Plan: the model's input size, class names and pixel limit, read once from the server, then cached."""
        core = self._core
        if core.facts is not None:
            return core.facts
        metadata = yield _Metadata()
        size_hw, nc = core.facts_from_metadata(metadata)
        num_masks = core.num_masks_from_metadata(metadata)  # a segmentation model's rows end in its coefficients
        nc -= num_masks
        names = yield _Predict("class_names", {"class_ids": np.arange(nc, dtype=np.int32)}, "class_names")
        known: dict[str, int] = {}
        if core.has_limits(metadata):  # exports before the limit have no `limits` signature
            asked = np.asarray([n.encode() for n in _LIMIT_NAMES], dtype=object)
            limits = yield _Predict(LIMITS_SIGNATURE, {"names": asked}, "values")
            values = np.asarray(limits["values"]).reshape(-1)
            known = {n: int(v) for n, v in zip(_LIMIT_NAMES, values, strict=True) if int(v) >= 0}
        rect_stride = known.get("stride") if known.get("rect") == 1 else None
        if rect_stride is not None:
            size_hw = (known["size_h"], known["size_w"])
        if min(size_hw) <= 0:
            raise RequestError(
                "the model's raw signature has no fixed size and its limits do not say which; re-export it", status=""
            )
        core.facts = ModelFacts(
            size_hw=size_hw,
            class_names=tuple(_text(n) for n in names["class_names"]),
            max_pixels=known.get("max_pixels"),
            rect_stride=rect_stride,
            num_masks=num_masks,
        )
        return core.facts

    def _detect_steps(
        self,
        images: Sequence[ImageInput],
        conf_threshold: float | None,
        iou_threshold: float | None,
        max_det: int | None,
    ) -> _Steps[list[Detections]]:
        """Plan: ``detect_batch`` in either mode."""
        if not images:
            return []
        core = self._core
        cfg = core.config(conf_threshold, iou_threshold, max_det)
        prepared = yield from self._prepare_steps(images)
        if core.mode == "server":
            signature, inputs = core.server_request(prepared, cfg)
            return core.server_response((yield _Predict(signature, inputs)), prepared, cfg)
        yield from self._facts_steps()
        plans, signature, inputs, single = self._client_mode_request(prepared)
        outputs = yield _Predict(signature, inputs, single)
        return self._client_mode_response(outputs, plans, prepared, cfg)

    _classifier_facts: ClassifierFacts | None = None  # a classifier's crop size, names and pixel limit, read once

    def _classifier_facts_steps(self) -> _Steps[ClassifierFacts]:
        if self._classifier_facts is None:
            self._classifier_facts = yield from classifier_facts_steps()
        return self._classifier_facts

    def _classify_steps(self, images: Sequence[ImageInput], top_k: int | None) -> _Steps[list[Classification]]:
        """Plan: ``classify_batch`` in either mode (see :mod:`.classification`)."""
        prepared = yield from self._prepare_steps(images, facts_steps=self._classifier_facts_steps)
        facts = self._classifier_facts
        plan = classify_steps(prepared, mode=self.mode, protocol=self.protocol, facts=facts, k=top_k)
        results, self._classifier_facts = yield from plan
        return results


class Client(_ClientBase):
    """A synchronous client. Use as a context manager or call :meth:`close`.

    ``url``: ``http://host:8501`` (REST) or ``grpc://host:8500`` (gRPC); a bare ``host:port`` is REST
    unless ``protocol="grpc"``. Every option is keyword-only (see :class:`_ClientBase`).
    """

    transport: RestTransport | GrpcTransport

    def _open_transport(self) -> None:
        self.transport = (
            RestTransport(self._address, timeout_s=self._timeout_s)
            if self.protocol == "rest"
            else GrpcTransport(self._address, timeout_s=self._timeout_s)
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def status(self) -> dict[str, Any]:
        return self.transport.status(self._core.target)

    def metadata(self) -> dict[str, Any]:
        return self.transport.metadata(self._core.target)

    @property
    def last_exchange_bytes(self) -> tuple[int, int]:
        """``(request, response)`` sizes in bytes of this client's latest server call (REST: the JSON
        bodies; gRPC: the serialized messages); ``(0, 0)`` before any."""
        return self.transport.last_request_bytes, self.transport.last_response_bytes

    def predict_json(self, *, body: bytes) -> bytes:
        """POST ``body``, a ready-made REST predict request (JSON naming its own ``signature_name``), to
        this client's model and return the response body unparsed. REST only. For benchmarks of other
        clients' request formats (``bench --mode json-floats``); error statuses raise as in :meth:`detect`.
        """
        if not isinstance(self.transport, RestTransport):
            raise InputError(f"predict_json is REST only; this client speaks {self.protocol}")
        return self.transport.predict_raw_json(self._core.target, body)

    def model_facts(self) -> ModelFacts:
        """The model's input size, class names and pixel limit (read once from the server, then cached)."""
        return self._run(self._facts_steps())

    def prepare(self, image: ImageInput) -> PreparedImage:
        """``image`` decoded as ``detect`` decodes it (checked against :attr:`max_pixels` first)."""
        return self._run(self._prepare_steps([image]))[0]

    def detect(
        self,
        image: ImageInput,
        *,
        conf_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_det: int | None = None,
    ) -> Detections:
        return self.detect_batch([image], conf_threshold=conf_threshold, iou_threshold=iou_threshold, max_det=max_det)[
            0
        ]

    def detect_batch(
        self,
        images: Sequence[ImageInput],
        *,
        conf_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_det: int | None = None,
    ) -> list[Detections]:
        return self._run(self._detect_steps(images, conf_threshold, iou_threshold, max_det))

    def classify(self, image: ImageInput, *, top_k: int | None = None) -> Classification:
        """A classification model's most probable classes for ``image`` (``top_k``: the model's 5 by default)."""
        return self.classify_batch([image], top_k=top_k)[0]

    def classify_batch(self, images: Sequence[ImageInput], *, top_k: int | None = None) -> list[Classification]:
        return self._run(self._classify_steps(images, top_k))

    def _run(self, steps: _Steps[_T]) -> _T:
        """Perform a plan's calls, blocking, until it returns."""
        finished, value = _advance(steps, None)
        while not finished:
            finished, value = _advance(steps, self._perform(value))
        return value  # type: ignore[no-any-return]

    def _perform(self, call: _Call) -> Any:
        if isinstance(call, _Predict):
            return self.transport.predict(
                self._core.target, call.signature, call.inputs, single_output=call.single_output
            )
        return self.metadata()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class AsyncClient(_ClientBase):
    """The asyncio twin of :class:`Client`: same arguments, same results, awaitable I/O
    (``httpx.AsyncClient`` for REST, a ``grpc.aio`` channel for gRPC). Requests are built and
    responses parsed by the same code as :class:`Client`'s.
    """

    transport: AsyncRestTransport | AsyncGrpcTransport

    def _open_transport(self) -> None:
        self.transport = (
            AsyncRestTransport(self._address, timeout_s=self._timeout_s)
            if self.protocol == "rest"
            else AsyncGrpcTransport(self._address, timeout_s=self._timeout_s)
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def status(self) -> dict[str, Any]:
        return await self.transport.astatus(self._core.target)

    async def metadata(self) -> dict[str, Any]:
        return await self.transport.ametadata(self._core.target)

    @property
    def last_exchange_bytes(self) -> tuple[int, int]:
        """``(request, response)`` sizes in bytes of this client's latest server call (REST: the JSON
        bodies; gRPC: the serialized messages); ``(0, 0)`` before any."""
        return self.transport.last_request_bytes, self.transport.last_response_bytes

    async def model_facts(self) -> ModelFacts:
        """The model's input size, class names and pixel limit (read once from the server, then cached)."""
        return await self._run(self._facts_steps())

    async def prepare(self, image: ImageInput) -> PreparedImage:
        """``image`` decoded as ``detect`` decodes it (checked against :attr:`max_pixels` first)."""
        return (await self._run(self._prepare_steps([image])))[0]

    async def detect(
        self,
        image: ImageInput,
        *,
        conf_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_det: int | None = None,
    ) -> Detections:
        return (
            await self.detect_batch(
                [image], conf_threshold=conf_threshold, iou_threshold=iou_threshold, max_det=max_det
            )
        )[0]

    async def detect_batch(
        self,
        images: Sequence[ImageInput],
        *,
        conf_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_det: int | None = None,
    ) -> list[Detections]:
        return await self._run(self._detect_steps(images, conf_threshold, iou_threshold, max_det))

    async def classify(self, image: ImageInput, *, top_k: int | None = None) -> Classification:
        """A classification model's most probable classes for ``image`` (``top_k``: the model's 5 by default)."""
        return (await self.classify_batch([image], top_k=top_k))[0]

    async def classify_batch(self, images: Sequence[ImageInput], *, top_k: int | None = None) -> list[Classification]:
        return await self._run(self._classify_steps(images, top_k))

    async def _run(self, steps: _Steps[_T]) -> _T:
        """Perform a plan's calls, awaiting each, until it returns."""
        finished, value = _advance(steps, None)
        while not finished:
            finished, value = _advance(steps, await self._perform(value))
        return value  # type: ignore[no-any-return]

    async def _perform(self, call: _Call) -> Any:
        if isinstance(call, _Predict):
            target = self._core.target
            return await self.transport.apredict(target, call.signature, call.inputs, single_output=call.single_output)
        return await self.metadata()
