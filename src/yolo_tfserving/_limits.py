"""The image pixel limit shared by the exported graph and the client (no heavy imports).

A decoded image costs 3 bytes per pixel before it is letterboxed down to the model's input, so
the limit bounds the memory one image can take: 40 megapixels is 120 MB decoded. It passes 8K
UHD frames (33.2 MP) and the photos of full-frame cameras (up to ~36 MP) and phones' default
modes (12-24 MP); a 48/50/108/200 MP phone mode needs ``--max-pixels`` at export. Pillow warns
from 89.5 MP (``Image.MAX_IMAGE_PIXELS``), so the client decodes nothing Pillow calls a bomb.
"""

from __future__ import annotations

from ._errors import InputError

DEFAULT_MAX_PIXELS = 40_000_000

# positional ``{}`` fields, filled by str.format in Python and by tf.strings.format in the graph:
# what, width, height, pixels, limit
LIMIT_TEMPLATE = "{} is {}x{} ({} pixels), over the limit of {} pixels"
GRAPH_FIX = "; this limit was set at export: re-export with `yolo-tfserving export --max-pixels N` (0: no limit)"
CLIENT_FIX = (
    "; the limit is the model's (`yolo-tfserving export --max-pixels N` raises it) or the client's "
    "own (Client(max_pixels=N)); downscale the image or raise the limit"
)


def check_max_pixels(max_pixels: int, name: str = "max_pixels") -> int:
    """``max_pixels`` as given, or InputError (0 means no limit)."""
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 0:
        raise InputError(f"{name} must be a non-negative integer (0: no limit), got {max_pixels!r}")
    return max_pixels


def over_limit_message(what: str, width: int, height: int, limit: int, fix: str = CLIENT_FIX) -> str:
    return LIMIT_TEMPLATE.format(what, width, height, width * height, limit) + fix
