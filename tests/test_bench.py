"""``yolo-tfserving bench`` and ``yolo_tfserving.benchmark`` against a real server on localhost sockets."""

from __future__ import annotations

import csv
import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from helpers import free_port
from yolo_tfserving._errors import InputError
from yolo_tfserving.benchmark import BenchConfig, BenchResult, RequestRecord, run_benchmark
from yolo_tfserving.cli.bench_cmd import bench_command

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _free_port() -> int:
    return free_port()


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """Keep ``bench`` a subcommand, as in the real CLI."""

    app.command("bench")(bench_command)
    return app


def invoke(*args: str) -> Any:
    return CliRunner().invoke(_app(), ["bench", *args])


@pytest.fixture(scope="module")
def served(tiny_repo: tuple[Path, Any]) -> Iterator[Any]:
    pytest.importorskip("tensorflow")
    from yolo_tfserving.serving.server import ModelServer, ServerOptions

    out = tiny_repo[0]
    server = ModelServer(
        ServerOptions(
            port=_free_port(),
            rest_api_port=_free_port(),
            rest_api_host="127.0.0.1",
            grpc_host="127.0.0.1",
            model_name="yolov5",
            model_base_path=str(out / "yolov5"),
            file_system_poll_wait_seconds=0,
        )
    )
    server.start()
    yield server
    server.stop()


def rest_url(server: Any) -> str:
    return f"http://127.0.0.1:{server.rest_port}"


def grpc_url(server: Any) -> str:
    return f"grpc://127.0.0.1:{server.grpc_port}"


@pytest.fixture(scope="module")
def small_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    rgb = np.random.default_rng(3).integers(0, 256, (48, 80, 3), np.uint8)
    path = tmp_path_factory.mktemp("img") / "small.jpg"
    Image.fromarray(rgb).save(path, quality=85)
    return path


