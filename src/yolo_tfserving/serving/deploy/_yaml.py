"""YAML documents for the manifests: PyYAML's ``safe_dump_all`` (block style, keys in the order given), each
document preceded by its ``# comment`` lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def to_yaml(documents: Sequence[tuple[str, Any]]) -> str:
    """Several YAML documents, each preceded by its ``# comment`` lines (a comment may be empty)."""
    import yaml

    chunks = []
    for comment, doc in documents:
        lines = [f"# {c}".rstrip() for c in comment.splitlines()] if comment else []
        body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=False, width=1 << 16)
        chunks.append("\n".join(lines) + ("\n" if lines else "") + body)
    return "---\n".join(chunks)
