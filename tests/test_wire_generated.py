"""The committed generated modules of yolo_tfserving._wire are what scripts/gen_protos.py makes, byte for byte."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WIRE = ROOT / "src" / "yolo_tfserving" / "_wire"
SCRIPT = ROOT / "scripts" / "gen_protos.py"
GENERATED = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _generators_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("grpc_tools", "mypy_protobuf"))


@pytest.mark.skipif(not _generators_installed(), reason="grpcio-tools / mypy-protobuf not installed (the dev extra)")
def test_committed_modules_are_regenerated_byte_for_byte(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    fresh = {p.name: p.read_bytes() for p in (tmp_path / "yolo_tfserving" / "_wire").iterdir()}
    committed = {p.name: p.read_bytes() for p in WIRE.iterdir() if p.name.endswith(GENERATED)}
    assert sorted(fresh) == sorted(committed), "run `make protos`"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"out of date (run `make protos`): {stale}"


def test_every_proto_has_its_module() -> None:
    for proto in WIRE.glob("*.proto"):
        assert (WIRE / f"{proto.stem}_pb2.py").is_file(), proto.name
        assert (WIRE / f"{proto.stem}_pb2.pyi").is_file(), proto.name


def test_generated_code_fits_the_runtime_range() -> None:
    """No runtime version check (protoc >= 26 adds one that refuses protobuf < 5.26), no grpcio version check,
    no registration in protobuf's default pool."""
    for path in WIRE.glob("*_pb2*.py"):
        text = path.read_text()
        assert "runtime_version" not in text, path.name
        assert "GRPC_GENERATED_VERSION" not in text and "grpc_version" not in text, path.name
        assert "_descriptor_pool.Default()" not in text and "BuildTopDescriptorsAndMessages" not in text, path.name
