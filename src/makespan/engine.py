"""The engine: the one loop that drives the scheduler with the real clock.

    Scheduler.start(now) --Start--> engine --Job--> executor --> child process / worker
          ^                                                           |
          |                        Reactor.wait <--post / fd----------'
          `--finish / fail------ engine._on_done(task, Outcome) --> RunRecord events

Order and admission are the scheduler's alone; the engine only adds what needs a clock:
timeouts, retries with backoff, the grace period between SIGTERM and SIGKILL, memory samples
(and holding new starts while available memory is under the reserve), and the reaction to a
failure (fail-fast, or keep-going with dependents skipped) or to Ctrl-C / SIGTERM.

Steps on other threads. Every change to the engine's state happens under the reactor's lock,
which the loop holds except while it waits. A thread executor's worker that finishes a task
takes that lock and runs the step itself (`Reactor.run_here`): `_on_done`, then `_after_step`
asks the scheduler what may start now and launches it, so the next task needs no wake-up of
the loop. The loop is woken only when a step leaves it something to do: the run may be over, a
failure stops it, or a new deadline or retry changes when it must next look.
"""

from __future__ import annotations

import heapq
import os
import pickle
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil

from makespan.errors import TaskFailed
from makespan.executors import Executor, Job, OnDone, Outcome
from makespan.model import Call, Task, TaskGraph, append_task
from makespan.reactor import Reactor
from makespan.record import RunRecord, Status
from makespan.resources import Resources
from makespan.scheduler import POOLS, Scheduler, Start

ExecutorFactory = Callable[[Reactor, OnDone], Executor]

