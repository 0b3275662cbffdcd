"""Executors start tasks and report their completion; they never decide order or budgets.

Each executor implements the small `Executor` protocol below; the engine owns the one loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from makespan.model import Call, Task


@dataclass(slots=True)
class Job:
    """One attempt at one task (not frozen: one is made per start, and frozen init costs)."""

    id: int
    task: Task
    attempt: int
    log: str
    """Where the task's output goes (a path)."""
    slot: int = 0
    """The first slot of the task's pool it was given (process executors pin a worker to it)."""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    """Results of the tasks a `Call` refers to, by task name."""


@dataclass(slots=True)
class Outcome:
    """How an attempt ended: an exit code for commands, a value or an error for callables.

    Treated as immutable, but not frozen: one is made per task, and a frozen one costs three
    times as much to make."""

    exit_code: int | None = None
    error: str | None = None
    value: Any = None
    peak_rss: int | None = None
    failure: Any = None
    """For callables: the `TaskFailed` describing the exception, kept for the caller."""

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


class Router:
    """One executor for a mixed graph: commands, I/O callables and CPU callables.

    It only forwards each call to the executor made for that kind of task.
    """

    def __init__(self, commands: Executor | None, threads: Executor | None,
                 processes: Executor | None) -> None:
        self._routes = {"command": commands, "io": threads, "cpu": processes}
        self._by_task: dict[int, Executor] = {}

    def start(self, job: Job) -> None:
        task = job.task
        executor = self._routes[task.kind if isinstance(task.run, Call) else "command"]
        if executor is None:
            executor = self._route(task)  # raises, naming what is missing
        self._by_task[job.id] = executor
        executor.start(job)

    def stop(self, task: int, force: bool) -> None:
        if task in self._by_task:
            self._by_task[task].stop(task, force)

    def rss(self, task: int) -> int | None:
        return self._by_task[task].rss(task) if task in self._by_task else None

    def close(self) -> None:
        for executor in {id(e): e for e in self._routes.values() if e is not None}.values():
            executor.close()

    def _route(self, task: Task) -> Executor:
        key = task.kind if isinstance(task.run, Call) else "command"
        executor = self._routes[key]
        if executor is None:
            raise RuntimeError(f"no executor for {key} tasks")
        return executor
