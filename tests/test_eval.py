"""``eval``: datasets to COCO ground truth, the pycocotools wiring, backends agreeing, and the CLI.

The real-model test (coco128 through PyTorch, ONNX Runtime, TensorFlow in-process and the
served model over REST and gRPC) needs ../shared and is marked ``shared``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import COCO128, coco128_images, free_port
from yolo_tfserving._errors import InputError
from yolo_tfserving.client.detections import Detections
from yolo_tfserving.evaluation import (
    Dataset,
    coco_scores,
    eval_nms_config,
    evaluate,
    load_dataset,
    make_backend,
)
from yolo_tfserving.evaluation.coco_eval import EvalResult

NAMES = ("cat", "dog", "bird")


# -- synthetic datasets -----------------------------------------------------------------------
def _save_image(path: Path, rgb: np.ndarray, *, orientation: int = 1) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(rgb)
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(path, exif=exif.tobytes(), quality=95)
    elif path.suffix == ".jpg":
        image.save(path, quality=95)
    else:
        image.save(path)


def _scene(h: int, w: int, boxes: list[tuple[int, float, float, float, float]], seed: int) -> np.ndarray:
    """A gradient with a solid rectangle per label (``class cx cy w h`` normalised)."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 200, w, dtype=np.uint8)[None]
    rgb[..., 1] = np.linspace(0, 200, h, dtype=np.uint8)[:, None]
    for _, cx, cy, bw, bh in boxes:
        x1, y1 = round((cx - bw / 2) * w), round((cy - bh / 2) * h)
        x2, y2 = round((cx + bw / 2) * w), round((cy + bh / 2) * h)
        rgb[y1:y2, x1:x2] = rng.integers(0, 255, 3)
    return rgb


SCENES: list[tuple[str, tuple[int, int], list[tuple[int, float, float, float, float]]]] = [
    ("a.png", (48, 80), [(0, 0.5, 0.5, 0.6, 0.7), (1, 0.2, 0.3, 0.3, 0.4)]),
    ("b.png", (70, 50), [(2, 0.5, 0.55, 0.8, 0.6)]),
    ("c.jpg", (64, 64), [(0, 0.3, 0.3, 0.5, 0.5), (2, 0.7, 0.7, 0.5, 0.5), (1, 0.5, 0.5, 0.9, 0.9)]),
    ("d.png", (90, 120), [(1, 0.6, 0.4, 0.7, 0.7), (0, 0.25, 0.75, 0.4, 0.4)]),
    ("sub/e.png", (60, 100), [(2, 0.5, 0.5, 0.95, 0.9), (0, 0.8, 0.2, 0.3, 0.3)]),
]


def write_yolo_dataset(root: Path) -> Path:
    for i, (name, (h, w), boxes) in enumerate(SCENES):
        _save_image(root / "images" / name, _scene(h, w, boxes, i))
        label = (root / "labels" / name).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(f"{c} {cx} {cy} {bw} {bh}\n" for c, cx, cy, bw, bh in boxes))
    return root


@pytest.fixture(scope="module")
def yolo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_yolo_dataset(tmp_path_factory.mktemp("yolo-data"))


class GroundTruthBackend:
    """Answers with the dataset's own boxes (score 1.0), optionally shifted right by ``shift`` x width."""

    name = "ground-truth"

    def __init__(
        self,
        dataset: Dataset,
        *,
        class_of: dict[int, int] | None = None,
        shift: float = 0.0,
        names: tuple[str, ...] = NAMES,
    ) -> None:
        self._by_path: dict[Path, list[dict[str, Any]]] = {im.path: [] for im in dataset.images}
        paths = {im.id: im.path for im in dataset.images}
        for ann in dataset.annotations:
            self._by_path[paths[ann["image_id"]]].append(ann)
        self._sizes = {im.path: im.size_hw for im in dataset.images}
        self._class_of = class_of or {}
        self._shift = shift
        self._names = names

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._names

    def detect(self, path: Path) -> Detections:
        anns = self._by_path[path]
        if not anns:
            return Detections.empty(self._sizes[path])
        xywh = np.asarray([a["bbox"] for a in anns], np.float64)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        xyxy[:, [0, 2]] += self._shift * xywh[:, 2:3]
        classes = [self._class_of.get(a["category_id"], a["category_id"]) for a in anns]
        return Detections.from_arrays(
            xyxy, np.ones(len(anns)), classes, names=self._names, image_size_hw=self._sizes[path]
        )

    def close(self) -> None:
        pass


