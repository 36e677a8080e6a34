"""``bench``: load-test a served model, the three request kinds side by side.

    yolo-tfserving bench --url http://localhost:8501 --mode server --concurrency 8 --requests 500
    yolo-tfserving bench --grpc localhost:8500 --mode client --concurrency 4 --duration 30 --plot bench.png
    yolo-tfserving bench --mode json-floats --concurrency 2 --requests 50 --json

A table (or ``--json``) on stdout; live progress on stderr when it is a terminal. Failed requests
are counted and shown; when every request fails the summary still prints and the exit code is 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ._errors import friendly_errors
from ._output import Reporter


def _target(url: str | None, grpc: str | None) -> str:
    """The endpoint URL from --url / --grpc (``grpc://`` for --grpc)."""
    from .._errors import InputError

    if url and grpc:
        raise InputError("pass either --url or --grpc, not both")
    if grpc:
        return grpc if grpc.startswith("grpc://") else f"grpc://{grpc}"
    return url or "http://localhost:8501"


def _sources(images: list[Path] | None) -> list[Path]:
    """The --images files, in order (none: the synthetic JPEG); an empty expansion is an error."""
    from .._errors import InputError

    if not images:
        return []
    from ..client.inputs import expand_image_paths

    sources = expand_image_paths(images)
    if not sources:
        raise InputError(f"no images found in {', '.join(str(p) for p in images)}")
    return sources


def bench_command(
    url: Annotated[
        str | None, typer.Option("--url", help="REST endpoint (http://HOST:8501) or grpc://HOST:8500")
    ] = None,
    grpc: Annotated[str | None, typer.Option("--grpc", help="gRPC endpoint HOST:PORT (instead of --url)")] = None,
    model: Annotated[str, typer.Option("--model", help="Model name on the server")] = "yolov5",
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="server (detect signature), client (raw + local NMS) or json-floats "
            "(the original write-up's NCHW float JSON, REST only)",
        ),
    ] = "server",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Parallel workers, one client each")] = 1,
    requests: Annotated[int | None, typer.Option("--requests", "-n", help="Total measured requests")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="Run for this many seconds")] = None,
    images: Annotated[
        list[Path] | None,
        typer.Option("--images", help="Images (files, folders, globs), round robin; default: a synthetic JPEG"),
    ] = None,
    max_images: Annotated[int | None, typer.Option("--max-images", help="Use at most this many images")] = None,
    warmup: Annotated[int, typer.Option("--warmup", help="Unmeasured requests per worker first")] = 1,
    timeout: Annotated[float, typer.Option("--timeout", help="Per-request timeout, seconds")] = 30.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write every request to this CSV file")] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG: latency histogram + throughput over time")
    ] = None,
) -> None:
    """Load-test a served model: latency percentiles, throughput, payload sizes, errors."""
    reporter = Reporter(json_output=json_output)
    with friendly_errors(reporter.error):
        from .._errors import MissingDependencyError
        from ..benchmark import BenchConfig, run_benchmark

        target = _target(url, grpc)
        sources = _sources(images)
        config = BenchConfig(
            url=target,
            model=model,
            mode=mode,
            concurrency=concurrency,
            requests=requests,
            duration_s=duration,
            images=tuple(sources),
            warmup=warmup,
            timeout_s=timeout,
            max_images=max_images,
        )
        config.validate()
        if plot is not None:
            try:
                import matplotlib  # noqa: F401
            except ImportError as exc:
                raise MissingDependencyError("matplotlib", "bench") from exc

        bound = " / ".join(
            x for x in (f"{requests} requests" if requests else "", f"{duration:g} s" if duration else "") if x
        )
        reporter.log(f"bench: {mode} mode -> {target} (model {model}), concurrency {concurrency}, {bound}")
        with _live_progress() as progress:
            result = run_benchmark(config, progress=progress)
        summary = result.summary()
        if csv is not None:
            result.write_csv(csv)
        if plot is not None:
            result.plot(plot)

        if json_output:
            reporter.data(summary)
        else:
            reporter.table("Benchmark", _rows(summary, csv, plot))
        if result.interrupted:
            reporter.error("error: interrupted; the summary covers the requests sent so far")
            raise SystemExit(130)
        if not result.records:
            reporter.error("error: no request was sent; raise --duration or --requests")
            raise SystemExit(1)
        top = summary["top_errors"][0]["message"] if summary["top_errors"] else ""
        if result.all_failed:
            reporter.error(f"error: all {summary['requests']} requests to {target} failed: {top}")
            raise SystemExit(1)
        if summary["errors"]:
            reporter.log(
                f"warning: {summary['errors']} of {summary['requests']} requests failed "
                f"({summary['timeouts']} timeouts); most common: {top}"
            )


@contextmanager
def _live_progress() -> Iterator[Callable[[Any], None] | None]:
    """A rich progress line on stderr (running p50, req/s, errors) when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("bench"),
        BarColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task("bench", total=1.0, stats="warming up")

        def update(p: Any) -> None:
            if p.warming_up:
                stats = "warming up"
            else:
                p50 = f"{p.p50_ms:.1f} ms" if p.p50_ms is not None else "-"
                stats = f"{p.done} done  p50 {p50}  {p.requests_per_s:.1f} req/s  {p.errors} errors"
            bar.update(task, completed=p.fraction, stats=stats)

        yield update


def _bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.0f} B"


def _ms(v: float | None) -> str:
    return f"{v:.1f}" if v is not None else "-"


def _rows(s: dict[str, Any], csv: Path | None, plot: Path | None) -> list[tuple[str, str]]:
    lat = s["latency_ms"]
    rows = [
        ("target", f"{s['mode']} mode over {s['protocol']}: {s['url']} (model {s['model']})"),
        ("concurrency", str(s["concurrency"])),
        ("requests", f"{s['requests']}: {s['ok']} ok, {s['errors']} errors ({s['timeouts']} timeouts)"),
        ("images", f"{s['images']}, round robin"),
        ("wall time", f"{s['wall_s']:.2f} s"),
        ("throughput", f"{s['throughput_ips']:.1f} images/s ({s['requests_per_s']:.1f} requests/s)"),
        ("latency p50 / p90 / p99", f"{_ms(lat['p50'])} / {_ms(lat['p90'])} / {_ms(lat['p99'])} ms"),
        ("latency mean (min-max)", f"{_ms(lat['mean'])} ms ({_ms(lat['min'])}-{_ms(lat['max'])})"),
        ("request size (mean)", _bytes(s["request_bytes_mean"])),
        ("response size (mean)", _bytes(s["response_bytes_mean"])),
    ]
    rows += [(f"error x{e['count']}", e["message"]) for e in s["top_errors"]]
    rows += [("note", n) for n in s["notes"]]
    if csv is not None:
        rows.append(("csv", str(csv)))
    if plot is not None:
        rows.append(("plot", str(plot)))
    return rows
