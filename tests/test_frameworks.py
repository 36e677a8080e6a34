"""TensorFlow's native start-up lines are quiet unless asked for (issue 12: they reached the user)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")

NOISE = ("Unable to register", "computation placer already registered", "absl::InitializeLog")
SCRIPT = "from yolo_tfserving._deps import require; require('tensorflow'); print('imported')"


def _import_stderr(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "YOLO_TFSERVING_VERBOSE")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env={**clean, **env}, check=True
    )
    assert done.stdout.strip() == "imported"
    return done.stderr


def test_tensorflow_imports_quietly_and_verbose_shows_it() -> None:
    loud = _import_stderr(YOLO_TFSERVING_VERBOSE="1")
    quiet = _import_stderr()
    assert not any(n in quiet for n in NOISE), quiet
    if not any(n in loud for n in NOISE):
        pytest.skip("this TensorFlow build prints no start-up noise to filter")
