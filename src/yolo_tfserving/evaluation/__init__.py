"""COCO mAP of a model through any backend (PyTorch, ONNX Runtime, TensorFlow, REST, gRPC).

::

    from yolo_tfserving.evaluation import evaluate, load_dataset, make_backend

    dataset = load_dataset("../shared/data/coco128")          # YOLO folder or COCO JSON
    backend = make_backend("torch", weights="yolov5n.pt")     # val.py's NMS settings by default
    result = evaluate(dataset, backend)
    print(result.map50_95, result.map50)

Scores come from pycocotools' ``COCOeval`` (see :mod:`.coco_eval`); the numbers are
comparable between backends on the same images, which is what ``eval --compare`` is for.
"""

from .backends import BACKENDS, Backend, eval_nms_config, make_backend
from .coco_eval import ClassAP, EvalResult, coco_scores, evaluate
from .dataset import Dataset, ImageRecord, load_dataset

__all__ = [
    "BACKENDS",
    "Backend",
    "ClassAP",
    "Dataset",
    "EvalResult",
    "ImageRecord",
    "coco_scores",
    "eval_nms_config",
    "evaluate",
    "load_dataset",
    "make_backend",
]