# -- 1. datasets --------------------------------------------------------------------------------
def test_yolo_dataset_to_coco_ground_truth(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _save_image(root / "images" / "wide.png", np.zeros((100, 200, 3), np.uint8))
    _save_image(root / "images" / "rotated.jpg", np.zeros((60, 80, 3), np.uint8), orientation=6)  # upright 80x60
    _save_image(root / "images" / "background.png", np.zeros((30, 30, 3), np.uint8))
    (root / "labels").mkdir()
    (root / "labels" / "wide.txt").write_text(
        "0 0.5 0.5 0.2 0.4\n"
        "0 0.5 0.5 0.2 0.4\n"  # an exact duplicate counts once (YOLOv5 drops them)
        "\n"
        "3 0.1 0.1 0.3 0.3 0.3 0.5 0.1 0.5\n"  # a polygon: its bounding box
    )
    (root / "labels" / "rotated.txt").write_text("1 0.5 0.5 1 1\n")
    (root / "labels" / "orphan.txt").write_text("2 0.5 0.5 0.1 0.1\n")  # no image: ignored

    ds = load_dataset(root)
    assert ds.format == "yolo" and len(ds) == 3 and ds.num_boxes == 3
    by_name = {im.path.name: im for im in ds.images}
    assert (by_name["wide.png"].width, by_name["wide.png"].height) == (200, 100)
    assert (by_name["rotated.jpg"].width, by_name["rotated.jpg"].height) == (60, 80)  # EXIF orientation 6
    assert sorted(im.id for im in ds.images) == [1, 2, 3]
    anns = sorted(ds.annotations, key=lambda a: a["id"])
    assert [a["id"] for a in anns] == [1, 2, 3]  # from 1: pycocotools reads id 0 as "unmatched"
    wide = [a for a in anns if a["image_id"] == by_name["wide.png"].id]
    assert wide[0]["category_id"] == 0
    np.testing.assert_allclose(wide[0]["bbox"], [80.0, 30.0, 40.0, 40.0])
    assert wide[0]["area"] == pytest.approx(1600.0) and wide[0]["iscrowd"] == 0
    assert wide[1]["category_id"] == 3
    np.testing.assert_allclose(wide[1]["bbox"], [20.0, 10.0, 40.0, 40.0])
    (rotated,) = [a for a in anns if a["image_id"] == by_name["rotated.jpg"].id]
    np.testing.assert_allclose(rotated["bbox"], [0.0, 0.0, 60.0, 80.0])
    assert rotated["area"] == pytest.approx(4800.0)

    assert ds.category_ids(NAMES) is None  # YOLO: class index = category id
    gt = ds.coco_ground_truth(NAMES)
    assert gt["categories"] == [
        {"id": 0, "name": "cat"},
        {"id": 1, "name": "dog"},
        {"id": 2, "name": "bird"},
        {"id": 3, "name": "3"},
    ]
    assert {im["id"]: (im["width"], im["height"]) for im in gt["images"]}[by_name["rotated.jpg"].id] == (60, 80)
    assert load_dataset(root / "images").images == ds.images  # the images/ folder itself works too

    head = ds.head(1)
    assert len(head) == 1 and all(a["image_id"] == head.images[0].id for a in head.annotations)


def test_yolo_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "nolabels" / "images").mkdir(parents=True)
    _save_image(tmp_path / "nolabels" / "images" / "x.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="no labels/ folder"):
        load_dataset(tmp_path / "nolabels")
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "labels").mkdir()
    with pytest.raises(InputError, match="no images"):
        load_dataset(tmp_path / "empty")
    bad = write_yolo_dataset(tmp_path / "bad")
    (bad / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n0 0.5 oops 0.1 0.1\n")
    with pytest.raises(InputError, match=r"a\.txt:2"):
        load_dataset(bad)
    (bad / "labels" / "a.txt").write_text("0 0.5 0.5 0.1\n")
    with pytest.raises(InputError, match="5 numbers"):
        load_dataset(bad)


def _write_coco(root: Path) -> Path:
    """Two images, categories with non-contiguous ids (as COCO's 1..90), annotation ids from 0."""
    images = root / "images"
    _save_image(images / "one.png", np.zeros((40, 60, 3), np.uint8))
    _save_image(images / "two.png", np.zeros((50, 30, 3), np.uint8))
    data = {
        "images": [
            {"id": 7, "file_name": "one.png", "width": 60, "height": 40},
            {"id": 9, "file_name": "two.png"},
        ],  # size read from the file
        "categories": [{"id": 3, "name": "bird"}, {"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 0, "image_id": 7, "category_id": 1, "bbox": [5, 5, 20, 10], "iscrowd": 0, "area": 200},
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [30, 10, 20, 20], "iscrowd": 0, "area": 400},
            {"id": 2, "image_id": 9, "category_id": 3, "bbox": [2, 3, 20, 30], "iscrowd": 0, "area": 600},
            {"id": 3, "image_id": 99, "category_id": 3, "bbox": [2, 3, 20, 30]},  # unknown image: dropped
        ],
    }
    path = root / "instances.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_json_dataset(tmp_path: Path) -> None:
    json_path = _write_coco(tmp_path / "coco")
    ds = load_dataset(json_path, images_dir=tmp_path / "coco" / "images")
    assert ds.format == "coco" and [im.id for im in ds.images] == [7, 9] and ds.num_boxes == 3
    assert (ds.images[1].width, ds.images[1].height) == (30, 50)
    assert sorted(a["id"] for a in ds.annotations) == [1, 2, 3]  # id 0 present: renumbered from 1
    assert load_dataset(json_path).images == ds.images  # images/ beside the JSON by default
    assert load_dataset(tmp_path / "coco").images == ds.images  # a folder with one .json
    # model class -> category: by name when the names match, else by position in ascending id order
    assert ds.category_ids(NAMES) == [1, -1, 3]
    assert ds.category_ids(("a", "b")) == [1, 3]
    with pytest.raises(InputError, match="cannot map"):
        ds.category_ids(("a", "b", "c"))
    with pytest.raises(InputError, match="not in"):
        load_dataset(json_path, images_dir=tmp_path)


# -- 2. the pycocotools wiring, end to end --------------------------------------------------------
def test_ground_truth_as_predictions_scores_one(yolo_dir: Path) -> None:
    ds = load_dataset(yolo_dir)
    perfect = evaluate(ds, GroundTruthBackend(ds))
    assert perfect.map50_95 == pytest.approx(1.0) and perfect.map50 == pytest.approx(1.0)
    assert perfect.images == len(SCENES) and perfect.detections == ds.num_boxes
    assert [(c.class_id, c.name, c.n_gt) for c in perfect.per_class] == [(0, "cat", 4), (1, "dog", 3), (2, "bird", 3)]
    assert all(c.ap50_95 == pytest.approx(1.0) and c.ap50 == pytest.approx(1.0) for c in perfect.per_class)

    shifted = evaluate(ds, GroundTruthBackend(ds, shift=0.1))  # IoU 0.82: counts at 0.5, not at 0.85+
    assert shifted.map50 == pytest.approx(1.0)
    assert 0.4 < shifted.map50_95 < 0.9
    far = evaluate(ds, GroundTruthBackend(ds, shift=0.6))  # IoU 0.25: misses everywhere
    assert far.map50_95 == 0.0 and far.map50 == 0.0

    swapped = evaluate(ds, GroundTruthBackend(ds, class_of={0: 1, 1: 0}))  # wrong classes for cat and dog
    by_class = {c.class_id: c.ap50_95 for c in swapped.per_class}
    assert by_class[2] == pytest.approx(1.0) and by_class[0] == 0.0 and by_class[1] == 0.0

    data = json.loads(json.dumps(perfect.to_json()))
    assert data["map50_95"] == pytest.approx(1.0) and data["coco_stats"]["AP@.50"] == pytest.approx(1.0)
    assert data["per_class"][0] == {
        "class_id": 0,
        "name": "cat",
        "ap50_95": pytest.approx(1.0),
        "ap50": pytest.approx(1.0),
        "n_gt": 4,
    }


def test_coco_json_ground_truth_through_the_category_mapping(tmp_path: Path) -> None:
    ds = load_dataset(_write_coco(tmp_path))
    # the backend speaks model class indices (cat=0, bird=2); evaluate maps them to category ids 1 and 3
    backend = GroundTruthBackend(ds, class_of={1: 0, 3: 2})
    result = evaluate(ds, backend)
    assert result.map50_95 == pytest.approx(1.0)
    assert [(c.class_id, c.name, c.n_gt) for c in result.per_class] == [(1, "cat", 1), (3, "bird", 2)]
    wrong = evaluate(ds, GroundTruthBackend(ds, class_of={1: 2, 3: 0}))
    assert wrong.map50_95 == 0.0


def test_no_detections_scores_zero(yolo_dir: Path) -> None:
    ds = load_dataset(yolo_dir)
    scores = coco_scores(ds.coco_ground_truth(NAMES), [])
    assert scores.map50_95 == 0.0 and scores.map50 == 0.0 and all(c.ap50 == 0.0 for c in scores.per_class)
    with pytest.raises(InputError, match="no ground-truth"):
        coco_scores({"images": [], "annotations": [], "categories": []}, [])


def test_eval_nms_config_and_backend_errors(tmp_path: Path) -> None:
    cfg = eval_nms_config()
    assert (cfg.conf_threshold, cfg.iou_threshold, cfg.max_det, cfg.multi_label) == (0.001, 0.6, 300, True)
    with pytest.raises(InputError, match="--conf"):
        eval_nms_config(conf_threshold=2.0)
    for name, flag in (
        ("torch", "--weights"),
        ("onnxruntime", "--model-dir"),
        ("tf", "--model-dir"),
        ("tf-detect", "--model-dir"),
        ("rest", "--url"),
        ("grpc", "--grpc"),
    ):
        with pytest.raises(InputError, match=flag):
            make_backend(name)
    with pytest.raises(InputError, match="unknown backend"):
        make_backend("tensorrt")
    with pytest.raises(InputError, match="does not exist"):
        make_backend("tf", model_dir=tmp_path / "nope")


# -- 3. a tiny random model through every backend -------------------------------------------------
def _free_port() -> int:
    return free_port()


@pytest.fixture
def start_server() -> Iterator[Any]:
    """Start the embedded server on free REST and gRPC ports for a model base path; stopped at the end."""
    from yolo_tfserving.serving.server import ModelServer, ServerOptions

    servers: list[Any] = []

    def start(model_base: Path) -> Any:
        last: Exception | None = None
        for _ in range(5):
            options = ServerOptions(
                port=_free_port(),
                rest_api_port=_free_port(),
                rest_api_host="127.0.0.1",
                grpc_host="127.0.0.1",
                model_name="yolov5",
                model_base_path=str(model_base),
                file_system_poll_wait_seconds=0,
                enable_model_warmup=False,
            )
            try:
                server = ModelServer(options)
                server.start()
            except OSError as exc:  # a port taken meanwhile
                last = exc
                continue
            servers.append(server)
            return server
        raise AssertionError(f"could not start the server: {last}")

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def tiny_export(tiny_repo: tuple[Path, Any]) -> Path:
    return tiny_repo[0] / "yolov5"


def _run(ds: Dataset, name: str, **kwargs: Any) -> EvalResult:
    backend = make_backend(name, **kwargs)
    try:
        return evaluate(ds, backend)
    finally:
        backend.close()


def test_tiny_model_backends_agree(yolo_dir: Path, tiny_checkpoint: Path, tiny_export: Path, start_server: Any) -> None:
    ds = load_dataset(yolo_dir)
    server = start_server(tiny_export)
    common = {"weights": tiny_checkpoint, "model_dir": tiny_export}
    results = {
        "torch": _run(ds, "torch", **common),  # --imgsz follows the export (64)
        "onnxruntime": _run(ds, "onnxruntime", **common),
        "tf": _run(ds, "tf", **common),
        "rest": _run(ds, "rest", url=f"http://127.0.0.1:{server.rest_port}"),
        "grpc": _run(ds, "grpc", grpc_target=f"127.0.0.1:{server.grpc_port}"),
    }
    reference = results["torch"]
    print({k: (round(r.map50_95, 5), round(r.map50, 5), r.detections) for k, r in results.items()})
    assert reference.detections > 0 and reference.images == len(SCENES)
    for name, result in results.items():
        assert abs(result.map50_95 - reference.map50_95) < 1e-3, name
        assert abs(result.map50 - reference.map50) < 1e-3, name
        assert abs(result.detections - reference.detections) <= 0.01 * reference.detections + 2, name

    # serve --mixed_precision=bfloat16's runtime, in process: runs, and stays near float32
    bf16 = _run(ds, "tf-bf16", **common)
    assert bf16.detections > 0 and abs(bf16.map50_95 - results["tf"].map50_95) < 0.05

    # the in-graph detect signature (single-label at export) against the numpy path with single-label NMS
    single = eval_nms_config(multi_label=False)
    graph = _run(ds, "tf-detect", model_dir=tiny_export, nms_config=single)
    numpy_single = _run(ds, "tf", model_dir=tiny_export, nms_config=single)
    served = _run(ds, "rest", url=f"http://127.0.0.1:{server.rest_port}", mode="server", nms_config=single)
    assert abs(graph.map50_95 - numpy_single.map50_95) < 1e-3
    assert abs(served.map50_95 - numpy_single.map50_95) < 1e-3


def test_imgsz_must_match_the_export(tiny_export: Path, tiny_checkpoint: Path) -> None:
    with pytest.raises(InputError, match="exported for 64x64"):
        make_backend("tf", model_dir=tiny_export, imgsz=640)
    with pytest.raises(InputError, match="stride"):
        make_backend("torch", weights=tiny_checkpoint, imgsz=100)


# -- the command line ----------------------------------------------------------------------------
def _cli() -> Any:
    import typer

    from yolo_tfserving.cli.eval_cmd import eval_command

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """yolo-tfserving (test harness)."""

    app.command("eval")(eval_command)
    return app


def _invoke(*args: str) -> Any:
    from typer.testing import CliRunner

    return CliRunner().invoke(_cli(), ["eval", *args])


def test_cli_compare_json(yolo_dir: Path, tiny_checkpoint: Path, tiny_export: Path) -> None:
    result = _invoke(
        "--data",
        str(yolo_dir),
        "--weights",
        str(tiny_checkpoint),
        "--model-dir",
        str(tiny_export),
        "--compare",
        "torch,onnxruntime,tf",
        "--max-images",
        "4",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dataset"]["images"] == 4 and data["dataset"]["format"] == "yolo"
    assert data["settings"]["multi_label"] is True and data["settings"]["conf_threshold"] == 0.001
    assert [r["backend"] for r in data["results"]] == ["torch", "onnxruntime", "tf"]
    assert [c["backend"] for c in data["comparison"]] == ["torch", "onnxruntime", "tf"]
    assert data["comparison"][0]["delta_map50_95"] == 0.0
    assert all(abs(c["delta_map50_95"]) < 1e-3 for c in data["comparison"])
    assert "mAP50-95" in result.stderr  # per-backend log lines go to stderr


def test_cli_tables(yolo_dir: Path, tiny_export: Path) -> None:
    result = _invoke("--data", str(yolo_dir), "--model-dir", str(tiny_export), "--single-label")
    assert result.exit_code == 0, result.stderr
    assert "Evaluation (tf)" in result.stdout and "Per-class AP" in result.stdout and "cat" in result.stdout
    result = _invoke("--data", str(yolo_dir), "--model-dir", str(tiny_export), "--compare", "tf,onnxruntime")
    assert result.exit_code == 0, result.stderr
    assert "Backends compared" in result.stdout and "onnxruntime" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--compare", "torch"], "--weights"),
        (["--backend", "tf"], "--model-dir"),
        (["--backend", "rest"], "--url"),
        ([], "nothing to evaluate"),
        (["--backend", "torch", "--compare", "tf"], "either --backend or --compare"),
        (["--compare", "torch,yolo"], "unknown backend"),
        (["--weights", "x.pt", "--conf", "1.5"], "--conf"),
    ],
)
def test_cli_errors_are_one_line(yolo_dir: Path, args: list[str], needle: str) -> None:
    result = _invoke("--data", str(yolo_dir), *args)
    assert result.exit_code == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert "Traceback" not in result.stderr and not result.stdout


