"""Models over time: which versions to serve, loading, unloading, labels and status.

Like TF Serving's ServerCore + file-system source: each model's base path is polled; the
version policy (``latest{num_versions}``, ``all``, ``specific{versions}``) picks the
versions to serve; new ones load (warm-up records replayed) and become AVAILABLE, removed
ones are unloaded once no request holds them. A version that fails to load is reported in
its status (``END`` with the error) and never replaces a working one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .._repository_layout import list_version_dirs as list_version_dirs
from .._repository_layout import parse_version_dir as parse_version_dir
from .limits import shown
from .model_config import ModelConfig
from .servable import Servable
from .status import Code, ServingStatusError, failed_precondition, invalid_argument, not_found

log = logging.getLogger("yolo_tfserving.serving")

# ModelVersionStatus.State
START, LOADING, AVAILABLE, UNLOADING, END = 10, 20, 30, 40, 50
STATE_NAMES = {
    0: "UNKNOWN",
    START: "START",
    LOADING: "LOADING",
    AVAILABLE: "AVAILABLE",
    UNLOADING: "UNLOADING",
    END: "END",
}


@dataclass
class VersionState:
    version: int
    state: int
    error_code: Code = Code.OK
    error_message: str = ""
    servable: Servable | None = None
    in_flight: int = 0
    attempts: int = 0  # failed load attempts so far
    retry_at: float | None = None  # monotonic time of the next load attempt, while retries remain


Loader = Callable[[str, int, Path], Servable]
WarmUp = Callable[[Servable], int]


class ModelManager:
    """Owns every model's versions; answers handle lookups for requests."""

    def __init__(
        self,
        configs: list[ModelConfig],
        *,
        loader: Loader = Servable,
        warmup: WarmUp | None = None,
        poll_wait_s: float = 1.0,
        max_load_retries: int = 0,
        load_retry_interval_s: float = 60.0,
        allow_unavailable_labels: bool = False,
    ) -> None:
        self._initial = list(configs)
        self._configs: dict[str, ModelConfig] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._loader = loader
        self._warmup = warmup
        self._poll_wait_s = poll_wait_s
        self._max_load_retries = max(0, max_load_retries)
        self._load_retry_interval_s = max(0.0, load_retry_interval_s)
        self._allow_unavailable_labels = allow_unavailable_labels
        self._lock = threading.Condition()
        self._versions: dict[str, dict[int, VersionState]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_lock = threading.RLock()  # one poll at a time (poller thread, config reloads)
        self._reload_lock = threading.Lock()
        self._listing_failed: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Apply the initial config (labels checked, models loaded), then poll in the background."""
        self.reload(self._initial)
        if self._poll_wait_s > 0:
            self._thread = threading.Thread(target=self._poll_loop, name="model-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def reload(self, configs: list[ModelConfig]) -> None:
        """ServerCore::ReloadConfig: check the version labels against what serves now, switch to the new model
        list (removed models unload, new ones load before this returns), keep the models both lists name."""
        with self._reload_lock:
            names = [c.name for c in configs]
            if len(set(names)) != len(names):
                raise invalid_argument("model names in the config must be unique")
            with self._lock:
                labels = self._checked_labels(configs)
                old = self._configs
                self._configs = {c.name: c for c in configs}
                self._labels = labels
                for name in self._configs:
                    self._versions.setdefault(name, {})
                removed = [name for name in old if name not in self._configs]
            for name in removed:
                threading.Thread(target=self._unload_model, args=(name,), name=f"unload-{name}", daemon=True).start()
            with self._poll_lock:
                for config in configs:
                    if config.name not in old or config != old[config.name]:
                        self._poll_model(config)

    def _checked_labels(self, configs: list[ModelConfig]) -> dict[str, dict[str, int]]:
        """UpdateModelVersionLabelMap: every label must point at an AVAILABLE version, except (with
        --allow_version_labels_for_unavailable_models) a new label or one that keeps its version."""
        out: dict[str, dict[str, int]] = {}
        for config in configs:
            states = self._versions.get(config.name, {})
            for label, version in config.labels.items():
                existing = self._labels.get(config.name, {}).get(label)
                allow_any = self._allow_unavailable_labels and (existing is None or existing == version)
                state = states.get(version)
                if not allow_any and (state is None or state.state != AVAILABLE):
                    raise failed_precondition(
                        f"Request to assign label to version {version} of model {config.name}, "
                        "which is not currently available for inference"
                    )
                out.setdefault(config.name, {})[label] = version
        return out

    def _unload_model(self, name: str) -> None:
        with self._lock:
            versions = [v for v, s in self._versions.get(name, {}).items() if s.state == AVAILABLE]
        for version in versions:
            self._unload(name, version)
        with self._lock:
            if name not in self._configs:
                self._versions.pop(name, None)
                self._lock.notify_all()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._poll_wait_s):
            try:
                self.poll_once()
            except Exception:  # a bad poll must never kill the server
                log.exception("polling the model base paths failed")

    def poll_once(self) -> None:
        """One look at every base path; load what the policy wants, unload what it no longer does."""
        with self._poll_lock:
            with self._lock:
                configs = list(self._configs.values())
            for config in configs:
                self._poll_model(config)

    def _poll_model(self, config: ModelConfig) -> None:
        try:
            on_disk = list_version_dirs(config.base_path)
        except OSError as exc:
            # as TF Serving's file-system source: a failed listing changes nothing (no unload)
            if config.name not in self._listing_failed:
                log.warning(
                    "cannot list %s for model %s (%s); serving the versions already loaded",
                    config.base_path,
                    config.name,
                    exc.strerror or exc,
                )
                self._listing_failed.add(config.name)
            return
        self._listing_failed.discard(config.name)
        if not on_disk:
            log.warning("No versions of servable %s found under base path %s", config.name, config.base_path)
        wanted = set(config.policy.select(list(on_disk)))
        for version in sorted(wanted):
            with self._lock:
                known = self._versions.get(config.name, {}).get(version)
            due = known is not None and known.retry_at is not None and time.monotonic() >= known.retry_at
            if known is None or due:
                self._load(config, version, config.base_path / on_disk[version], previous=known)
        with self._lock:
            current = dict(self._versions.get(config.name, {}))
        replacement_ready = any(current[v].state == AVAILABLE for v in wanted if v in current)
        for version, state in current.items():
            # an old version goes only once a wanted one serves (or its files are gone):
            # a version that fails to load never replaces a working one
            if version not in wanted and state.state == AVAILABLE and (replacement_ready or version not in on_disk):
                self._unload(config.name, version)
            elif version not in wanted and state.state == END and state.servable is None:
                # forget failed versions that disappeared from disk so a fixed copy can retry
                if version not in on_disk:
                    with self._lock:
                        self._versions[config.name].pop(version, None)

    def _load(self, config: ModelConfig, version: int, path: Path, previous: VersionState | None = None) -> None:
        state = VersionState(version=version, state=LOADING, attempts=previous.attempts if previous else 0)
        with self._lock:
            if config.name not in self._versions:
                return  # the model left the config meanwhile
            self._versions[config.name][version] = state
        log.info("loading %s version %d from %s", config.name, version, path)
        try:
            servable = self._loader(config.name, version, path)
            if self._warmup is not None:
                replayed = self._warmup(servable)
                log.info("%s version %d: replayed %d warm-up records", config.name, version, replayed)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            log.error("failed to load %s version %d: %s", config.name, version, message)
            with self._lock:
                state.attempts += 1
                if state.attempts <= self._max_load_retries:  # --max_num_load_retries, then give up
                    state.retry_at = time.monotonic() + self._load_retry_interval_s
                    log.info(
                        "will retry %s version %d (%d of %d)",
                        config.name,
                        version,
                        state.attempts,
                        self._max_load_retries,
                    )
                else:
                    state.state = END
                    state.retry_at = None
                state.error_code = (
                    getattr(exc, "code", Code.UNKNOWN) if isinstance(exc, ServingStatusError) else Code.UNKNOWN
                )
                state.error_message = message
                self._lock.notify_all()
            return
        with self._lock:
            state.servable = servable
            state.state = AVAILABLE
            self._lock.notify_all()
        log.info("serving %s version %d", config.name, version)

    def _unload(self, name: str, version: int) -> None:
        with self._lock:
            state = self._versions[name][version]
            state.state = UNLOADING
            while state.in_flight > 0:  # in-flight requests finish on the old version
                self._lock.wait(timeout=1.0)
            servable, state.servable = state.servable, None
            state.state = END
            self._lock.notify_all()
        close = getattr(servable, "close", None)
        if close is not None:
            close()
        log.info("unloaded %s version %d", name, version)

    # -- lookups -----------------------------------------------------------------
    def model_names(self) -> list[str]:
        return list(self._configs)

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> int:
        """The version number a request means (TF Serving's errors when there is none)."""
        with self._lock:
            if label:  # the label map is consulted first: an unknown model's label is an unknown label
                target = self._labels.get(name, {}).get(label)
                if target is None:
                    raise invalid_argument(f"Unrecognized servable version label: {shown(label)}")
                version = target
            if name not in self._configs:
                raise not_found(f"Servable not found for request: {_describe(name, version)}")
            versions = self._versions.get(name, {})
            if version is None:
                ready = [v for v, s in versions.items() if s.state == AVAILABLE]
                if not ready:
                    raise not_found(f"Servable not found for request: {_describe(name, None)}")
                return max(ready)
            state = versions.get(version)
            if state is None or state.state != AVAILABLE:
                raise not_found(f"Servable not found for request: {_describe(name, version)}")
            return version

    @contextmanager
    def handle(self, name: str, version: int | None = None, label: str | None = None) -> Iterator[Servable]:
        """Hold a version for the duration of a request (it is not unloaded meanwhile)."""
        with self._lock:
            resolved = self.resolve(name, version, label)
            state = self._versions[name][resolved]
            assert state.servable is not None
            state.in_flight += 1
            servable = state.servable
        try:
            yield servable
        finally:
            with self._lock:
                state.in_flight -= 1
                self._lock.notify_all()

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[VersionState]:
        """GetModelStatus: one version's state, or every version known (descending); a label is ignored, as
        get_model_status_impl.cc ignores it."""
        del label
        with self._lock:
            versions = self._versions.get(name, {})
            if version is not None:
                if version not in versions:
                    raise not_found(f"Could not find version {version} of model {shown(name)}")
                return [_copy(versions[version])]
            if not versions:
                raise not_found(f"Could not find any versions of model {shown(name)}")
            return [_copy(s) for _, s in sorted(versions.items(), reverse=True)]

    def wait_until_available(self, name: str, version: int | None = None, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while time.monotonic() < deadline:
                states = self._versions.get(name, {})
                if version is None and any(s.state == AVAILABLE for s in states.values()):
                    return True
                if version is not None and version in states and states[version].state in (AVAILABLE, END):
                    return states[version].state == AVAILABLE
                self._lock.wait(timeout=0.2)
        return False

    def available_servables(self) -> list[Servable]:
        with self._lock:
            return [
                s.servable
                for v in self._versions.values()
                for s in v.values()
                if s.state == AVAILABLE and s.servable is not None
            ]


def _copy(state: VersionState) -> VersionState:
    return VersionState(
        version=state.version, state=state.state, error_code=state.error_code, error_message=state.error_message
    )


def _describe(name: str, version: int | None) -> str:
    if version is not None:
        return f"Specific({shown(name)}, {version})"
    return f"Latest({shown(name)})"
