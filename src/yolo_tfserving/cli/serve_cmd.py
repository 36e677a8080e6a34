"""``serve`` (the embedded TF-Serving-compatible server) and ``deploy`` (files for the real one).

``serve`` takes TF Serving's own flag names (``--rest_api_port``, ``--model_base_path`` ...),
so a command line written for ``tensorflow_model_server`` works unchanged.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._errors import friendly_errors
from ._output import Reporter


def serve(
    port: Annotated[int, typer.Option("--port", help="gRPC port")] = 8500,
    rest_api_port: Annotated[int, typer.Option("--rest_api_port", help="REST port (0 disables REST)")] = 8501,
    model_name: Annotated[str, typer.Option("--model_name", help="Model name (with --model_base_path)")] = "default",
    model_base_path: Annotated[
        str | None, typer.Option("--model_base_path", help="Directory of numbered versions")
    ] = None,
    model_config_file: Annotated[
        str | None, typer.Option("--model_config_file", help="ModelServerConfig text proto (several models)")
    ] = None,
    file_system_poll_wait_seconds: Annotated[
        float, typer.Option("--file_system_poll_wait_seconds", help="How often to look for new versions")
    ] = 1.0,
    enable_batching: Annotated[
        bool, typer.Option("--enable_batching/--noenable_batching", help="Batch concurrent requests")
    ] = False,
    batching_parameters_file: Annotated[str | None, typer.Option("--batching_parameters_file")] = None,
    monitoring_config_file: Annotated[str | None, typer.Option("--monitoring_config_file")] = None,
    rest_api_timeout_in_ms: Annotated[int, typer.Option("--rest_api_timeout_in_ms")] = 30000,
    enable_model_warmup: Annotated[
        bool, typer.Option("--enable_model_warmup/--noenable_model_warmup", help="Replay warm-up records")
    ] = True,
    host: Annotated[str, typer.Option("--host", help="Address to bind (TF Serving binds 0.0.0.0)")] = "0.0.0.0",
) -> None:
    """Serve SavedModels with TF Serving's REST and gRPC contract (embedded server)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own INFO chatter off; our log stays
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    with friendly_errors():
        from ..serving.server import ModelServer, ServerOptions

        options = ServerOptions(
            port=port,
            rest_api_port=rest_api_port,
            rest_api_host=host,
            grpc_host=host,
            model_name=model_name,
            model_base_path=model_base_path,
            model_config_file=model_config_file,
            file_system_poll_wait_seconds=file_system_poll_wait_seconds,
            enable_batching=enable_batching,
            batching_parameters_file=batching_parameters_file,
            monitoring_config_file=monitoring_config_file,
            rest_api_timeout_in_ms=rest_api_timeout_in_ms,
            enable_model_warmup=enable_model_warmup,
        )
        ModelServer(options).serve_forever()


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
