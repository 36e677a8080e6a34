"""`make demo`: the main job end to end on the embedded default.

1. export the YOLOv5 checkpoint into a TF Serving model repository (verified against PyTorch)
2. verify it on a handful of images (PyTorch vs ONNX Runtime vs both signatures)
3. serve it with the embedded TF-Serving-compatible server, detect over REST, write
   annotated pictures, stop the server (once the serve and client pieces are installed)

Without ../shared (no real checkpoint), a small random-weight YOLOv5 is built instead so
that every step still runs; its detections are meaningless, and the demo says so.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CLI = [sys.executable, "-m", "yolo_tfserving.cli"]


def run(args: list[str]) -> None:
    print("$ yolo-tfserving " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run([*CLI, *args], check=True)


def random_checkpoint(directory: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from helpers import save_yolov5_checkpoint  # the tests' checkpoint writer
    from yolo_tfserving.yolov5.yolo import build_model

    path = directory / "random-yolov5n.pt"
    save_yolov5_checkpoint(build_model(nc=80), path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--num-images", type=int, default=8)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="yolo-tfserving-demo-"))
    try:
        weights = args.weights
        if not weights.is_file():
            print(
                f"warning: {weights} not found: using a random-weight YOLOv5n (detections are meaningless); "
                "pass WEIGHTS=... for a real model",
                file=sys.stderr,
            )
            weights = random_checkpoint(scratch)
        images = (
            sorted(p for p in args.images.glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
            if args.images.is_dir()
            else []
        )
        if not images:
            print(f"warning: no images in {args.images}; using a synthetic picture", file=sys.stderr)
            from yolo_tfserving.export.warmup import sample_jpeg

            synthetic = args.out / "samples" / "synthetic.jpg"
            synthetic.parent.mkdir(parents=True, exist_ok=True)
            synthetic.write_bytes(sample_jpeg())
            images = [synthetic]
        sample = [str(p) for p in images[: args.num_images]]
        repo = args.out / "models"
        verify_images = [a for p in sample[:4] for a in ("--verify-images", p)]
        run(
            [
                "export",
                str(weights),
                "--out",
                str(repo),
                "--name",
                "yolov5",
                "--version",
                "1",
                "--force",
                *verify_images,
            ]
        )
        run(["verify", str(repo / "yolov5"), "--weights", str(weights), *[a for p in sample for a in ("--images", p)]])
        from yolo_tfserving.cli import demo_serving

        return demo_serving.run(repo=repo, images=[Path(p) for p in sample], out=args.out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