MAX_BACKOFF = 30.0
_NO_INPUTS: dict[str, Any] = {}
_UNSAFE = re.compile(r"[^A-Za-z0-9._\[\]-]")
"""Characters a log file name does not keep."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    keep_going: bool = False
    grace: float = 3.0
    """Seconds between SIGTERM and SIGKILL when tasks are stopped."""
    retry_backoff: float = 0.5
    """Delay before the first retry; it doubles with each further attempt."""
    sample_every: float = 0.25
    """Seconds between memory samples of the running tasks and the machine."""
    memory_reserve: int = 0
    """No new task starts while available memory is under this many bytes (0: never hold)."""


@dataclass(slots=True)
class _Attempt:
    start: Start
    attempt: int
    began: float
    deadline: float | None
    peak_rss: int = 0
    ending: Status | None = None
    """Set when the engine stopped the task (timeout, fail-fast, interrupt)."""
    kill_at: float | None = None


@dataclass(slots=True)
class _State:
    stopping: str | None = None
    """Why no new task may start (a failure or an interruption), once that happens."""
    interrupted: bool = False
    failed: bool = False
    paused_since: float | None = None
    retries: list[tuple[float, int, int]] = field(default_factory=list)
    """(when, task, attempt) of retries waiting for their backoff."""


class Engine:
    def __init__(
        self,
        graph: TaskGraph,
        resources: Resources,
        durations: Sequence[float],
        position: Sequence[int],
        make_executor: ExecutorFactory,
        record: RunRecord,
        logs: Path,
        options: RunOptions,
        strict: bool = False,
    ) -> None:
        self.graph = graph
        self.scheduler = Scheduler(graph, resources, durations, position, strict=strict)
        self.record = record
        self.options = options
        self.reactor = Reactor()
        self.reactor.after_step = self._after_step
        self.executor = make_executor(self.reactor, self._on_done)
        self._logs = logs
        self._log_names = _LogNames(graph, logs)
        self._slot_labels = {pool: [f"{pool}-{slot}" for slot in range(resources.slots(pool))]
                             for pool in POOLS}
        """The record's name of each slot ("cpu-0"), made once rather than per start."""
        self._running: dict[int, _Attempt] = {}
        self._state = _State()
        self.values: dict[str, Any] = {}
        """Results of the Python tasks that succeeded, by task name."""
        self.failures: dict[str, TaskFailed] = {}
        """How each failed Python task failed, by task name."""
        self._t0 = time.monotonic()
        self._next_sample = 0.0
        self._look = False
        """A step off the loop's thread changed when the loop must next look (see run_here)."""
        self.admit: Callable[[Task], bool] | None = None
        """Asked just before a task starts; False drops it (a future cancelled meanwhile)."""

    accepting = False
    """While True the run does not end when the graph is done: `add` may bring more tasks."""

    def add(self, task: Task, duration: float) -> int:
        """Append an independent task to an open graph (the futures Executor); its id."""
        v = append_task(self.graph, task)
        try:
            self.scheduler.add(v, duration)  # InputError if it can never fit the budget
        except BaseException:
            _drop_last_task(self.graph)
            raise
        self.record.task_names.append(task.name)
        self._log_names.add(task.name)
        return v

    def withdraw(self, v: int) -> None:
        """Drop a task that has not started (its future was cancelled)."""
        if self.scheduler.withdraw(v):
            self.record.add("skipped", self.now(), self.graph.tasks[v].name,
                            reason="cancelled before it started")

    @property
    def interrupted(self) -> bool:
        return self._state.interrupted

    @property
    def failed(self) -> bool:
        return self._state.failed

    def now(self) -> float:
        return time.monotonic() - self._t0

    def run(self) -> None:
        """Run the graph to the end, a failure or an interruption. Always leaves no child."""
        in_main = threading.current_thread() is threading.main_thread()
        restore = self.reactor.catch_signals((signal.SIGINT, signal.SIGTERM)) if in_main else None
        self._t0 = time.monotonic()
        self.reactor.lock.acquire()
        try:
            self._loop()
        finally:
            try:
                self.executor.close()
                if restore is not None:
                    restore()
                self.reactor.close()
                self._abandon_running()
                self._skip_unstarted()
                self.record.add("ended", self.now())
            finally:
                self.reactor.lock.release()

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        scheduler, state = self.scheduler, self._state
        while True:
            now = self.now()
            if self.reactor.signals and self._on_signal(now):
                return
            self._clock_work(now)
            if state.stopping is None and state.paused_since is None:
                for start in scheduler.start(now):
                    self._launch(start, 1, now)
            finished = state.stopping or (scheduler.done and not self.accepting)
            if not self._running and not state.retries and finished:
                return
            self.reactor.wait(self._timeout(now))

    def _after_step(self) -> None:
        """The rest of a step taken on another thread: start what the scheduler now allows;
        wake the loop if the run may be over or its timers changed."""
        state = self._state
        if state.stopping is None and state.paused_since is None and not self.reactor.signals:
            now = time.monotonic() - self._t0
            for start in self.scheduler.start(now):
                self._launch(start, 1, now)
        if self._look or not self._running:
            self._look = False
            self.reactor.wake()

    def _launch(self, start: Start, attempt: int, now: float) -> None:
        v = start.task
        if self._state.stopping is not None:  # a start before it in its batch failed at once
            self.scheduler.fail(v)  # it never starts: its row says so when the run ends
            return
        task = self.graph.tasks[v]
        if self.admit is not None and not self.admit(task):
            self.scheduler.fail(v)
            self.record.add("skipped", now, task.name, reason="cancelled before it started")
            return
        log = self._log_names.path(v)
        deadline = None
        if task.timeout is not None:
            deadline = now + task.timeout
            self._look = True
        self._running[v] = _Attempt(start, attempt, now, deadline)
        self.record.add("started", now, task.name, attempt=attempt,
                        slot=self._slot_labels[start.pool][start.slots[0]], log=log)
        run = task.run
        inputs = {ref: self.values[ref] for ref in run.refs} if task.deps and isinstance(
            run, Call) and (run.args or run.kwargs) else _NO_INPUTS
        try:
            self.executor.start(Job(v, task, attempt, log, start.slots[0], inputs))
        except Exception as error:  # an executor that cannot take a task fails it, not the run
            self._on_done(v, _not_started(task.name, error))

    def _on_done(self, v: int, outcome: Outcome) -> None:
        now = time.monotonic() - self._t0
        attempt = self._running.pop(v)
        task = self.graph.tasks[v]
        if attempt.ending is None and outcome.error is None and not outcome.exit_code:
            # The common case, kept short: it ran and it succeeded.
            self.values[task.name] = outcome.value  # before the event, whose readers want it
            self.record.add("finished", now, task.name, status="ok",
                            exit_code=outcome.exit_code,
                            peak_rss=max(attempt.peak_rss, outcome.peak_rss or 0) or None,
                            reason=None)
            self.scheduler.finish(v)
            return
        # A task the engine stopped ends as the engine decided, even if it exited 0 on SIGTERM.
        status: Status = attempt.ending or ("ok" if outcome.ok else "failed")
        peak = max(attempt.peak_rss, outcome.peak_rss or 0) or None
        state = self._state
        if status in ("failed", "timeout") and attempt.attempt <= task.retries and (
            state.stopping is None
        ):
            delay = min(MAX_BACKOFF, self.options.retry_backoff * 2 ** (attempt.attempt - 1))
            self.record.add("retrying", now, task.name, attempt=attempt.attempt, status=status,
                            exit_code=outcome.exit_code, delay=delay)
            self._running[v] = attempt  # keeps its slots through the backoff
            heapq.heappush(state.retries, (now + delay, v, attempt.attempt + 1))
            self._look = True
            return
        if outcome.failure is not None:
            self.failures[task.name] = outcome.failure
        if status == "ok":
            self.values[task.name] = outcome.value  # before the event, whose readers want it
        # A task the engine stopped is explained by why it was stopped, not by how it died.
        if attempt.ending == "cancelled":
            reason: str | None = f"stopped: {state.stopping or 'cancelled'}"
        elif attempt.ending == "timeout":
            reason = "timed out"
        else:
            reason = outcome.error or _reason(status, attempt, outcome)
        self.record.add("finished", now, task.name, status=status, exit_code=outcome.exit_code,
                        peak_rss=peak, reason=reason)
        if status == "ok":
            self.scheduler.finish(v)
        elif status == "cancelled" or not self.options.keep_going:
            self.scheduler.fail(v)
            if status != "cancelled":
                state.failed = True
                self._stop(f"'{task.name}' {_verb(status)}", now)
        else:
            state.failed = True
            for lost in self.scheduler.fail(v):
                self.record.add("skipped", now, self.graph.tasks[lost].name,
                                reason=f"needs '{task.name}', which {_verb(status)}")

    # ------------------------------------------------------------------ clock work

    def _clock_work(self, now: float) -> None:
        """Timeouts, kills after the grace period, retries due, and memory samples."""
        # A list: stopping a thread reports its end at once, which leaves `_running`.
        for v, attempt in list(self._running.items()):
            if attempt.deadline is not None and now >= attempt.deadline and not attempt.ending:
                attempt.ending = "timeout"
                self._terminate(v, attempt, now)
            if attempt.kill_at is not None and now >= attempt.kill_at:
                attempt.kill_at = None
                self.executor.stop(v, force=True)
        retries = self._state.retries
        # Once the run stops, a retry waiting for its backoff is cancelled now, not when it is due.
        while retries and (retries[0][0] <= now or self._state.stopping is not None):
            _, v, number = heapq.heappop(retries)
            old = self._running.pop(v)
            if self._state.stopping is None:
                self._launch(old.start, number, now)
            else:
                self.scheduler.fail(v)
                self.record.add("finished", now, self.graph.tasks[v].name, status="cancelled",
                                reason=f"retry not started: {self._state.stopping}")
        if now >= self._next_sample:
            self._sample(now)
            self._next_sample = now + self.options.sample_every

    def _sample(self, now: float) -> None:
        available = psutil.virtual_memory().available
        usage = {}
        for v, attempt in self._running.items():
            rss = self.executor.rss(v)
            if rss:
                attempt.peak_rss = max(attempt.peak_rss, rss)
                usage[self.graph.tasks[v].name] = rss
        if usage:
            self.record.add("sample", now, available=available, rss=usage)
        self._hold_for_memory(available, now)

    def _hold_for_memory(self, available: int, now: float) -> None:
        """Hold new starts while available memory is under the reserve (if anything runs)."""
        state = self._state
        low = available < self.options.memory_reserve and bool(self._running)
        if low and state.paused_since is None:
            state.paused_since = now
            self.record.add("paused", now, available=available,
                            reserve=self.options.memory_reserve)
        elif not low and state.paused_since is not None:
            state.paused_since = None
            self.record.add("resumed", now, available=available)

    def _timeout(self, now: float) -> float | None:
        moments = [self._next_sample] if self._running else []
        for attempt in self._running.values():
            if attempt.deadline is not None and not attempt.ending:
                moments.append(attempt.deadline)
            if attempt.kill_at is not None:
                moments.append(attempt.kill_at)
        if self._state.retries:
            moments.append(self._state.retries[0][0])
        return max(0.0, min(moments) - now) if moments else None

    # ------------------------------------------------------------------ stopping

    def _stop(self, why: str, now: float) -> None:
        """No new task starts; every running one gets SIGTERM, then SIGKILL after the grace."""
        if self._state.stopping is None:
            self._state.stopping = why
        self._look = True
        for v, attempt in list(self._running.items()):
            if not attempt.ending:
                attempt.ending = "cancelled"
                self._terminate(v, attempt, now)

    def _terminate(self, v: int, attempt: _Attempt, now: float) -> None:
        attempt.kill_at = now + self.options.grace
        self._look = True
        self.executor.stop(v, force=False)

    def _on_signal(self, now: float) -> bool:
        """React to Ctrl-C / SIGTERM; True when the loop must end at once (a second one)."""
        signals = self.reactor.signals
        first = not self._state.interrupted
        signals.clear()
        self._state.interrupted = True
        self.record.add("interrupted", now)
        if first:
            self._stop("interrupted", now)
            return False
        for attempt in self._running.values():
            attempt.ending = attempt.ending or "cancelled"
        return True

    def _abandon_running(self) -> None:
        """Record the tasks killed without waiting (a second interrupt, or an error)."""
        now = self.now()
        for v in list(self._running):
            self.record.add("finished", now, self.graph.tasks[v].name, status="cancelled",
                            reason="killed: the run stopped at once")
        self._running.clear()

    def _skip_unstarted(self) -> None:
        """Give every task that never ran a row saying why."""
        if self.scheduler.done and self._state.stopping is None:
            return  # each task finished, or was skipped (and recorded so) as it was given up
        done = {e.task for e in self.record.events if e.kind in ("finished", "skipped")}
        why = self._state.stopping or "not reached"
        now = self.now()
        for task in self.graph.tasks:
            if task.name not in done:
                self.record.add("skipped", now, task.name, reason=f"not started: {why}")