def test_cli_dataset_errors(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    _save_image(tmp_path / "images" / "x.png", np.zeros((8, 8, 3), np.uint8))
    result = _invoke("--data", str(tmp_path), "--weights", "x.pt")
    assert result.exit_code == 2 and "labels/" in result.stderr
    (tmp_path / "labels").mkdir()
    (tmp_path / "images" / "x.png").unlink()
    result = _invoke("--data", str(tmp_path), "--weights", "x.pt")
    assert result.exit_code == 2 and "no images" in result.stderr


# -- 4. the real yolov5n on coco128, five ways ----------------------------------------------------
@pytest.mark.shared
def test_coco128_map_agrees_across_backends(real_export: Any, real_weights: Path, start_server: Any) -> None:
    if len(coco128_images()) < 128:
        pytest.skip("coco128 is incomplete in ../shared")
    out, export = real_export
    ds = load_dataset(COCO128)
    timings: dict[str, float] = {}
    results: dict[str, EvalResult] = {}

    def run(name: str, **kwargs: Any) -> None:
        started = time.perf_counter()
        results[name] = _run(ds, name, **kwargs)
        timings[name] = time.perf_counter() - started

    run("torch", weights=real_weights)
    run("onnxruntime", model_dir=export.version_dir)
    run("tf", model_dir=export.version_dir)
    server = start_server(out / export.model_name)  # the served model over the wire, client-side NMS (multi-label)
    run("rest", url=f"http://127.0.0.1:{server.rest_port}")
    run("grpc", grpc_target=f"127.0.0.1:{server.grpc_port}")
    print("\ncoco128 (yolov5n, 640, conf 0.001, IoU 0.6, multi-label, max_det 300):")
    for name, r in results.items():
        print(
            f"  {name:12s} mAP50-95 {r.map50_95:.5f}  mAP50 {r.map50:.5f}  detections {r.detections:6d}  "
            f"{timings[name]:.1f} s"
        )
    reference = results["torch"]
    assert reference.images == 128
    assert 0.2 < reference.map50_95 < 0.7
    assert reference.map50 > reference.map50_95
    for name, result in results.items():
        assert round(result.map50_95, 3) == round(reference.map50_95, 3), (name, result.map50_95)
        assert round(result.map50, 3) == round(reference.map50, 3), (name, result.map50)
