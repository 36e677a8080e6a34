"""The transport-free core both front ends call: decode -> infer -> encode happens around it.

REST and gRPC parse their wire formats into numpy inputs and a :class:`ModelRef`, call
:class:`DataPlane`, and render what it returns. Every failure is a
:class:`~.status.ServingStatusError`; the front ends map its code (``status.http_status``
for REST, the code itself for gRPC). Metrics are recorded here, once for both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .batching import BatchScheduler, shape_key
from .manager import STATE_NAMES, ModelManager, VersionState
from .metrics import Metrics
from .servable import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD, Servable, SignatureInfo
from .status import Code, ServingStatusError, invalid_argument


@dataclass(frozen=True)
class ModelRef:
    """What a request names: model, and optionally a version or a label."""

    name: str
    version: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.version is not None and self.label is not None:
            raise invalid_argument("A request may name a version or a version label, not both")


@dataclass(frozen=True)
class PredictResult:
    name: str
    version: int
    signature_name: str
    outputs: dict[str, np.ndarray]


class DataPlane:
    def __init__(
        self, manager: ModelManager, *, batcher: BatchScheduler | None = None, metrics: Metrics | None = None
    ) -> None:
        self.manager = manager
        self.batcher = batcher
        self.metrics = metrics or Metrics()

    @contextmanager
    def _observe(self, ref: ModelRef, api: str, entrypoint: str) -> Iterator[None]:
        start = time.perf_counter()
        status = "OK"
        try:
            yield
        except ServingStatusError as exc:
            status = exc.code.name
            raise
        except Exception:
            status = "INTERNAL"
            raise
        finally:
            self.metrics.record_request(
                model=ref.name,
                api=api,
                entrypoint=entrypoint,
                status=status,
                latency_us=(time.perf_counter() - start) * 1e6,
            )

    # -- predict -------------------------------------------------------------------
    def signature_for(self, ref: ModelRef, signature_name: str | None) -> SignatureInfo:
        with self.manager.handle(ref.name, ref.version, ref.label) as servable:
            return servable.signature(signature_name)

    def predict(
        self,
        ref: ModelRef,
        signature_name: str | None,
        inputs: Mapping[str, np.ndarray],
        *,
        output_filter: list[str] | None = None,
        entrypoint: str = "REST",
    ) -> PredictResult:
        with (
            self._observe(ref, "predict", entrypoint),
            self.manager.handle(ref.name, ref.version, ref.label) as servable,
        ):
            signature = servable.signature(signature_name)
            if signature.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD, ""):
                raise invalid_argument(
                    f"Expected prediction signature method_name to be one of "
                    f"{{{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. "
                    f"Was: {signature.method_name}"
                )
            outputs = self._run(servable, signature, inputs, output_filter)
            return PredictResult(
                name=ref.name, version=servable.version, signature_name=signature.name, outputs=outputs
            )

    def _run(
        self,
        servable: Servable,
        signature: SignatureInfo,
        inputs: Mapping[str, np.ndarray],
        output_filter: list[str] | None,
    ) -> dict[str, np.ndarray]:
        start = time.perf_counter()

        def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return servable.run(signature, feeds, None)

        if self.batcher is not None and not output_filter:
            key = (servable.name, servable.version, signature.name, shape_key(inputs))
            outputs = self.batcher.submit(key, inputs, run)
        else:
            outputs = servable.run(signature, inputs, output_filter)
        self.metrics.record_runtime(model=servable.name, api="predict", latency_us=(time.perf_counter() - start) * 1e6)
        return outputs

    # -- classify / regress ----------------------------------------------------------
    def _run_examples(
        self,
        ref: ModelRef,
        signature_name: str | None,
        examples: list[bytes],
        *,
        api: str,
        method: str,
        entrypoint: str,
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Serialized tf.Examples through a classify/regress signature: (version, outputs)."""
        with (
            self._observe(ref, api, entrypoint),
            self.manager.handle(ref.name, ref.version, ref.label) as servable,
        ):
            signature = servable.signature(signature_name)
            if signature.method_name != method:
                kind = "classification" if api == "classify" else "regression"
                raise invalid_argument(
                    f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}"
                )
            outputs = self._run(servable, signature, {_single_input(signature): _examples(examples)}, None)
            return servable.version, outputs

    def classify(
        self, ref: ModelRef, signature_name: str | None, examples: list[bytes], *, entrypoint: str = "REST"
    ) -> tuple[int, list[list[tuple[str, float]]]]:
        """Serialized tf.Examples in; per example a list of (label, score)."""
        version, outputs = self._run_examples(
            ref, signature_name, examples, api="classify", method=CLASSIFY_METHOD, entrypoint=entrypoint
        )
        classes = outputs.get("classes")
        scores = outputs.get("scores")
        if classes is None and scores is None:
            raise invalid_argument("Expected classification signature outputs to contain classes or scores")
        results = []
        for i in range(len(examples)):
            row_scores = scores[i].reshape(-1) if scores is not None else None
            row_classes = classes[i].reshape(-1) if classes is not None else None
            count = len(row_scores) if row_scores is not None else len(row_classes)  # type: ignore[arg-type]
            results.append(
                [
                    (
                        row_classes[j].decode() if row_classes is not None else "",
                        float(row_scores[j]) if row_scores is not None else 0.0,
                    )
                    for j in range(count)
                ]
            )
        return version, results

    def regress(
        self, ref: ModelRef, signature_name: str | None, examples: list[bytes], *, entrypoint: str = "REST"
    ) -> tuple[int, list[float]]:
        version, outputs = self._run_examples(
            ref, signature_name, examples, api="regress", method=REGRESS_METHOD, entrypoint=entrypoint
        )
        values = outputs.get("outputs")
        if values is None:
            raise invalid_argument("Expected regression signature outputs to contain 'outputs'")
        return version, [float(v) for v in values.reshape(len(examples), -1)[:, 0]]

    # -- metadata / status -----------------------------------------------------------
    def metadata(self, ref: ModelRef, *, entrypoint: str = "REST") -> tuple[int, Any]:
        """The resolved version and TF Serving's ``SignatureDefMap`` message."""
        with self.manager.handle(ref.name, ref.version, ref.label) as servable:
            return servable.version, servable.signature_def_map()

    def status(self, ref: ModelRef) -> list[VersionState]:
        return self.manager.status(ref.name, ref.version, ref.label)


def status_json(states: list[VersionState]) -> dict[str, Any]:
    """``GetModelStatusResponse`` in TF Serving's REST JSON form."""
    return {
        "model_version_status": [
            {
                "version": str(s.version),
                "state": STATE_NAMES.get(s.state, "UNKNOWN"),
                "status": {"error_code": Code(s.error_code).name, "error_message": s.error_message},
            }
            for s in states
        ]
    }


def _single_input(signature: SignatureInfo) -> str:
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    return next(iter(signature.inputs))


def _examples(examples: list[bytes]) -> np.ndarray:
    if not examples:
        raise invalid_argument("Input is empty.")
    return np.asarray(examples, dtype=object)
