"""The ``tensorflow/serving`` image: its tag follows the TensorFlow version that built the model."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Sequence

from packaging.version import Version

from ..._errors import InputError
from ._common import FALLBACK_TF_VERSION, IMAGE_REPOSITORY


def installed_tensorflow_version() -> str:
    """The TensorFlow installed here (read from package metadata, never imported), or the fallback."""
    try:
        return importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        return FALLBACK_TF_VERSION


def serving_version_for(versions: Sequence[Version]) -> Version:
    """The TensorFlow Serving release to run models built by ``versions``: the newest of them (numerically)."""
    if not versions:
        raise InputError("no TensorFlow version to choose an image for")
    return max(versions)


def _release(version: Version) -> str:
    """``X.Y.Z`` of a version (pre-release, local and dev parts dropped; missing parts are 0)."""
    parts = (*version.release, 0, 0)[:3]
    return ".".join(str(p) for p in parts)


def _split_image(image: str) -> tuple[str, str | None]:
    """``(repository, tag)`` of an image reference; the tag is None when absent (digest or default)."""
    ref = image.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, None


def image_for(tf_version: Version, image: str | None = None) -> str:
    """The ``tensorflow/serving`` image for a model built by ``tf_version``.

    A caller's ``image`` is kept, but refused when its tag is a version older than ``tf_version``
    (a TF Serving older than the TensorFlow that wrote the SavedModel may not know its ops).
    """
    required = _release(tf_version)
    if image is None:
        return f"{IMAGE_REPOSITORY}:{required}"
    if not image.strip() or any(c.isspace() for c in image):
        raise InputError(f"image {image!r} is not an image reference like {IMAGE_REPOSITORY}:{required}")
    _, tag = _split_image(image)
    match = re.match(r"^(\d+(?:\.\d+)*)", tag or "")
    if match and Version(match.group(1)) < Version(required):
        raise InputError(
            f"image {image} is older than TensorFlow {tf_version}, which built the model; "
            f"use {IMAGE_REPOSITORY}:{required} or newer"
        )
    return image
