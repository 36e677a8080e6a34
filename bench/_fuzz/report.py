"""The soak's result as text tables (and the list of unexpected outcomes, one reproduction each)."""

from __future__ import annotations

from .cases import CLASSES
from .soak import SoakResult

SHORT = {
    "ok": "ok",
    "client_error": "4xx",
    "closed": "closed",
    "abandoned": "abandon",
    "unexpected": "5xx/INT",
    "hang": "hang",
    "dropped": "dropped",
    "desync": "desync",
    "crash": "crash",
}


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def table(result: SoakResult, *, limit: int = 20) -> str:
    header = ["kind", *(SHORT[c] for c in CLASSES), "total"]
    rows = [
        [kind, *(str(counts[c]) for c in CLASSES), str(sum(counts.values()))] for kind, counts in result.by_kind.items()
    ]
    rows.append(["all", *(str(result.counts[c]) for c in CLASSES), str(result.cases_run)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    rss = result.rss_mb
    cfg = result.config
    lines = [
        f"fuzz soak: seed {cfg['seed']}, {cfg['rest_requests']} REST + {cfg['grpc_requests']} gRPC cases planned, "
        f"{result.cases_run} run in {result.seconds:.0f} s; YOLO input {result.target['imgsz']}, "
        f"{result.restarts} server restart(s)"
        + (f"; stopped early: {result.stopped_early}" if result.stopped_early else ""),
        "",
        _row(header, widths),
        _row(["-" * w for w in widths], widths),
        *(_row(r, widths) for r in rows[:-1]),
        _row(["-" * w for w in widths], widths),
        _row(rows[-1], widths),
        "",
        f"server RSS: at start {rss['start']:.0f} MB, after {result.config['warmup']} warm-up requests (the baseline) "
        f"{rss['before']:.0f} MB, peak {rss['peak']:.0f} MB (+{rss['peak_growth']:.0f}), "
        f"after {rss['after']:.0f} MB (+{rss['final_growth']:.0f})"
        + (" (after: the restarted server's)" if result.restarts else ""),
        f"tracebacks in the server log: {result.tracebacks} ({result.log_path})",
    ]
    if result.bad:
        lines += ["", f"unexpected outcomes: {len(result.bad)} (first {min(limit, len(result.bad))})"]
        for b in result.bad[:limit]:
            lines.append(f"  [{b['class']}] {b['ref']} {b['kind']}: {b['detail'][:160]}")
            lines.append(f"      sent: {b['label'][:200]}")
            lines.append(f"      repro: {b['repro']}")
    if result.traceback_cases:
        lines += ["", f"cases after which a traceback appeared in the log: {len(result.traceback_cases)}"]
        for b in result.traceback_cases[:limit]:
            lines.append(f"  {b['ref']} {b['kind']} [{b['class']}] x{b['tracebacks']}: {b['label'][:150]}")
    return "\n".join(lines)
