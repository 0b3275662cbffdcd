"""What a person watching `makespan run` sees, computed from the record's events as they come.

On a terminal: a live progress bar with the running tasks, their elapsed time and an ETA
(the simulated makespan, scaled by how the finished tasks' real durations compare with their
estimates). Elsewhere (CI, pipes): plain lines, no control codes. Each task's output is printed
as one block when it ends, never interleaved with another's (`grouped`), or line by line with a
`[task]` prefix (`stream`). `quiet` prints failures only; the summary comes after, in `render`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from makespan.record import Event, RunRecord
from makespan.units import format_duration

if TYPE_CHECKING:
    from rich.live import Live
    from rich.progress import Progress

STATUS_STYLE = {"ok": "green", "failed": "red", "timeout": "red", "cancelled": "yellow",
                "skipped": "dim"}
MAX_RUNNING_ROWS = 8


class Display:
    """Follows a record's events and prints task outcomes and output blocks."""

    def __init__(self, console: Console, estimates: Mapping[str, float], predicted: float,
                 quiet: bool = False, stream: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.stream = stream
        self._estimates = estimates
        self._predicted = predicted
        self._logs: dict[str, str] = {}
        self._began: dict[str, float] = {}
        self._done = 0
        self._total = len(estimates)
        self._actual = 0.0
        self._expected = 0.0
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._t0 = time.monotonic()

    def attach(self, record: RunRecord) -> None:
        record.listeners.append(self.on_event)
        if self.console.is_terminal and not self.quiet:
            # Imported here: quiet runs and runs off a terminal never need them (~8 ms).
            from rich.live import Live
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("{task.fields[eta]}"),
                                      console=self.console)
            self._progress.add_task("running", total=self._total, eta="")
            self._live = Live(self._render(), console=self.console, refresh_per_second=8,
                              transient=True, get_renderable=self._render)
            self._live.start()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def line(self, task: str, text: str) -> None:
        """A line of a task's output, in `stream` mode."""
        if not self.quiet:
            self.console.print(Text(f"[{task}] ", style="cyan") + Text(text), soft_wrap=True)

    def on_event(self, event: Event) -> None:
        name = event.task
        if name is None:
            if event.kind in ("paused", "resumed") and not self.quiet:
                self.console.print(Text(_pause_text(event), style="yellow"))
            return
        if event.kind == "started":
            self._logs[name] = event.data["log"]
            self._began.setdefault(name, event.time)
        elif event.kind == "finished":
            self._finished(name, event)
        elif event.kind == "skipped":
            self._done += 1
        if self._progress is not None:
            self._progress.update(self._progress.task_ids[0], completed=self._done,
                                  eta=self._eta())

    def _finished(self, name: str, event: Event) -> None:
        status = event.data["status"]
        began = self._began.pop(name, event.time)
        self._done += 1
        self._actual += event.time - began
        self._expected += self._estimates.get(name, 0.0)
        failed = status not in ("ok", "cancelled")
        if self.quiet and not failed:
            return
        header = Text(f"{status:>9} ", style=STATUS_STYLE.get(status, ""))
        header.append(name, style="bold")
        header.append(f"  {format_duration(event.time - began)}", style="dim")
        if event.data.get("reason") and status != "ok":
            header.append(f"  ({event.data['reason']})", style=STATUS_STYLE.get(status, ""))
        output = "" if self.stream else _read(self._logs.get(name))
        if output:
            # soft_wrap: a task's lines are printed as they are, never folded at the width.
            self.console.print(Group(header, Text(output.rstrip("\n")), Text("")),
                               soft_wrap=True)
        else:
            self.console.print(header)

    def _eta(self) -> str:
        elapsed = time.monotonic() - self._t0
        scale = self._actual / self._expected if self._expected > 0 else 1.0
        left = max(0.0, self._predicted * scale - elapsed)
        return f"ETA {format_duration(left)}" if self._done < self._total else ""

    def _render(self) -> Group:
        assert self._progress is not None
        now = time.monotonic() - self._t0
        running = Table.grid(padding=(0, 2))
        for name, began in list(self._began.items())[:MAX_RUNNING_ROWS]:
            running.add_row(Text(name, style="cyan"), Text(format_duration(now - began)))
        if len(self._began) > MAX_RUNNING_ROWS:
            running.add_row(Text(f"… {len(self._began) - MAX_RUNNING_ROWS} more"), Text(""))
        return Group(self._progress, running)


def _read(path: str | None) -> str:
    if path is None:
        return ""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _pause_text(event: Event) -> str:
    if event.kind == "paused":
        return "holding new tasks: available memory is under the reserve"
    return "available memory recovered: starting tasks again"
