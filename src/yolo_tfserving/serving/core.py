"""The transport-free core both front ends call: decode -> infer -> encode happens around it.

REST and gRPC parse their wire formats into numpy inputs and a :class:`ModelRef`, call
:class:`DataPlane`, and render what it returns. Every failure is a
:class:`~.status.ServingStatusError`; the front ends map its code (``status.http_status``
for REST, the code itself for gRPC). Metrics are recorded here, once for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from .batching import BatchScheduler, shape_key
from .classify_regress import (
    Classifications,
    Kind,
    Regressions,
    Task,
    classifications,
    examples_tensor,
    feed_names,
    fetch_list,
    regressions,
    task_for,
    task_for_method,
)
from .limits import Admission, RequestLimits
from .manager import STATE_NAMES, ModelManager, VersionState
from .metrics import Metrics
from .servable import CLASSIFY_METHOD, DEFAULT_SIGNATURE, PREDICT_METHOD, REGRESS_METHOD, Servable, SignatureInfo
from .status import Code, ServingStatusError, invalid_argument

_PREDICT_METHODS = (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD)
#: a request's inputs, or a function of the signature that decodes them (REST's JSON is read by the signature)
Inputs = Mapping[str, NDArray[Any]] | Callable[[SignatureInfo], Mapping[str, NDArray[Any]]]


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
    outputs: dict[str, NDArray[Any]]


class DataPlane:
    def __init__(
        self,
        manager: ModelManager,
        *,
        batcher: BatchScheduler | None = None,
        metrics: Metrics | None = None,
        check_method_names: bool = False,
        limits: RequestLimits | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.manager = manager
        self.batcher = batcher
        self.metrics = metrics or Metrics()
        self.limits = limits or RequestLimits()
        #: per-model concurrency (None: unbounded, for tests that drive the core directly)
        self.admission = admission
        #: --enable_signature_method_name_check (off in TF Serving by default: TF2 signatures say "predict")
        self.check_method_names = check_method_names

    @contextmanager
    def _admitted(self, ref: ModelRef, deadline: float | None) -> Iterator[None]:
        """A run slot of the model (a bounded wait in its queue, or UNAVAILABLE at once when that is full)."""
        _check_deadline(deadline)
        if self.admission is None:
            yield
            return
        with self.admission.slot(ref.name, deadline):
            yield

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
    def predict(
        self,
        ref: ModelRef,
        signature_name: str | None,
        inputs: Inputs,
        *,
        output_filter: list[str] | None = None,
        entrypoint: str = "REST",
        missing_signature: Callable[[str], ServingStatusError] | None = None,
        deadline: float | None = None,
    ) -> PredictResult:
        """Run a signature on one version, held for the whole request (one lease: the signature that decodes the
        inputs is the one that runs them). ``inputs`` may be a function of the signature (REST reads JSON by it).
        ``deadline`` (``time.monotonic()``): past it the request is not started."""
        with (
            self._observe(ref, "predict", entrypoint),
            self._admitted(ref, deadline),
            self.manager.handle(ref.name, ref.version, ref.label) as servable,
        ):
            key = signature_name or DEFAULT_SIGNATURE
            if missing_signature is not None and key not in servable.signatures:
                raise missing_signature(key)
            signature = servable.signature(signature_name)
            if self.check_method_names and signature.method_name not in _PREDICT_METHODS:
                raise ServingStatusError(
                    Code.INTERNAL,
                    f"Expected prediction signature method_name to be one of "
                    f"{{{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. "
                    f"Was: {signature.method_name}",
                )
            feeds = inputs(signature) if callable(inputs) else inputs
            self.limits.check_arrays(feeds)
            _check_deadline(deadline)
            outputs = self._run(servable, signature, feeds, output_filter)
            return PredictResult(
                name=ref.name, version=servable.version, signature_name=signature.name, outputs=outputs
            )

    def _run(
        self,
        servable: Servable,
        signature: SignatureInfo,
        inputs: Mapping[str, NDArray[Any]],
        output_filter: list[str] | None,
    ) -> dict[str, NDArray[Any]]:
        start = time.perf_counter()

        def run(feeds: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
            return servable.run(signature, feeds, None)

        if self.batcher is not None and not output_filter:
            key = (servable.name, servable.version, signature.name, shape_key(inputs))
            outputs = self.batcher.submit(key, inputs, run)
        else:
            outputs = servable.run(signature, inputs, output_filter)
        self.metrics.record_runtime(model=servable.name, api="predict", latency_us=(time.perf_counter() - start) * 1e6)
        return outputs

    # -- classify / regress / multi-inference ---------------------------------------
    def classify(
        self,
        ref: ModelRef,
        signature_name: str | None,
        examples: Sequence[bytes],
        *,
        entrypoint: str = "REST",
        deadline: float | None = None,
    ) -> tuple[int, Classifications]:
        """Serialized tf.Examples in; per example a list of (label, score)."""
        version, result = self._infer(
            ref, "classify", signature_name, examples, entrypoint=entrypoint, deadline=deadline
        )
        return version, result  # type: ignore[return-value]

    def regress(
        self,
        ref: ModelRef,
        signature_name: str | None,
        examples: Sequence[bytes],
        *,
        entrypoint: str = "REST",
        deadline: float | None = None,
    ) -> tuple[int, Regressions]:
        """Serialized tf.Examples in; one value per example."""
        version, result = self._infer(
            ref, "regress", signature_name, examples, entrypoint=entrypoint, deadline=deadline
        )
        return version, result  # type: ignore[return-value]

    def multi_inference(
        self,
        ref: ModelRef,
        tasks: Sequence[tuple[str, str, str | None]],
        examples: Sequence[bytes],
        *,
        deadline: float | None = None,
    ) -> tuple[int, list[tuple[str, Classifications | Regressions]]]:
        """MultiInference: ``tasks`` are (model name, method name, signature name); the version is the one
        ``ref`` (the first task's spec) names. Returns (version, [(kind, result) per task])."""
        seen: set[str] = set()
        for name, _, signature_name in tasks:
            if not name:
                raise invalid_argument("Found ModelSpec with an empty model name.")
            if name != ref.name:
                raise invalid_argument("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
            key = signature_name or DEFAULT_SIGNATURE
            if key in seen:
                raise invalid_argument(f"Duplicate evaluation of signature: {key}")
            seen.add(key)
        with self._admitted(ref, deadline), self.manager.handle(ref.name, ref.version, ref.label) as servable:
            plan = []
            for _, method, signature_name in tasks:
                key = signature_name or DEFAULT_SIGNATURE
                signature = servable.signatures.get(key)
                if signature is None:
                    raise invalid_argument(f"Requested signature not found in model graph: {key}")
                plan.append(task_for_method(method, signature, check_method=self.check_method_names))
            return servable.version, self._run_tasks(servable, plan, examples)

    def _infer(
        self,
        ref: ModelRef,
        kind: Kind,
        signature_name: str | None,
        examples: Sequence[bytes],
        *,
        entrypoint: str,
        deadline: float | None,
    ) -> tuple[int, Classifications | Regressions]:
        with (
            self._observe(ref, kind, entrypoint),
            self._admitted(ref, deadline),
            self.manager.handle(ref.name, ref.version, ref.label) as servable,
        ):
            key = signature_name or DEFAULT_SIGNATURE
            signature = servable.signatures.get(key)
            if signature is None:
                raise invalid_argument(f"No signature was found with the name: {key}")
            task = task_for(kind, signature, check_method=self.check_method_names)
            ((_, result),) = self._run_tasks(servable, [task], examples)
            return servable.version, result

    def _run_tasks(
        self, servable: Servable, tasks: list[Task], examples: Sequence[bytes]
    ) -> list[tuple[str, Classifications | Regressions]]:
        """One session run feeding the examples to every task's input, fetching every task's outputs."""
        batch = examples_tensor(examples)
        self.limits.check_arrays({"inputs": batch})
        start = time.perf_counter()
        fetches = fetch_list(tasks)
        feeds = dict.fromkeys(feed_names(tasks), batch)
        values = servable.run_tensors(feeds, fetches)
        self.metrics.record_runtime(
            model=servable.name, api=tasks[0].kind, latency_us=(time.perf_counter() - start) * 1e6
        )
        fetched = dict(zip(fetches, values, strict=True))
        out: list[tuple[str, Classifications | Regressions]] = []
        for task in tasks:
            if task.kind == "classify":
                out.append((task.kind, classifications(task, fetched, len(batch))))
            else:
                out.append((task.kind, regressions(task, fetched, len(batch))))
        return out

    # -- metadata / status -----------------------------------------------------------
    def metadata(self, ref: ModelRef) -> tuple[int, Any]:
        """The resolved version and TF Serving's ``SignatureDefMap`` message."""
        with self.manager.handle(ref.name, ref.version, ref.label) as servable:
            return servable.version, servable.signature_def_map()

    def status(self, ref: ModelRef) -> list[VersionState]:
        return self.manager.status(ref.name, ref.version, ref.label)


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise ServingStatusError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded")


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
