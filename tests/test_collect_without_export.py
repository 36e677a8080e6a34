"""The suite collects without the ``[export]`` extra: modules that need torch or the converters skip.

A user who installs only ``[serve]`` or ``[client]`` and runs the tests gets skips, not import errors. The
check runs pytest's collection in a child process whose imports of the export stack fail as they do when
the packages are not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent
BLOCKER = """
import sys
BLOCKED = {"torch", "onnx", "onnx2tf", "onnxruntime", "onnxsim", "onnxscript", "sng4onnx", "onnx_graphsurgeon"}

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def test_the_suite_collects_without_the_export_extra(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True, check=False)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr  # the blocker works
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(TESTS)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=TESTS.parent,
    )
    tail = "\n".join(done.stdout.splitlines()[-30:])
    assert done.returncode == 0, f"collection failed without [export]:\n{tail}\n{done.stderr[-2000:]}"
    assert "error" not in done.stdout.splitlines()[-1].lower(), tail