def check_ok_run(result: BenchResult, n: int) -> dict[str, Any]:
    s = result.summary()
    assert len(result.records) == n and s["requests"] == n
    assert all(r.ok for r in result.records), result.top_errors()
    assert s["ok"] == n and s["errors"] == 0 and s["timeouts"] == 0
    lat = s["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] < 30_000
    assert lat["min"] <= lat["mean"] <= lat["max"]
    assert s["throughput_ips"] > 0 and s["wall_s"] > 0
    assert s["throughput_ips"] == pytest.approx(n / s["wall_s"])
    assert s["request_bytes_mean"] > 0 and s["response_bytes_mean"] > 0
    assert all(r.request_bytes > 0 and r.response_bytes > 0 for r in result.records)
    starts = [r.start_s for r in result.records]
    assert starts == sorted(starts) and starts[0] >= 0
    assert {r.worker for r in result.records} <= {0, 1}
    return s


# -- every mode, both protocols -----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["server", "client", "json-floats"])
def test_modes_over_rest(served: Any, mode: str) -> None:
    result = run_benchmark(BenchConfig(url=rest_url(served), mode=mode, concurrency=2, requests=6))
    s = check_ok_run(result, 6)
    assert s["mode"] == mode and s["protocol"] == "rest" and s["concurrency"] == 2


@pytest.mark.parametrize("mode", ["server", "client"])
def test_modes_over_grpc(served: Any, mode: str) -> None:
    result = run_benchmark(BenchConfig(url=grpc_url(served), mode=mode, concurrency=2, requests=6))
    assert check_ok_run(result, 6)["protocol"] == "grpc"


def test_json_floats_is_rest_only(served: Any) -> None:
    with pytest.raises(InputError, match="REST only"):
        run_benchmark(BenchConfig(url=grpc_url(served), mode="json-floats", requests=1))
    result = invoke("--grpc", f"127.0.0.1:{served.grpc_port}", "--mode", "json-floats", "--requests", "2")
    assert result.exit_code == 2
    assert "error:" in result.stderr and "REST only" in result.stderr and "Traceback" not in result.output


def test_json_floats_payload_dwarfs_the_image(served: Any, small_jpeg: Path) -> None:
    """The point of the comparison: the float JSON request is far bigger than the encoded image."""
    sizes = {}
    for mode in ("server", "json-floats"):
        result = run_benchmark(
            BenchConfig(url=rest_url(served), mode=mode, concurrency=2, requests=6, images=[small_jpeg])
        )
        sizes[mode] = check_ok_run(result, 6)["request_bytes_mean"]
    assert sizes["json-floats"] > 20 * sizes["server"], sizes
    assert sizes["json-floats"] > 3 * 64 * 64 * 5  # >= 5 characters per float of the 1x3x64x64 input


def test_round_robin_over_images(served: Any, small_jpeg: Path) -> None:
    from yolo_tfserving.benchmark import synthetic_jpeg

    result = run_benchmark(
        BenchConfig(url=rest_url(served), concurrency=2, requests=6, images=[small_jpeg, synthetic_jpeg()])
    )
    check_ok_run(result, 6)
    assert sorted(r.image for r in result.records) == [0, 0, 0, 1, 1, 1]
    assert result.summary()["images"] == 2


def test_duration_stops_in_time(served: Any) -> None:
    seen: list[Any] = []
    result = run_benchmark(
        BenchConfig(url=rest_url(served), concurrency=2, duration_s=1.0, warmup=0), progress=seen.append
    )
    assert result.records and all(r.ok for r in result.records)
    assert all(r.start_s < 1.0 for r in result.records)
    assert 0.95 <= result.wall_s < 3.0
    assert seen and seen[-1].done == len(result.records) and seen[-1].fraction == 1.0


def test_interrupt_returns_what_was_measured(served: Any) -> None:
    def progress(p: Any) -> None:
        if p.done >= 2:
            raise KeyboardInterrupt

    start = time.perf_counter()
    result = run_benchmark(BenchConfig(url=rest_url(served), concurrency=2, duration_s=60), progress=progress)
    assert time.perf_counter() - start < 15
    assert result.interrupted and result.summary()["interrupted"] is True
    assert len(result.records) >= 2 and all(r.ok for r in result.records)


def test_json_floats_caps_the_images_it_holds(served: Any, small_jpeg: Path) -> None:
    result = run_benchmark(BenchConfig(url=rest_url(served), mode="json-floats", requests=2, images=[small_jpeg] * 9))
    check_ok_run(result, 2)
    s = result.summary()
    assert s["images"] == 8 and any("first 8 of 9" in n for n in s["notes"])


# -- the command: outputs ----------------------------------------------------------------------
def test_cli_json_csv_and_plot(served: Any, tmp_path: Path) -> None:
    csv_path, png = tmp_path / "requests.csv", tmp_path / "bench.png"
    result = invoke(
        "--url",
        rest_url(served),
        "--requests",
        "6",
        "--concurrency",
        "2",
        "--json",
        "--csv",
        str(csv_path),
        "--plot",
        str(png),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["requests"] == 6 and summary["ok"] == 6 and summary["errors"] == 0
    assert set(summary["latency_ms"]) >= {"p50", "p90", "p99", "mean"}

    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    assert list(rows[0]) == ["start_s", "latency_ms", "request_bytes", "response_bytes", "ok", "error"]
    assert all(r["ok"] == "1" and r["error"] == "" and float(r["latency_ms"]) > 0 for r in rows)

    assert png.read_bytes()[:8] == PNG_MAGIC
    from PIL import Image

    with Image.open(png) as im:
        assert im.width > 500 and im.height > 200


def test_cli_table_over_grpc(served: Any) -> None:
    result = invoke("--grpc", f"127.0.0.1:{served.grpc_port}", "--mode", "client", "--requests", "4", "-c", "2")
    assert result.exit_code == 0, result.output
    for needle in ("Benchmark", "throughput", "p50 / p90 / p99", "4: 4 ok, 0 errors", "client mode over grpc"):
        assert needle in result.stdout, result.stdout
    assert "bench: client mode" in result.stderr  # the start line goes to stderr


# -- failures are results -------------------------------------------------------------------------
def test_server_down_all_errors_library() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = run_benchmark(BenchConfig(url=url, concurrency=2, requests=5, timeout_s=5))
    assert len(result.records) == 5 and result.all_failed
    s = result.summary()
    assert s["ok"] == 0 and s["errors"] == 5 and s["throughput_ips"] == 0
    assert s["latency_ms"]["p50"] is None and s["request_bytes_mean"] is None
    assert all(r.error_type == "ServerUnavailableError" for r in result.records)
    assert url in s["top_errors"][0]["message"] and "is it running" in s["top_errors"][0]["message"]


@pytest.mark.parametrize("mode", ["server", "client", "json-floats"])
def test_server_down_cli(tmp_path: Path, mode: str) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    csv_path, png = tmp_path / "r.csv", tmp_path / "r.png"
    result = invoke(
        "--url",
        url,
        "--mode",
        mode,
        "--requests",
        "4",
        "--concurrency",
        "2",
        "--timeout",
        "5",
        "--csv",
        str(csv_path),
        "--plot",
        str(png),
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "Benchmark" in result.stdout and "0 ok, 4 errors" in result.stdout  # the table still prints
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert url in errors[0] and "is it running" in errors[0] and "yolo-tfserving serve" in errors[0]
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(r["ok"] == "0" and r["error"] for r in rows)
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_server_down_json_still_prints_summary() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = invoke("--url", url, "--requests", "3", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["errors"] == 3 and summary["ok"] == 0
    assert "error:" in result.stderr


def test_timeouts_are_counted() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        result = run_benchmark(BenchConfig(url=url, concurrency=2, requests=2, warmup=0, timeout_s=0.3))
    s = result.summary()
    assert s["errors"] == 2 and s["timeouts"] == 2 and result.all_failed
    assert all(r.timeout and r.latency_ms >= 250 for r in result.records)
    assert "timed out" in s["top_errors"][0]["message"]


def test_unknown_model_is_an_error_record(served: Any) -> None:
    result = run_benchmark(BenchConfig(url=rest_url(served), model="nope", requests=2))
    assert result.all_failed
    assert all(r.error_type == "ModelNotFoundError" for r in result.records)


# -- bad arguments ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "--requests"),
        (("--requests", "3", "--concurrency", "0"), "--concurrency"),
        (("--requests", "0"), "--requests"),
        (("--duration", "-1"), "--duration"),
        (("--requests", "3", "--mode", "fast"), "--mode"),
        (("--requests", "3", "--url", "http://a:1", "--grpc", "b:2"), "either --url or --grpc"),
        (("--requests", "3", "--warmup", "-1"), "--warmup"),
        (("--requests", "3", "--images", "/no/such/dir"), "no such file"),
    ],
)
def test_bad_arguments(args: tuple[str, ...], needle: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert result.stdout == ""


def test_bad_config_raises_before_any_request() -> None:
    with pytest.raises(InputError, match="--requests M"):
        run_benchmark(BenchConfig())
    with pytest.raises(InputError, match="--concurrency"):
        run_benchmark(BenchConfig(concurrency=0, requests=1))


def test_undecodable_image_fails_before_the_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    result = invoke("--requests", "1", "--images", str(bad), "--url", f"http://127.0.0.1:{_free_port()}")
    assert result.exit_code == 2 and "cannot decode" in result.stderr and "Traceback" not in result.output


# -- results without a server ---------------------------------------------------------------------
def test_summary_csv_and_plot_from_records(tmp_path: Path) -> None:
    records = [
        RequestRecord(start_s=i * 0.4, latency_ms=10.0 + i, request_bytes=100, response_bytes=50, ok=True)
        for i in range(10)
    ]
    records.append(
        RequestRecord(
            start_s=1.5,
            latency_ms=5000.0,
            request_bytes=0,
            response_bytes=0,
            ok=False,
            error="timed out, with a comma",
            timeout=True,
        )
    )
    result = BenchResult(
        config=BenchConfig(requests=11, concurrency=3), protocol="rest", records=records, wall_s=6.5, images=1
    )
    s = result.summary()
    assert s["requests"] == 11 and s["ok"] == 10 and s["errors"] == 1 and s["timeouts"] == 1
    assert s["latency_ms"]["p50"] == pytest.approx(14.5) and s["latency_ms"]["mean"] == pytest.approx(14.5)
    assert s["throughput_ips"] == pytest.approx(10 / 6.5)
    assert s["top_errors"] == [{"message": "timed out, with a comma", "count": 1}]
    json.dumps(s)  # serialisable as is

    rows = list(csv.reader(io.StringIO(result.write_csv(tmp_path / "r.csv").read_text())))
    assert len(rows) == 12 and rows[-1][-1] == "timed out, with a comma"
    assert result.plot(tmp_path / "r.png").read_bytes()[:8] == PNG_MAGIC
