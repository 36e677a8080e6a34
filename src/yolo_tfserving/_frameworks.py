"""The frameworks' own chatter, quieted in one place (``--verbose`` shows it).

Importing TensorFlow prints C++ log lines ("Unable to register cuDNN factory", "computation placer already
registered", "oneDNN custom operations are on" ...) straight to file descriptor 2 while its libraries load,
before any logging setting applies: no environment variable silences them. :func:`quiet_import` therefore
imports a noisy framework with fd 2 pointed at a temporary file and passes on every line that is not such
known noise. :func:`configure` sets the frameworks' log levels (TensorFlow's C++ runtime, absl) for the
rest of the run. Both do nothing when verbose.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

VERBOSE_ENV = "YOLO_TFSERVING_VERBOSE"
#: modules whose import prints native noise
NOISY = frozenset({"tensorflow", "onnx2tf", "tensorflow_text", "tf_keras", "tensorflow_serving"})
_NOISE = re.compile(
    rb"All log messages before absl::InitializeLog|Unable to register cu(DNN|FFT|BLAS) factory|"
    rb"computation placer already registered|Could not find cuda drivers|TF-TRT Warning|"
    rb"oneDNN custom operations are on|This TensorFlow binary is optimized|To enable the following instructions|"
    rb"cpu_feature_guard|mlir_graph_optimization_pass|cuInit|failed call to cuInit|"
    rb"Skipping the delay kernel|tensorflow/core/util/port\.cc"
)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def configure(*, verbose_output: bool = False) -> None:
    """Log levels for the frameworks: TensorFlow's C++ runtime and absl warnings and up (all with verbose)."""
    if verbose_output:
        os.environ[VERBOSE_ENV] = "1"
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _native_stderr_filtered() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = b"".join(line for line in capture.read().splitlines(keepends=True) if not _NOISE.search(line))
            if kept:
                os.write(2, kept)


def quiet_import(module: str) -> ModuleType:
    """Import ``module``; a noisy framework's native start-up lines are dropped (unless verbose)."""
    root = module.split(".")[0]
    if root not in NOISY or root in sys.modules or verbose():
        return importlib.import_module(module)
    with _native_stderr_filtered():
        return importlib.import_module(module)


def preload_tensorflow() -> None:
    """Import TensorFlow now, quietly, if it is installed (commands that will need it call this first, so that
    a later plain ``import tensorflow`` deep in a library finds it loaded)."""
    with contextlib.suppress(ImportError):
        quiet_import("tensorflow")
