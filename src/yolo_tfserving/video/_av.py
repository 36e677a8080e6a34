"""PyAV, imported on first use, with one actionable error when the ``video`` extra is missing."""

from __future__ import annotations

from types import ModuleType

from .._errors import MissingDependencyError


def require_av() -> ModuleType:
    """The ``av`` module (PyAV: FFmpeg's decoders, encoders and demuxers)."""
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError("av", "video") from exc
    return av
