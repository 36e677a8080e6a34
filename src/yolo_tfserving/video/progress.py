"""The per-video progress bar: frames done, frames/s and, when the length is known, the ETA (rich)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def frame_progress(label: str, *, total: int | None, enabled: bool) -> Iterator[Callable[[], None]]:
    """Yields ``advance()`` (one frame); silent when not ``enabled`` (not a terminal)."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class FpsColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed or 0.0:5.1f} fps")

    columns: list[Any] = [TextColumn(label)]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn(), FpsColumn(), TimeRemainingColumn()]
    else:
        columns += [TextColumn("{task.completed} frames"), FpsColumn()]
    with Progress(*columns, transient=True, console=Console(file=sys.stderr)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
