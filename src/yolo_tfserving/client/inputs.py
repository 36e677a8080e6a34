"""Turn user-given paths (files, folders, globs) into an ordered list of image files."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from .._errors import InputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


def expand_image_paths(items: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders recursively (image suffixes only), globs expanded; sorted per item."""
    out: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        elif path.exists():
            out.append(path)
        elif any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not matches:
                raise InputError(f"no files match {text}")
            out.extend(m for m in matches if m.is_file())
        else:
            raise InputError(f"no such file or folder: {text}")
    return out
