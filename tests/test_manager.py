"""The model manager's view of a base path: TF Serving's version-directory rules, listing failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from yolo_tfserving.serving.manager import (
    AVAILABLE,
    END,
    LOADING,
    ModelManager,
    list_version_dirs,
    parse_version_dir,
)
from yolo_tfserving.serving.model_config import ModelConfig, VersionPolicy
from yolo_tfserving.serving.status import ServingStatusError


class FakeServable:
    def __init__(self, name: str, version: int, path: Path) -> None:
        if not (path / "ok").exists():
            raise RuntimeError(f"no model at {path}")
        self.name, self.version, self.path = name, version, path
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _version(base: Path, name: str) -> Path:
    path = base / name
    path.mkdir(parents=True)
    (path / "ok").touch()
    return path


def _manager(base: Path, **config: Any) -> ModelManager:
    return ModelManager([ModelConfig(name="m", base_path=base, **config)], loader=FakeServable, poll_wait_s=0)


@pytest.mark.parametrize(
    ("name", "version"),
    [("1", 1), ("00000123", 123), ("0", 0), ("+7", 7), ("9223372036854775807", (1 << 63) - 1)],
)
def test_version_dir_names(name: str, version: int) -> None:
    assert parse_version_dir(name) == version


@pytest.mark.parametrize("name", ["", "v1", "1.0", "1_000", "-1", "9223372036854775808", "assets", "1a"])
def test_not_version_dir_names(name: str) -> None:
    assert parse_version_dir(name) is None


def test_zero_padded_version_loads_from_its_own_directory(tmp_path: Path) -> None:
    """TF Serving's test models live in <base>/00000123/: version 123, loaded from that directory."""
    padded = _version(tmp_path, "00000123")
    manager = _manager(tmp_path)
    manager.start()
    assert [s.version for s in manager.status("m")] == [123]
    assert manager.status("m")[0].state == AVAILABLE
    with manager.handle("m", 123) as servable:
        assert servable.path == padded


def test_duplicate_version_directories_keep_one(tmp_path: Path) -> None:
    _version(tmp_path, "1")
    _version(tmp_path, "001")
    assert list_version_dirs(tmp_path) == {1: "1"}  # sorted names: "001" then "1"; the later wins


def test_files_and_other_names_are_not_versions(tmp_path: Path) -> None:
    _version(tmp_path, "3")
    (tmp_path / "4").write_text("a file")
    (tmp_path / "assets").mkdir()
    assert list_version_dirs(tmp_path) == {3: "3"}


def test_latest_zero_versions_serves_one() -> None:
    """file_system_storage_path_source serves max(num_versions, 1) latest versions."""
    assert VersionPolicy(kind="latest", num_versions=0).select([1, 2, 3]) == [3]


def test_unlistable_base_path_keeps_serving(tmp_path: Path) -> None:
    """A base path that cannot be listed for a while (renamed, out of file descriptors) unloads nothing."""
    base = tmp_path / "m"
    _version(base, "1")
    manager = _manager(base)
    manager.start()
    moved = tmp_path / "elsewhere"
    base.rename(moved)
    manager.poll_once()
    assert [(s.version, s.state) for s in manager.status("m")] == [(1, AVAILABLE)]
    with manager.handle("m") as servable:
        assert servable.version == 1
    moved.rename(base)
    manager.poll_once()
    assert [(s.version, s.state) for s in manager.status("m")] == [(1, AVAILABLE)]


def test_removed_version_is_unloaded_and_closed(tmp_path: Path) -> None:
    _version(tmp_path, "1")
    two = _version(tmp_path, "2")
    manager = _manager(tmp_path, policy=VersionPolicy(kind="all"))
    manager.start()
    with manager.handle("m", 2) as servable:
        held = servable
    (two / "ok").unlink()
    two.rmdir()
    manager.poll_once()
    assert held.closed
    assert {s.version: s.state for s in manager.status("m")}[1] == AVAILABLE


def test_failed_load_is_retried(tmp_path: Path) -> None:
    """--max_num_load_retries: a version that fails to load is tried again (LOADING meanwhile), then ends."""
    version = tmp_path / "1"
    version.mkdir()  # no "ok" marker yet: the first load fails
    manager = ModelManager(
        [ModelConfig(name="m", base_path=tmp_path)],
        loader=FakeServable,
        poll_wait_s=0,
        max_load_retries=2,
        load_retry_interval_s=0,
    )
    manager.start()
    assert manager.status("m")[0].state == LOADING
    (version / "ok").touch()
    manager.poll_once()
    assert manager.status("m")[0].state == AVAILABLE


def test_retries_run_out(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    manager = ModelManager(
        [ModelConfig(name="m", base_path=tmp_path)],
        loader=FakeServable,
        poll_wait_s=0,
        max_load_retries=1,
        load_retry_interval_s=0,
    )
    manager.start()
    manager.poll_once()
    state = manager.status("m")[0]
    assert state.state == END and "no model at" in state.error_message


def test_labels_must_name_available_versions(tmp_path: Path) -> None:
    """ServerCore validates labels before loading: at start-up only with
    --allow_version_labels_for_unavailable_models; a later reload may label what serves."""
    _version(tmp_path, "1")
    config = ModelConfig(name="m", base_path=tmp_path, labels={"stable": 1})
    with pytest.raises(ServingStatusError, match="which is not currently available for inference"):
        ModelManager([config], loader=FakeServable, poll_wait_s=0).start()
    manager = ModelManager([ModelConfig(name="m", base_path=tmp_path)], loader=FakeServable, poll_wait_s=0)
    manager.start()
    manager.reload([config])
    assert manager.resolve("m", label="stable") == 1
    with pytest.raises(ServingStatusError, match="Unrecognized servable version label: canary"):
        manager.resolve("m", label="canary")
    with pytest.raises(ServingStatusError, match="which is not currently available"):
        manager.reload([ModelConfig(name="m", base_path=tmp_path, labels={"stable": 7})])
    allowing = ModelManager([config], loader=FakeServable, poll_wait_s=0, allow_unavailable_labels=True)
    allowing.start()
    assert allowing.resolve("m", label="stable") == 1
    with pytest.raises(ServingStatusError, match="which is not currently available"):  # re-pointing needs a version
        allowing.reload([ModelConfig(name="m", base_path=tmp_path, labels={"stable": 7})])


def test_reload_adds_and_removes_models(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _version(a, "1")
    _version(b, "5")
    manager = ModelManager([ModelConfig(name="a", base_path=a)], loader=FakeServable, poll_wait_s=0)
    manager.start()
    manager.reload([ModelConfig(name="b", base_path=b)])
    with manager.handle("b") as servable:  # loaded before reload returns
        assert servable.version == 5
    with pytest.raises(ServingStatusError, match="Servable not found for request: Latest"):
        manager.resolve("a")
