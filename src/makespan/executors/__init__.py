"""Executors start tasks and report their completion; they never decide order or budgets.

Each executor implements the small `Executor` protocol below; the engine owns the one loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from makespan.model import Task


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt at one task."""

    id: int
    task: Task
    attempt: int
    log: Path


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended: an exit code for commands, a value or an error for callables."""

    exit_code: int | None = None
    error: str | None = None
    value: Any = None
    peak_rss: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code in (0, None)


OnDone = Callable[[int, Outcome], None]


class Executor(Protocol):
    def start(self, job: Job) -> None:
        """Begin `job`; report its end through the `on_done` callback given at construction."""

    def stop(self, task: int, force: bool) -> None:
        """Ask a running task to end (SIGTERM to its whole tree), or make it (`force`: SIGKILL)."""

    def rss(self, task: int) -> int | None:
        """Resident memory of the running task's whole process tree, if it can be measured."""

    def close(self) -> None:
        """Release everything; no process started by this executor may outlive it."""
