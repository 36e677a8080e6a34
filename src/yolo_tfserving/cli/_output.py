"""Where the CLI writes: data on stdout, logs and progress on stderr (rich on a terminal)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class Reporter:
    """Human tables or JSON on stdout; progress and errors on stderr."""

    def __init__(self, *, json_output: bool) -> None:
        self.json_output = json_output
        self.interactive = sys.stderr.isatty() and not json_output

    def data(self, payload: Any) -> None:
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def error(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def table(self, title: str, rows: Sequence[tuple[str, str]]) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(key, value)
        Console(file=sys.stdout, soft_wrap=True).print(table)

    def rows_table(self, title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for h in header:
            table.add_column(h)
        for row in rows:
            table.add_row(*row)
        Console(file=sys.stdout, soft_wrap=True).print(table)

    @contextmanager
    def steps(self, label: str) -> Iterator[Callable[[str], None]]:
        """A spinner with the current step on a terminal; timestamped lines otherwise."""
        start = time.perf_counter()
        if self.interactive:
            from rich.console import Console

            console = Console(file=sys.stderr)
            with console.status(f"{label}: starting") as status:
                yield lambda msg: status.update(f"{label}: {msg} ({time.perf_counter() - start:.0f} s)")
        else:
            yield lambda msg: self.log(f"[{time.perf_counter() - start:6.1f}s] {label}: {msg}")

    @contextmanager
    def progress(self, label: str, *, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar on a terminal; silent otherwise. Yields ``advance()``."""
        if not self.interactive:
            yield lambda: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=Console(file=sys.stderr),
        ) as bar:
            task = bar.add_task(label, total=total)
            yield lambda: bar.advance(task)
