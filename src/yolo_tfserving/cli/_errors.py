"""One table that turns exceptions into one actionable line and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .._errors import (
    CheckpointError,
    ExportError,
    InputError,
    MissingDependencyError,
    ModelNotFoundError,
    OutputExistsError,
    ParityError,
    RequestError,
    ServerUnavailableError,
    UnsafeCheckpointError,
    YoloTFServingError,
)

# (exception type, exit code, hint). First match wins: most specific first.
ERROR_TABLE: list[tuple[type[BaseException], int, str]] = [
    (MissingDependencyError, 3, ""),
    (UnsafeCheckpointError, 2, "only YOLOv5 checkpoints from trusted sources can be exported"),
    (CheckpointError, 2, "pass a YOLOv5 .pt checkpoint (v5.0-v7.0) or an .onnx written by YOLOv5's export.py"),
    (OutputExistsError, 2, ""),
    (ParityError, 4, "the converted model disagrees with PyTorch; please report it with the parity table"),
    (InputError, 2, ""),
    (ServerUnavailableError, 3, ""),
    (ModelNotFoundError, 2, "check --model/--version, or `curl <url>/v1/models/<name>` for what is served"),
    (RequestError, 1, ""),
    (ExportError, 1, ""),
    (YoloTFServingError, 1, ""),
    (FileNotFoundError, 2, "check the path"),
    (PermissionError, 2, "check the directory's permissions"),
    (OSError, 1, ""),
]


def describe(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for ``exc``."""
    for exc_type, code, hint in ERROR_TABLE:
        if isinstance(exc, exc_type):
            message = str(exc) or exc_type.__name__
            if isinstance(exc, OSError) and not isinstance(exc, YoloTFServingError) and exc.filename:
                message = f"{exc.strerror or message}: {exc.filename}"
            return code, f"error: {message}" + (f" ({hint})" if hint else "")
    return 1, f"error: unexpected {type(exc).__name__}: {exc}"


@contextmanager
def friendly_errors(echo: Callable[[str], None] | None = None) -> Iterator[None]:
    """Run a command body; known errors become one line on stderr and an exit code."""
    try:
        yield
    except KeyboardInterrupt:
        print("error: interrupted; nothing half-written was left behind", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # the one place foreign errors become messages
        code, message = describe(exc)
        (echo or (lambda m: print(m, file=sys.stderr)))(message)
        raise SystemExit(code) from None