def _reason(status: Status, attempt: _Attempt, outcome: Outcome) -> str | None:
    if status == "timeout":
        return "timed out"
    if status == "failed":
        return f"exit code {outcome.exit_code}"
    return None


def _drop_last_task(graph: TaskGraph) -> None:
    """Undo `append_task` on an open graph (the task was refused)."""
    tasks = cast(list[Task], graph.tasks)
    task = tasks.pop()
    del cast(dict[str, int], graph.index)[task.name]
    for column in (graph.preds, graph.succs, graph.order):
        cast(list[Any], column).pop()


def _not_started(name: str, error: Exception) -> Outcome:
    """The outcome of a task its executor refused (say, on a Dask cluster, an argument that
    cannot be pickled): the deepest cause, which is the one that explains it."""
    from makespan.executors.calling import failed

    cause: BaseException = error
    for _ in range(20):  # a chain, not a cycle, but bounded all the same
        deeper = cause.__cause__ or cause.__context__
        if deeper is None:
            break
        cause = deeper
    if isinstance(cause, TypeError | pickle.PicklingError):
        why: Exception = TypeError(f"cannot ship task '{name}' to its executor: {cause}")
    else:
        why = RuntimeError(f"the executor could not start task '{name}': "
                           f"{type(cause).__name__}: {cause}")
    return failed(name, why)


def _verb(status: Status) -> str:
    return "timed out" if status == "timeout" else "failed"


class _LogNames:
    """A file name per task: the task name made safe for a path, unique within the run."""

    def __init__(self, graph: TaskGraph, logs: Path) -> None:
        self._names: list[str] = []
        self._used: set[str] = set()
        self._prefix = f"{logs}{os.sep}"
        for task in graph.tasks:
            self.add(task.name)

    def path(self, task: int) -> str:
        """The log's path (a string: joining `Path`s costs more than the rest of a start)."""
        return self._prefix + self._names[task]

    def add(self, task: str) -> None:
        name = _UNSAFE.sub("_", task)[:200] if _UNSAFE.search(task) or len(task) > 200 else task
        name = name or "task"
        if name in self._used or name.startswith("."):
            name = f"{name}-{len(self._names)}"
        self._used.add(name)
        self._names.append(f"{name}.log")

    def __getitem__(self, task: int) -> str:
        return self._names[task]
