"""Image bombs against the exported SavedModel in-process (issue 10): per bomb, the time of a
``serving_default`` call (the first, then the best of two more) and the growth of the process's
peak RSS over the first, in a fresh process each (after loading and one call on the photo; the
growth is over that peak, so a small cost may show as 0).

Bombs (built by tests/image_bombs.py): a ~630-byte JPEG whose header says 13000x13000, a 64 KB
1-bit PNG of 23000x23000, a 1.2 MB GIF of 300 frames of 2000x2000 (only frame 0 is used), and
for reference a normal photo and the GIF's first frame alone. Target: a bomb past the pixel
limit is refused in milliseconds with no memory growth; the GIF costs what its first frame costs.

    python bench/image_bombs.py [--weights PT] [--image JPG] [--model-dir DIR] [--json]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import ROOT, export_once, machine, script_parser

BOMBS = ("photo", "jpeg 13000x13000", "png 23000x23000 1-bit", "gif 300x 2000x2000", "gif 1x 2000x2000")


def _bomb_bytes(kind: str, image: Path) -> bytes:
    sys.path.insert(0, str(ROOT / "tests"))
    import image_bombs

    if kind == "photo":
        return image.read_bytes()
    if kind.startswith("jpeg"):
        return image_bombs.jpeg_bomb(13000, 13000)
    if kind.startswith("png"):
        return image_bombs.png_bomb(23000, 23000)
    return image_bombs.gif_frames(300 if kind.startswith("gif 300") else 1, 2000)


def child(kind: str, model_dir: Path, image: Path) -> dict[str, object]:
    """One bomb in this (fresh) process: load, warm up on the photo, then time the bomb."""
    import resource
    import time

    import tensorflow as tf

    data = _bomb_bytes(kind, image)
    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    fn(images=tf.constant([image.read_bytes()]))  # warm-up: graph built, kernels and buffers allocated
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds: list[float] = []
    after_kb = before_kb
    for _ in range(3):  # the first call also pays one-time costs (kernels of a branch not taken before)
        started = time.perf_counter()
        try:
            out = fn(images=tf.constant([data]))
            outcome = f"ok, {int(out['num_detections'].numpy()[0])} detections"
        except tf.errors.OpError as exc:
            lines = exc.message.strip().splitlines()
            reason = next((ln for ln in lines if "assertion failed" in ln), lines[-1]).split("}}")[-1].strip()
            outcome = f"{type(exc).__name__}: {reason[:150]}"
        seconds.append(time.perf_counter() - started)
        if len(seconds) == 1:
            after_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "bytes": len(data),
        "first_s": seconds[0],
        "then_s": min(seconds[1:]),
        "peak_rss_growth_mb": (after_kb - before_kb) / 1024,
        "outcome": outcome,
    }


def run(weights: Path, image: Path, model_dir: Path | None = None) -> dict[str, object]:
    rows: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None:
            model_dir = export_once(weights, Path(tmp)) / "1"
        for kind in BOMBS:
            cmd = [sys.executable, __file__, "--child", kind, "--model-dir", str(model_dir), "--image", str(image)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                rows[kind] = {"outcome": f"child exited {done.returncode}: {done.stderr.strip()[-300:]}"}
                continue
            rows[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"machine": machine(), "model": str(weights.name), "rows": rows}


def to_markdown(res: dict[str, object]) -> str:
    rows = res["rows"]
    assert isinstance(rows, dict)
    lines = [
        f"One `serving_default` call per input, {res['model']} SavedModel in-process, a fresh process each "
        f"({res['machine']}).",
        "",
        "| input | bytes | first call s | then s | peak RSS growth MB | outcome |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for k, v in rows.items():
        if "first_s" not in v:
            lines.append(f"| {k} | | | | | {v['outcome']} |")
            continue
        lines.append(
            f"| {k} | {v['bytes']:,} | {v['first_s']:.3f} | {v['then_s']:.3f} | {v['peak_rss_growth_mb']:.0f} "
            f"| {v['outcome']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = script_parser(__doc__, repeats=1)
    parser.add_argument("--model-dir", type=Path, default=None, help="an exported version directory (skips export)")
    parser.add_argument("--child", choices=BOMBS, default=None, help=argparse_hidden())
    args = parser.parse_args()
    if args.image is None:
        print("error: needs --image (../shared provides one)", file=sys.stderr)
        return 2
    if args.child:
        print(json.dumps(child(args.child, args.model_dir, args.image)))
        return 0
    if args.model_dir is None and not args.weights.is_file():
        print("error: needs --weights or --model-dir (../shared provides yolov5n)", file=sys.stderr)
        return 2
    res = run(args.weights, args.image, args.model_dir)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
