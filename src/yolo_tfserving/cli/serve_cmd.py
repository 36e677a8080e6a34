"""``serve`` (the embedded TF-Serving-compatible server) and ``deploy`` (files for the real one).

``serve`` takes TF Serving's own flag names (``--rest_api_port``, ``--model_base_path`` ...),
so a command line written for ``tensorflow_model_server`` works unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._errors import friendly_errors
from ._output import Reporter

SERVE_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
#: TF Serving's exit status when the server cannot start (main.cc returns -1)
START_FAILED = 255


def serve(ctx: typer.Context) -> None:
    """Serve SavedModels with TF Serving's REST and gRPC contract (embedded server).

    Takes every flag of TF Serving 2.19's tensorflow_model_server (``--help`` lists them).
    """
    args = list(ctx.args)
    if "--help" in args or "-h" in args:
        from ..serving.options import usage

        print(usage(), end="")
        return
    from .._frameworks import configure, preload_tensorflow

    configure()  # TensorFlow's own chatter off (--verbose shows it); our log stays
    preload_tensorflow()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    with friendly_errors():
        from ..serving.options import parse_flags

        parsed = parse_flags(args)
        for arg in parsed.unknown:  # TF Serving says so and starts anyway
            print(f"unknown argument: {arg} (yolo-tfserving serve --help lists the flags)", file=sys.stderr)
        if parsed.options.version:
            print(_version_text())
            return
        _run_server(parsed.options)


def _version_text() -> str:
    from .._version import __version__

    try:
        import tensorflow as tf

        library = tf.__version__
    except ImportError:
        library = "not installed"
    return f"TensorFlow ModelServer: yolo-tfserving {__version__}\nTensorFlow Library: {library}"


def _bound_malloc_arenas() -> None:
    """glibc gives every thread that allocates its own heap arena (up to 8 per core), and the high-water mark of
    each stays resident: a serving process's RSS creeps with the number of threads that ever handled a large
    request. Two arenas bound it (what MALLOC_ARENA_MAX=2 does); an explicit MALLOC_ARENA_MAX wins."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX


def _run_server(options: object) -> None:
    from ..serving.model_config import ConfigFileError
    from ..serving.server import ModelServer
    from ..serving.status import ServingStatusError

    _bound_malloc_arenas()
    try:
        server = ModelServer(options)  # type: ignore[arg-type]
        server.serve_forever()
    except ServingStatusError as exc:  # Server::BuildAndStart failed: TF Serving's two lines, its exit status
        if isinstance(exc, ConfigFileError) and exc.detail:
            print(exc.detail, file=sys.stderr)
        print(f"Failed to start server. Error: {exc.code.name}: {exc.message}", file=sys.stderr)
        raise SystemExit(START_FAILED) from None


def deploy(
    target: Annotated[str, typer.Argument(help="docker, compose, k8s or kserve")],
    repo: Annotated[Path, typer.Argument(help="The model repository written by export")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the generated files")] = Path("deploy"),
    model_name: Annotated[str | None, typer.Option("--model-name")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Override the tensorflow/serving image")] = None,
    replicas: Annotated[int, typer.Option(help="Minimum replicas (k8s)")] = 1,
    max_replicas: Annotated[int, typer.Option("--max-replicas", help="HPA maximum (k8s)")] = 4,
    namespace: Annotated[str, typer.Option(help="Kubernetes namespace")] = "default",
    cpu: Annotated[str, typer.Option(help="CPU request")] = "1",
    memory: Annotated[str, typer.Option(help="Memory request")] = "2Gi",
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write ready-to-apply files for the official tensorflow/serving image."""
    reporter = Reporter(json_output=json_output)
    with friendly_errors(reporter.error):
        from ..serving.deploy import deploy as write

        paths = write(
            target,
            repo,
            out=out,
            model_name=model_name,
            image=image,
            replicas=replicas,
            max_replicas=max_replicas,
            namespace=namespace,
            cpu=cpu,
            memory=memory,
        )
        if json_output:
            reporter.data({"files": [str(p) for p in paths]})
        else:
            for p in paths:
                print(p)
