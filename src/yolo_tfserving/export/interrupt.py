"""Ctrl-C (or SIGTERM) during an export: stop at once, leave nothing behind, exit 130.

onnx2tf, and the onnxsim it runs, catch every exception with bare ``except:`` clauses -- the
KeyboardInterrupt of a Ctrl-C included -- so an interrupt during conversion used to be swallowed and the
export finished with exit 0. An export therefore does not rely on the interrupted code to unwind: while
:func:`exit_on_interrupt` is active, SIGINT and SIGTERM run a handler that removes every path registered
with :func:`remove_on_interrupt` (the staging version directory, scratch directories), ends the export's
child processes, says so on stderr and exits with status 130.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

EXIT_INTERRUPTED = 130
MESSAGE = "error: interrupted; nothing half-written was left behind"

_paths: list[Path] = []
_lock = threading.Lock()


@contextlib.contextmanager
def remove_on_interrupt(path: Path) -> Iterator[Path]:
    """Register ``path`` (a file or directory the export created) for removal if the export is interrupted."""
    with _lock:
        _paths.append(path)
    try:
        yield path
    finally:
        with _lock:
            if path in _paths:
                _paths.remove(path)


def _end_children() -> None:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with the export extra
        return
    with contextlib.suppress(Exception):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(Exception):
                child.kill()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    _end_children()
    with _lock:
        paths = list(reversed(_paths))
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    with contextlib.suppress(Exception):
        sys.stderr.write(MESSAGE + "\n")
        sys.stderr.flush()
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()  # noqa: SLF001 - os._exit skips atexit; run the libraries' own clean-up (TensorFlow's autograph temp files ...)
    os._exit(EXIT_INTERRUPTED)  # the interrupted code may swallow exceptions: do not wait for it to unwind


@contextlib.contextmanager
def exit_on_interrupt() -> Iterator[None]:
    """For the duration of an export (main thread only): SIGINT/SIGTERM clean up and exit 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
