"""The client's public surface (issue 12): explicit options, explicit schemes, value equality, our errors."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from yolo_tfserving import AsyncClient, Client, Detections, InputError
from yolo_tfserving.ops import NMSConfig, letterbox, non_max_suppression


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_options_are_explicit_and_keyword_only(cls: type) -> None:
    params = inspect.signature(cls).parameters
    assert "kwargs" not in params  # a misspelt option is a TypeError (and a mypy error), not ignored
    assert [p.name for p in params.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY] == ["url"]
    assert {"model", "mode", "protocol", "conf_threshold", "iou_threshold", "max_det", "timeout_s"} <= set(params)
    with pytest.raises(TypeError, match="conff"):
        cls("http://127.0.0.1:1", conff=0.3)


def test_the_scheme_decides_the_protocol_not_the_port() -> None:
    with Client("localhost:8500") as c:  # TF Serving's gRPC port, but no scheme: REST, as written
        assert c.protocol == "rest"
    with Client("grpc://localhost:8500") as c:
        assert c.protocol == "grpc"
    with Client("localhost:9000", protocol="grpc") as c:
        assert c.protocol == "grpc"
    with Client("https://example.com:8501") as c:
        assert c.protocol == "rest"
    with pytest.raises(InputError, match="scheme"):
        Client("ftp://localhost:8500")
    with pytest.raises(InputError, match="grpc://"):
        Client("http://localhost:8500", protocol="grpc")


def test_detections_compare_by_value() -> None:
    def make(score: float = 0.9) -> Detections:
        return Detections.from_arrays([[0, 0, 10, 10]], [score], [1], names=["a", "b"], image_size_hw=(20, 20))

    assert make() == make()
    assert make() != make(0.8)
    assert make() != Detections.empty((20, 20))
    assert Detections.empty() == Detections.empty()
    assert make() != "not detections"
    with pytest.raises(TypeError):
        hash(make())


def test_public_functions_raise_our_errors() -> None:
    with pytest.raises(InputError, match="conf_threshold"):
        NMSConfig(conf_threshold=2.0)
    with pytest.raises(InputError, match="predictions of shape"):
        non_max_suppression(np.zeros((3,), np.float32), NMSConfig())
    with pytest.raises(InputError, match="uint8 image"):
        letterbox(np.zeros((4, 4), np.float32), (32, 32))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="rows"):
        Detections.from_arrays([[0, 0, 1, 1]], [0.5, 0.6], [0])


def test_detect_cli_bad_threshold_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from yolo_tfserving.cli.main import main

    image = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(image)
    with pytest.raises(SystemExit) as exited:
        main(["detect", str(image), "--url", "http://127.0.0.1:9", "--conf", "2"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "conf_threshold must be in [0, 1]" in err and "Traceback" not in err
