"""Issue 10: a seeded fuzz soak of the server (700 REST + 300 gRPC cases, ``bench/_fuzz``) against the tiny model.

One soak runs per module (the server in a child process, as ``bench/fuzz_soak.py`` runs it); each test checks
one class of failure, so a fix shows up as its own test turning green. A failing test lists the cases with a
one-line reproduction each (``bench/fuzz_soak.py --seed 1 --replay rest:N``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("grpc")
pytest.importorskip("psutil")
pytest.importorskip("PIL")


def _load_fuzz_package() -> None:
    """Import bench/_fuzz as ``_fuzz`` without putting bench/ on sys.path (its scripts would shadow test modules)."""
    import importlib.util

    if "_fuzz" in sys.modules:
        return
    package = Path(__file__).resolve().parent.parent / "bench" / "_fuzz"
    spec = importlib.util.spec_from_file_location(
        "_fuzz", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_fuzz"] = module
    spec.loader.exec_module(module)


_load_fuzz_package()

from _fuzz import cases  # noqa: E402
from _fuzz.models import YOLO_NAME, Target, build_half_plus_two, read_facts, write_config  # noqa: E402
from _fuzz.report import table  # noqa: E402
from _fuzz.soak import SoakConfig, SoakResult, build_case, run_soak, schedule  # noqa: E402

pytestmark = pytest.mark.slow  # ~2 min on two busy cores (export, start, 1,000 cases), +~20 s per crash

SEED = 1
# a crash restarts the server (~20 s) so the other classes are still checked on every case
CONFIG = SoakConfig(
    seed=SEED, rest_requests=700, grpc_requests=300, timeout_s=10.0, max_seconds=1200.0, max_restarts=12
)
MAX_RSS_GROWTH_MB = 300


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory, tiny_repo: tuple[Path, Any]) -> Iterator[SoakResult]:
    work = tmp_path_factory.mktemp("fuzz-soak")
    yolo_dir = tiny_repo[0] / YOLO_NAME
    half_dir = build_half_plus_two(work / "half_plus_two")
    config_file = write_config(work / "models.config", {YOLO_NAME: yolo_dir, "half_plus_two": half_dir})
    imgsz, classes = read_facts(yolo_dir)
    target = Target(imgsz=imgsz, num_classes=classes)
    result = run_soak(config_file, target, CONFIG, work / "server.log", repro_args="--tiny")
    print("\n" + table(result))
    yield result


def _listing(result: SoakResult, entries: list[dict[str, Any]]) -> str:
    lines = [f"  [{b['class']}] {b['ref']} {b['kind']}: {b['detail'][:200]}\n      sent: {b['label'][:200]}\n"
             f"      repro: {b['repro']}" for b in entries[:20]]  # fmt: skip
    return f"{len(entries)} case(s):\n" + "\n".join(lines) + f"\n(server log: {result.log_path})"


def _of(result: SoakResult, cls: str) -> list[dict[str, Any]]:
    return [b for b in result.bad if b["class"] == cls]


# -- the harness itself (no server) ----------------------------------------------------------------
def test_cases_are_deterministic() -> None:
    target = Target()
    plan = schedule(CONFIG)
    assert plan == schedule(CONFIG)
    assert len(plan) == 1000 and sum(t == "rest" for t, _ in plan) == 700
    for transport, index in plan[:60]:
        assert build_case(SEED, transport, index, target) == build_case(SEED, transport, index, target)


# -- the soak ----------------------------------------------------------------------------------------
def test_every_case_ran_and_every_generator_kind_was_answered(soak: SoakResult) -> None:
    assert soak.cases_run == 1000, soak.stopped_early
    answered = {kind for kind, counts in soak.by_kind.items() if counts[cases.OK] + counts[cases.CLIENT_ERROR]}
    assert {"rest/url", "rest/json", "rest/image", "rest/framing", "rest/valid"} <= answered
    assert {"grpc/predict", "grpc/garbage", "grpc/claims", "grpc/classify_regress", "grpc/valid"} <= answered
    assert soak.counts[cases.OK] >= 100  # valid traffic is served, not refused wholesale


def test_server_never_crashed(soak: SoakResult) -> None:
    assert soak.counts[cases.CRASH] == 0 and soak.restarts == 0, _listing(soak, _of(soak, cases.CRASH))


def test_no_unexpected_5xx_or_internal(soak: SoakResult) -> None:
    assert soak.counts[cases.UNEXPECTED] == 0, _listing(soak, _of(soak, cases.UNEXPECTED))


def test_no_hangs(soak: SoakResult) -> None:
    assert soak.counts[cases.HANG] == 0, _listing(soak, _of(soak, cases.HANG))


def test_no_tracebacks_in_the_server_log(soak: SoakResult) -> None:
    assert soak.tracebacks == 0, _listing(soak, soak.traceback_cases)


def test_rss_growth_under_300_mb(soak: SoakResult) -> None:
    assert soak.rss_mb["final_growth"] < MAX_RSS_GROWTH_MB, soak.rss_mb


def test_no_request_smuggling_or_desync(soak: SoakResult) -> None:
    """More responses than requests the client framed: the server read a body (or garbage) as a request."""
    assert soak.counts[cases.DESYNC] == 0, _listing(soak, _of(soak, cases.DESYNC))


def test_no_well_formed_request_dropped_without_a_response(soak: SoakResult) -> None:
    assert soak.counts[cases.DROPPED] == 0, _listing(soak, _of(soak, cases.DROPPED))
