"""Letterbox cost (imgsz 640): the client's numpy letterbox and the in-graph one (TensorFlow, a
``tf.function`` as the SavedModel runs it), per source size. For the graph: the letterbox alone
on a decoded image, and decode + letterbox on JPEG bytes minus decode alone. Medians of wall
time and of process CPU time (all threads; steadier than wall time on a shared machine).

1280x720 is an exact 2x downscale (OpenCV, so we, take the 2x2-mean path); the other sizes take
the fixed-point bilinear path.

    python bench/letterbox_cost.py [--image JPG] [--repeats 30] [--json]
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import machine, script_parser

SIZES_WH = ((1280, 720), (1920, 1080), (1000, 750), (500, 375))


def source_image(width: int, height: int, path: Path | None) -> Any:
    """A photo (coco128's first image) resized to ``width x height``, or smooth noise without it."""
    import numpy as np
    from PIL import Image

    if path is not None:
        return np.asarray(Image.open(path).convert("RGB").resize((width, height), Image.BICUBIC))
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC))


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and median CPU milliseconds of ``repeats`` calls after 3 warm-up calls."""
    for _ in range(3):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    args = script_parser(__doc__, repeats=30).parse_args()

    import tensorflow as tf
    from PIL import Image

    from yolo_tfserving.export import tf_ops
    from yolo_tfserving.ops import letterbox

    graph_letterbox = tf.function(lambda image: tf_ops.letterbox(image, (640, 640))[0])
    graph_decode = tf.function(lambda data: tf_ops.decode_rgb(data)[:1, :1])  # decoded, not copied out
    graph_both = tf.function(lambda data: tf_ops.letterbox(tf_ops.decode_rgb(data), (640, 640))[0])

    rows = []
    for width, height in SIZES_WH:
        image = source_image(width, height, args.image)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="JPEG", quality=90)
        jpeg = tf.constant(buf.getvalue())
        tensor = tf.constant(image)
        r = args.repeats
        numpy_ms = timed(lambda image=image: letterbox(image, (640, 640)), r)
        graph_ms = timed(lambda t=tensor: graph_letterbox(t).numpy(), r)
        decode_ms = timed(lambda j=jpeg: graph_decode(j).numpy(), r)
        both_ms = timed(lambda j=jpeg: graph_both(j).numpy(), r)
        rows.append(
            {
                "source": f"{width}x{height}",
                **{
                    f"{name}_{kind}_ms": round(value[i], 2)
                    for name, value in [("numpy", numpy_ms), ("graph", graph_ms), ("decode", decode_ms)]
                    for i, kind in enumerate(("wall", "cpu"))
                },
                "graph_on_jpeg_wall_ms": round(both_ms[0] - decode_ms[0], 2),
                "graph_on_jpeg_cpu_ms": round(both_ms[1] - decode_ms[1], 2),
            }
        )

    if args.json:
        print(json.dumps({"machine": machine(), "rows": rows}, indent=2))
        return
    print(machine())
    columns = ["numpy", "graph", "decode", "graph_on_jpeg"]
    print(f"{'source':>10} " + " ".join(f"{c:>19}" for c in columns) + "   (ms, median wall / cpu)")
    for row in rows:
        cells = [f"{row[c + '_wall_ms']:>9} / {row[c + '_cpu_ms']:<7}" for c in columns]
        print(f"{row['source']:>10} " + " ".join(cells))


if __name__ == "__main__":
    main()
