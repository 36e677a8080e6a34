"""Backends in-process: PyTorch eager, ONNX Runtime, SavedModel `raw`, SavedModel `serving_default`.

One run, same image, median of N calls, each row a ratio to ONNX Runtime (and serving_default
also to raw). Also times the export itself. Targets (issue 2): raw <= 1.0x ONNX Runtime,
serving_default <= 1.15x raw, export <= 120 s.

It also runs itself once more with one thread per runtime (``--threads 1``: TensorFlow's
intra- and inter-op pools, ONNX Runtime's intra-op pool, PyTorch), in a fresh process since
TensorFlow fixes its pools at start: that row separates kernel speed from threading.

    python bench/export_latency.py [--weights PT] [--image JPG] [--repeats 30] [--threads N] [--json]
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import machine, median, script_parser, time_ms


def run(weights: Path, image: Path | None, repeats: int, threads: int | None = None) -> dict[str, object]:
    if threads is not None and "tensorflow" not in sys.modules:
        os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf
    import torch
    from PIL import Image

    from yolo_tfserving.export.pipeline import ExportOptions, export_model
    from yolo_tfserving.ops import letterbox
    from yolo_tfserving.yolov5.checkpoint import load_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = export_model(weights, tmp, options=ExportOptions())
        export_s = time.perf_counter() - start
        if image is not None:
            data = image.read_bytes()
        else:
            buf = io.BytesIO()
            Image.fromarray(np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)).save(buf, "JPEG")
            data = buf.getvalue()
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        canvas, _ = letterbox(rgb, result.size_hw)
        x_nhwc = (canvas.astype(np.float32) / 255.0)[None]
        x_nchw = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))

        model = load_checkpoint(weights).model
        torch.set_num_threads(threads or os.cpu_count() or 1)
        session_options = ort.SessionOptions()
        if threads is not None:
            session_options.intra_op_num_threads = session_options.inter_op_num_threads = threads
        session = ort.InferenceSession(
            str(result.version_dir / "assets.extra" / "model.onnx"),
            session_options,
            providers=["CPUExecutionProvider"],
        )
        loaded = tf.saved_model.load(str(result.version_dir))
        raw = loaded.signatures["raw"]
        serving = loaded.signatures["serving_default"]
        x_tf = tf.constant(x_nhwc)
        jpeg = tf.constant([data])

        def torch_call() -> None:
            with torch.no_grad():
                model(torch.from_numpy(x_nchw))

        rows: dict[str, list[float]] = {}
        rounds = 6  # interleaved rounds, so drift on a shared machine hits every backend alike
        for _ in range(rounds):
            for name, fn in (
                ("pytorch_eager", torch_call),
                ("onnxruntime", lambda: session.run(None, {session.get_inputs()[0].name: x_nchw})),
                ("savedmodel_raw", lambda: raw(images=x_tf)["predictions"].numpy()),
                ("savedmodel_serving_default", lambda: serving(images=jpeg)["num_detections"].numpy()),
            ):
                rows.setdefault(name, []).extend(time_ms(fn, repeats=max(1, repeats // rounds)))
    medians = {k: median(v) for k, v in rows.items()}
    base = medians["onnxruntime"]
    one_thread = _one_thread(weights, image, repeats) if threads is None else None
    return {
        "threads": threads or os.cpu_count(),
        "one_thread": one_thread,
        "machine": machine(),
        "image": image.name if image else "synthetic 640x480 JPEG",
        "repeats": len(rows["onnxruntime"]),
        "export_seconds": round(export_s, 1),
        "median_ms": {k: round(v, 2) for k, v in medians.items()},
        "ratio_to_onnxruntime": {k: round(v / base, 3) for k, v in medians.items()},
        "serving_default_over_raw": round(medians["savedmodel_serving_default"] / medians["savedmodel_raw"], 3),
    }


def _one_thread(weights: Path, image: Path | None, repeats: int) -> dict[str, object]:
    """This script again in a fresh process with ``--threads 1``; its medians and ratios."""
    cmd = [sys.executable, __file__, "--weights", str(weights), "--repeats", str(repeats), "--threads", "1", "--json"]
    if image is not None:
        cmd += ["--image", str(image)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the one-thread run failed:\n{proc.stderr[-2000:]}")
    res = json.loads(proc.stdout)
    return {"median_ms": res["median_ms"], "ratio_to_onnxruntime": res["ratio_to_onnxruntime"]}


def to_markdown(res: dict[str, object]) -> str:
    med = res["median_ms"]
    ratio = res["ratio_to_onnxruntime"]
    assert isinstance(med, dict) and isinstance(ratio, dict)
    lines = [
        f"Backends in-process, yolov5n 640, batch 1, image {res['image']}, median of {res['repeats']} "
        f"({res['machine']}); export took {res['export_seconds']} s.",
        "",
        "| backend | median ms | vs ONNX Runtime |",
        "|---|---:|---:|",
    ]
    lines += [f"| {k} | {med[k]:.1f} | {ratio[k]:.2f}x |" for k in med]
    lines.append(f"\nserving_default (decode + letterbox + model + NMS) / raw: {res['serving_default_over_raw']:.2f}x")
    one = res.get("one_thread")
    if isinstance(one, dict):
        m, r = one["median_ms"], one["ratio_to_onnxruntime"]
        lines.append(
            f"\nOne thread per runtime (fresh process, `--threads 1`): SavedModel raw {m['savedmodel_raw']:.1f} ms, "
            f"ONNX Runtime {m['onnxruntime']:.1f} ms, PyTorch eager {m['pytorch_eager']:.1f} ms; "
            f"raw / ONNX Runtime = {r['savedmodel_raw']:.2f}x."
        )
    return "\n".join(lines)


def main() -> int:
    parser = script_parser(__doc__, repeats=30)
    parser.add_argument("--threads", type=int, default=None, help="threads per runtime (default: all cores)")
    args = parser.parse_args()
    if not args.weights.is_file():
        print(f"error: {args.weights} not found (pass --weights)", file=sys.stderr)
        return 2
    res = run(args.weights, args.image, max(args.repeats, 20), threads=args.threads)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
