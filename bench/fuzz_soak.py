"""A seeded fuzz soak of the embedded server (issue 10).

Starts ``yolo-tfserving serve`` in a child process with two models (YOLOv5: the real yolov5n exported
from ../shared when present, else a tiny random one; and TF1 half_plus_two for classify/regress/multi-
inference), then sends seeded, mutated and hostile requests over REST (raw sockets and httpx) and gRPC,
classifying every outcome (ok, expected client error, closed/abandoned, and the bad ones: unexpected
5xx/INTERNAL, hang, dropped, desync, crash), with the server's RSS and the tracebacks in its log.

    .venv/bin/python bench/fuzz_soak.py --rest-requests 10000 --grpc-requests 3000 --seed 1 [--json]
    .venv/bin/python bench/fuzz_soak.py --seed 1 --replay rest:123 --replay grpc:7   # cases alone, in detail

Exit status: 0 when nothing bad happened, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fuzz.models import REAL_WEIGHTS, prepare
from _fuzz.report import table
from _fuzz.soak import SoakConfig, build_case, run_soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rest-requests", type=int, default=10_000)
    parser.add_argument("--grpc-requests", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout per request (s)")
    parser.add_argument("--max-seconds", type=float, default=3 * 3600.0, help="bound on the whole soak (s)")
    parser.add_argument("--max-restarts", type=int, default=20, help="restarts after crashes before giving up")
    parser.add_argument("--weights", type=Path, default=REAL_WEIGHTS, help="YOLOv5 .pt (absent: a tiny model)")
    parser.add_argument("--tiny", action="store_true", help="serve the tiny random model even if weights exist")
    parser.add_argument("--model-dir", type=Path, help="an exported YOLOv5 model base path to serve as is")
    parser.add_argument("--workdir", type=Path, help="where models and the server log go (default: a temp dir)")
    parser.add_argument("--replay", action="append", default=[], metavar="REF", help="run only case REF (rest:N)")
    parser.add_argument("--records", type=Path, help="write every case's outcome here (JSON lines)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fuzz-soak-"))
    weights = None if args.tiny or not args.weights.is_file() else args.weights
    print(f"preparing models in {workdir} ...", file=sys.stderr, flush=True)
    config_file, target = prepare(workdir, weights=weights, yolo_dir=args.model_dir)
    config = SoakConfig(
        seed=args.seed,
        rest_requests=args.rest_requests,
        grpc_requests=args.grpc_requests,
        timeout_s=args.timeout,
        max_seconds=args.max_seconds,
        max_restarts=args.max_restarts,
        only=tuple(args.replay),
        warmup=0 if args.replay else SoakConfig.warmup,  # a replayed case meets a fresh server
    )
    for ref in config.only:
        transport, _, index = ref.partition(":")
        print(f"{ref}: {build_case(config.seed, transport, int(index), target).label}", file=sys.stderr)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    repro = f"--model-dir {args.model_dir}" if args.model_dir else ("--tiny" if weights is None else "")
    result = run_soak(
        config_file,
        target,
        config,
        workdir / "server.log",
        progress=progress,
        records_path=args.records,
        repro_args=repro,
    )
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(table(result, limit=len(result.bad) if config.only else 20))
    return 1 if result.bad or result.tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
