"""`make protos`: compile ``src/yolo_tfserving/_wire/*.proto`` into the committed Python modules.

For every ``X.proto`` it writes, next to the source: ``X_pb2.py`` (protoc's Python generator), ``X_pb2.pyi``
(mypy-protobuf's stubs) and, for files that define services, ``X_pb2_grpc.py`` / ``X_pb2_grpc.pyi`` (gRPC's
generator, mypy-protobuf's gRPC stubs). Each ``X_pb2.py`` is then rewritten to add its file to the package's
private descriptor pool (``yolo_tfserving._wire._pool.POOL``) and build its classes with
``_pool.build_messages``, instead of protobuf's default pool and symbol database, where TensorFlow registers
the same full names.

The output depends only on the sources and the pinned generators (grpcio-tools, mypy-protobuf), so running
this twice gives the same bytes; ``tests/test_wire_generated.py`` checks the committed files are up to date.

    python scripts/gen_protos.py            # regenerate in place
    python scripts/gen_protos.py --out DIR  # write DIR/yolo_tfserving/_wire/... instead
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = Path("yolo_tfserving") / "_wire"
WIRE = SRC / PACKAGE
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")

_DEFAULT_POOL_IMPORT = "from google.protobuf import descriptor_pool as _descriptor_pool\n"
_PRIVATE_POOL_IMPORT = "from yolo_tfserving._wire import _pool\n"
_DEFAULT_POOL_ADD = "_descriptor_pool.Default().AddSerializedFile("
_PRIVATE_POOL_ADD = "_pool.POOL.AddSerializedFile("
_DEFAULT_BUILD = "_builder.BuildTopDescriptorsAndMessages("
_PRIVATE_BUILD = "_pool.build_messages("
_IMPORT_RE = re.compile(r'^import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.MULTILINE)
_SERVICE_RE = re.compile(r"^service\s+\w+", re.MULTILINE)


def _plugin(name: str) -> str:
    """A protoc plugin installed next to this interpreter (a venv's bin/), else on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: pip install -c constraints.txt -e '.[dev]'")
    return found


def _protoc(args: list[str]) -> None:
    try:
        from grpc_tools import protoc
    except ImportError:
        raise SystemExit("grpc_tools not found: pip install -c constraints.txt -e '.[dev]'") from None
    import importlib.resources

    include = str(importlib.resources.files("grpc_tools") / "_proto")  # the well-known types' sources
    code = protoc.main(["grpc_tools.protoc", f"-I{SRC}", f"-I{include}", *args])
    if code != 0:
        raise SystemExit(f"protoc failed ({code}): {' '.join(args)}")


def _private_pool(text: str, name: str) -> str:
    """``X_pb2.py`` with its file added to our private pool instead of protobuf's default one."""
    for old, new in (
        (_DEFAULT_POOL_IMPORT, _PRIVATE_POOL_IMPORT),
        (_DEFAULT_POOL_ADD, _PRIVATE_POOL_ADD),
        (_DEFAULT_BUILD, _PRIVATE_BUILD),
    ):
        if text.count(old) != 1:
            raise SystemExit(f"{name}: expected one {old.strip()!r} in protoc's output (generator changed?)")
        text = text.replace(old, new)
    if "Default()" in text.replace("_symbol_database.Default()", ""):
        raise SystemExit(f"{name}: still refers to a default pool")
    return text


def _check_imports(protos: list[Path]) -> None:
    from yolo_tfserving._wire._pool import WELL_KNOWN_FILES

    ours = {str(PACKAGE / p.name) for p in protos}
    for proto in protos:
        for imported in _IMPORT_RE.findall(proto.read_text()):
            if imported not in ours and imported not in WELL_KNOWN_FILES:
                raise SystemExit(f"{proto.name} imports {imported}, which the private pool does not hold")


def generate(out: Path) -> list[Path]:
    """Write the generated modules under ``out / yolo_tfserving/_wire``; return their paths (sorted)."""
    protos = sorted(WIRE.glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files in {WIRE}")
    sys.path.insert(0, str(SRC))
    _check_imports(protos)
    sources = [str(p.relative_to(SRC)) for p in protos]
    services = [str(p.relative_to(SRC)) for p in protos if _SERVICE_RE.search(p.read_text())]
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp)
        mypy = f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}"
        _protoc([mypy, f"--python_out={build}", f"--mypy_out={build}", *sources])
        if services:
            grpc_mypy = f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}"
            _protoc([grpc_mypy, f"--grpc_python_out={build}", f"--mypy_grpc_out={build}", *services])
        target = out / PACKAGE
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for path in sorted((build / PACKAGE).iterdir()):
            if not path.name.endswith(GENERATED_SUFFIXES):
                raise SystemExit(f"unexpected generator output {path.name}")
            text = path.read_text()
            if path.name.endswith("_pb2.py"):
                text = _private_pool(text, path.name)
            dest = target / path.name
            dest.write_text(text)
            written.append(dest)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SRC, help="root to write yolo_tfserving/_wire/ under")
    args = parser.parse_args(argv)
    if args.out.resolve() == SRC.resolve():
        for stale in WIRE.iterdir():  # a removed .proto leaves no module behind
            if stale.name.endswith(GENERATED_SUFFIXES):
                stale.unlink()
    for path in generate(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
