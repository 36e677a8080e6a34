"""The soak loop: build each case from the seed, send it, classify it, watch the server (exit, RSS, log)."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import grpc_gen, rest_gen
from .cases import BAD, CLASSES, CRASH, DROPPED, HANG, UNEXPECTED, Case, GrpcCall, HttpRequest, Outcome
from .models import Target
from .senders import send_case
from .server import TRACEBACK, RssMonitor, ServerProcess

MB = 1 << 20


@dataclass(frozen=True)
class SoakConfig:
    seed: int = 1
    rest_requests: int = 700
    grpc_requests: int = 300
    timeout_s: float = 10.0  # per request
    max_seconds: float = 3600.0  # the whole soak
    max_restarts: int = 10  # after a crash the server is restarted (~20 s), this many times at most
    rss_every: int = 100  # cases between RSS timeline points
    warmup: int = 40  # valid requests (3 REST : 1 gRPC) before the RSS baseline, not counted: first-use memory
    only: tuple[str, ...] = ()  # case refs ("rest:12") to run alone (replay)


@dataclass
class Record:
    ref: str
    kind: str
    label: str
    cls: str
    detail: str
    seconds: float
    tracebacks: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class SoakResult:
    config: dict[str, Any]
    target: dict[str, Any]
    counts: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    rss_mb: dict[str, float]
    rss_timeline_mb: list[tuple[int, float]]
    tracebacks: int
    traceback_cases: list[dict[str, Any]]
    bad: list[dict[str, Any]]
    restarts: int
    cases_run: int
    seconds: float
    stopped_early: str
    log_path: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def schedule(config: SoakConfig) -> list[tuple[str, int]]:
    """(transport, index) in run order: REST and gRPC interleaved by a seeded shuffle."""
    if config.only:
        out = []
        for ref in config.only:
            transport, _, index = ref.partition(":")
            out.append((transport, int(index)))
        return out
    order = ["rest"] * config.rest_requests + ["grpc"] * config.grpc_requests
    random.Random(config.seed).shuffle(order)
    counters = {"rest": 0, "grpc": 0}
    out = []
    for transport in order:
        out.append((transport, counters[transport]))
        counters[transport] += 1
    return out


def build_case(seed: int, transport: str, index: int, target: Target) -> Case:
    rng = random.Random(f"{seed}/{transport}/{index}")
    generator = rest_gen.generate if transport == "rest" else grpc_gen.generate
    return generator(rng, index, target)


def warmup_cases(seed: int, target: Target, count: int) -> list[Case]:
    """Valid requests of every route, from their own seeded stream (first-use allocations are not growth)."""
    out = []
    for i in range(count):
        rng = random.Random(f"{seed}/warmup/{i}")
        if i % 4 == 3:
            method, message, label, _ = grpc_gen.valid_case(rng, target)
            call = GrpcCall(grpc_gen.METHODS[method], message.SerializeToString())
            out.append(Case(i, "grpc", "warmup", label, grpc=call))
        else:
            method, path, body, label = rest_gen.valid_case(rng, target)
            headers = (("Content-Type", "application/json"),) if body else ()
            out.append(Case(i, "rest", "warmup", label, http=(HttpRequest(method, path, body, headers),)))
    return out


def run_soak(
    config_file: Path,
    target: Target,
    config: SoakConfig,
    log_path: Path,
    *,
    progress: Callable[[str], None] = lambda _line: None,
    records_path: Path | None = None,
    repro_args: str = "",
) -> SoakResult:
    """Run the soak; ``records_path``: every case's record as one JSON line there; ``repro_args``: what
    ``fuzz_soak.py`` needs to serve the same model (``--tiny``), so each reproduction line builds the same case."""
    models = (target.yolo, target.half)
    server = ServerProcess(config_file, log_path, models=models)
    started = time.monotonic()
    server.start()
    monitor = RssMonitor(server.pid).start()
    rss_start = monitor.sample()
    for case in warmup_cases(config.seed, target, config.warmup):
        send_case(
            case, host="127.0.0.1", rest_port=server.rest_port, grpc_target=server.grpc_target,
            timeout_s=config.timeout_s,
        )  # fmt: skip
    rss_before = monitor.sample()
    peak = rss_before
    timeline: list[tuple[int, float]] = [(0, rss_before / MB)]
    records: list[Record] = []
    restarts, stopped = 0, ""
    plan = schedule(config)
    try:
        for number, (transport, index) in enumerate(plan, 1):
            if time.monotonic() - started > config.max_seconds:
                stopped = f"time budget of {config.max_seconds:.0f} s spent after {number - 1} cases"
                break
            case = build_case(config.seed, transport, index, target)
            offset = server.log_size()
            outcome = send_case(
                case, host="127.0.0.1", rest_port=server.rest_port, grpc_target=server.grpc_target,
                timeout_s=config.timeout_s,
            )  # fmt: skip
            if outcome.cls in (DROPPED, HANG, UNEXPECTED):
                server.wait_exit(1.0)  # a dying server: blame this case, not the next
            crashed = not server.alive
            if crashed:
                outcome = Outcome(CRASH, f"server exited with {server.returncode} ({outcome.cls}: {outcome.detail})")
            tracebacks = server.log_since(offset).count(TRACEBACK)
            records.append(_record(case, outcome, tracebacks))
            if number % config.rss_every == 0:
                timeline.append((number, monitor.sample() / MB))
            if number % 500 == 0:
                progress(f"{number}/{len(plan)} cases, {time.monotonic() - started:.0f} s")
            if crashed:
                peak = max(peak, monitor.peak)
                monitor.stop()
                restarts += 1
                if restarts > config.max_restarts:
                    stopped = f"server crashed {restarts} times"
                    break
                progress(f"server crashed on {case.ref}; restarting")
                try:
                    server.start()
                except RuntimeError as exc:
                    stopped = f"the server did not restart after {case.ref}: {exc}"
                    break
                monitor = RssMonitor(server.pid).start()
    finally:
        monitor.stop()
        peak = max(peak, monitor.peak)
        rss_after = monitor.last
        timeline.append((len(records), rss_after / MB))
        server.stop()
        if records_path is not None:
            records_path.write_text("".join(json.dumps(asdict(r)) + "\n" for r in records))
    return _result(
        config,
        target,
        records,
        (rss_start, rss_before, peak, rss_after),
        timeline,
        restarts,
        stopped,
        started,
        log_path,
        repro_args,
    )


def _record(case: Case, outcome: Outcome, tracebacks: int) -> Record:
    return Record(
        ref=case.ref,
        kind=case.kind,
        label=case.label,
        cls=outcome.cls,
        detail=outcome.detail,
        seconds=round(outcome.seconds, 3),
        tracebacks=tracebacks,
        notes=outcome.notes,
    )


def _result(
    config: SoakConfig,
    target: Target,
    records: list[Record],
    rss: tuple[int, int, int, int],
    timeline: list[tuple[int, float]],
    restarts: int,
    stopped: str,
    started: float,
    log_path: Path,
    repro_args: str,
) -> SoakResult:
    start, before, peak, after = rss
    counts = Counter(r.cls for r in records)
    by_kind: dict[str, Counter[str]] = {}
    for r in records:
        by_kind.setdefault(r.kind, Counter())[r.cls] += 1
    total_tracebacks = log_path.read_bytes().count(TRACEBACK) if log_path.is_file() else 0
    return SoakResult(
        config=asdict(config),
        target=asdict(target),
        counts={c: counts.get(c, 0) for c in CLASSES},
        by_kind={k: {c: v.get(c, 0) for c in CLASSES} for k, v in sorted(by_kind.items())},
        rss_mb={
            "start": round(start / MB, 1),
            "before": round(before / MB, 1),
            "peak": round(peak / MB, 1),
            "after": round(after / MB, 1),
            "peak_growth": round((peak - before) / MB, 1),
            "final_growth": round((after - before) / MB, 1),
        },
        rss_timeline_mb=[(n, round(v, 1)) for n, v in timeline],
        tracebacks=total_tracebacks,
        traceback_cases=[_brief(r, config.seed, repro_args) for r in records if r.tracebacks],
        bad=[_brief(r, config.seed, repro_args) for r in records if r.cls in BAD],
        restarts=restarts,
        cases_run=len(records),
        seconds=round(time.monotonic() - started, 1),
        stopped_early=stopped,
        log_path=str(log_path),
    )


def _brief(r: Record, seed: int, repro_args: str) -> dict[str, Any]:
    return {
        "ref": r.ref,
        "kind": r.kind,
        "class": r.cls,
        "detail": r.detail,
        "label": r.label,
        "tracebacks": r.tracebacks,
        "seconds": r.seconds,
        "repro": " ".join(["bench/fuzz_soak.py", f"--seed {seed}", repro_args, f"--replay {r.ref}"]).replace("  ", " "),
    }
