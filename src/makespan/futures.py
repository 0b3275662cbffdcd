"""`makespan.Executor`: the `concurrent.futures` interface on makespan's engine.

    with makespan.Executor(workers=4, memory="8GB") as pool:
        futures = [pool.submit(work, item, memory="500MB") for item in items]
        report = pool.map(summarise, chunks, chunksize=10)

A drop-in for `ThreadPoolExecutor` or `ProcessPoolExecutor` that adds what they lack: each
submit may say its `kind` (cpu: worker processes; io: threads), `memory` and `estimate`; tasks
start only within the CPU, I/O and memory budgets; and on shutdown the run's record (with
speedup, efficiency and utilization) is written like any `makespan run`.

    caller thread                         engine thread (run_graph on an open graph)
    -------------                         ------------------------------------------
    submit -> Future --reactor.post-->    engine.add(task) -> scheduler admits ->
                                          engine.admit: Future set running (or dropped if
                                          it was cancelled meanwhile) -> executor
    Future <--set_result/exception--      record listener on "finished" / "skipped"

As with the stdlib executors, `result()` raises the exception the call raised: the same object
for `io` tasks, and for `cpu` tasks a copy whose `__cause__` is the `TaskFailed` holding the
worker's traceback (as `ProcessPoolExecutor` chains a remote traceback). A task that failed
without an exception of its own (its worker died, it was skipped) raises `TaskFailed`.
`cancel()` is True only for a task that has not started, and such a task never runs.

Like the stdlib executors, work submitted is never dropped at interpreter exit: an executor
still running then is shut down with `wait=True` (its tasks complete, its record is written, its
worker processes stop), even if `shutdown` was never called or was called with `wait=False`.

A task may not submit into its own executor (nor wait for its shutdown): see `submit`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import itertools
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from makespan.api import parse_option, refuse_nested
from makespan.engine import Engine
from makespan.errors import InputError, MakespanError, TaskFailed
from makespan.executors.calling import inside_task
from makespan.executors.processes import worker_base_rss
from makespan.local import run_local, with_worker_base
from makespan.model import Call, Kind, Task, check_kind, open_graph
from makespan.record import Event
from makespan.resources import at_least, detect
from makespan.units import parse_duration, parse_size

R = TypeVar("R")

_live: set[Executor] = set()
"""Executors whose run has not ended: `_finish_at_exit` waits for each."""
_live_lock = threading.Lock()
_exiting = False


def _finish_at_exit() -> None:
    """At interpreter exit, let every live executor finish its work, as the stdlib's do.

    Registered like `concurrent.futures.thread`'s hook: it runs before Python joins its threads
    and before `atexit` handlers, while tasks may still start threads and worker processes.
    """
    global _exiting
    with _live_lock:
        _exiting = True
        executors = list(_live)
    for executor in executors:
        executor.shutdown(wait=True)


def _forget_after_fork() -> None:
    """A forked child owns none of its parent's executors: it must not wait for them."""
    global _live_lock
    _live_lock = threading.Lock()
    _live.clear()


threading._register_atexit(_finish_at_exit)  # type: ignore[attr-defined]
os.register_at_fork(after_in_child=_forget_after_fork)

_own = threading.local()
"""`_own.executor`: the executor whose `io` task this thread is running (see `_as_own`)."""


class Executor(concurrent.futures.Executor):
    """A `concurrent.futures.Executor` whose tasks run on makespan's engine and budgets.

    `max_workers`, the stdlib's name, sizes the pool of the default `kind`: it is `workers`
    (CPU worker processes) when `kind` is "cpu", `io_workers` (threads) when it is "io".
    """

    def __init__(self, workers: int | None = None, io_workers: int | None = None,
                 memory: int | str | None = None, kind: Kind = "cpu",
                 root: str | Path | None = None, *, max_workers: int | None = None) -> None:
        refuse_nested("makespan.Executor()")
        check_kind(kind)
        workers, io_workers = _sizes(kind, max_workers, workers, io_workers)
        budget = parse_option(None, "memory", memory, parse_size)
        resources = detect(workers, io_workers, budget)
        self._kind = kind
        self._futures: dict[str, concurrent.futures.Future[Any]] = {}
        self._ids = itertools.count()
        self._shutdown = False
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._ended = threading.Event()
        self._engine: Engine | None = None
        self.record: dict[str, Any] | None = None
        """The run record, once `shutdown` has waited for the run to end."""
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._serve, name="makespan-executor", daemon=True,
            args=(resources.cpu, resources.io, resources.memory,
                  Path(root) if root is not None else Path.cwd()))
        with _live_lock:  # the run's end takes the lock to leave `_live`: it follows the add
            if _exiting:
                raise RuntimeError("cannot start an executor after interpreter shutdown")
            self._thread.start()
            _live.add(self)
        self._ready.wait()
        if self._engine is None:
            raise MakespanError(f"the executor's engine did not start: {self._error}")

    def submit(  # type: ignore[override]  # adds makespan's keyword-only options
        self, fn: Callable[..., R], /, *args: Any, kind: Kind | None = None,
        memory: int | str | None = None, estimate: float | str | None = None, **kwargs: Any,
    ) -> concurrent.futures.Future[R]:
        """Schedule `fn(*args, **kwargs)`; `kind`, `memory` and `estimate` are for makespan.

        An `io` submit from inside one of this executor's own tasks (which are `io`: a `cpu`
        task runs in another process and cannot reach it) raises `MakespanError`. Such a task
        would hold its slot while it waits for the inner one, and once every slot is held that
        way nothing can start and nothing ends (the stdlib executors deadlock there). Refusing
        the submit itself is a rule that holds whatever the pool size and however the task
        waits; refusing only `result()` would miss `wait()` and `as_completed()`. Call the
        function directly in the task, or submit from outside this executor's tasks. A `cpu`
        submit needs a slot of the other pool, so it is taken. (As with the stdlib, a task that
        waits for a future submitted from outside may still wait for a slot it holds, and one
        that holds memory may wait for a task that needs it.)
        """
        if (kind or self._kind) == "io":
            self._refuse_from_own_task(
                "submit()", "waiting for what it submits could deadlock once every slot is busy. "
                "Call the function directly in the task, or submit from outside this executor's "
                "tasks")

        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if not self._thread.is_alive():  # the run ended by itself (interrupted, or failed)
                raise RuntimeError(f"cannot schedule new futures: the executor's run has ended "
                                   f"({self._error or 'interrupted'})")
            name = f"{getattr(fn, '__name__', 'task')}#{next(self._ids)}"
            kind = check_kind(kind or self._kind, name)
            call = Call(self._as_own(fn) if kind == "io" else fn, args, kwargs)
            task = Task(name, call, kind=kind,
                        memory=parse_option(name, "memory", memory, parse_size),
                        estimate=parse_option(name, "estimate", estimate, parse_duration))
            future: concurrent.futures.Future[R] = concurrent.futures.Future()
            self._futures[name] = future
        engine = self._engine
        assert engine is not None
        engine.reactor.post(lambda: self._add(engine, task, future))
        return future

    def map(self, fn: Callable[..., R], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: int = 1) -> Iterator[R]:
        """Like `Executor.map`; `chunksize` items go to each task, results keep input order."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1")
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout)
        batches = _batched(zip(*iterables, strict=False), chunksize)
        results = super().map(_call_batch, itertools.repeat(fn), batches, timeout=timeout)
        return (value for batch in results for value in batch)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """As the stdlib's; waiting from inside one of this executor's tasks is refused."""
        if wait:
            self._refuse_from_own_task("shutdown(wait=True)", "the run cannot end while that "
                                       "task waits for it. Use shutdown(wait=False) there")
        with self._lock:
            self._shutdown = True
        engine = self._engine
        assert engine is not None
        if cancel_futures:
            for future in list(self._futures.values()):
                future.cancel()
        engine.reactor.post(lambda: setattr(engine, "accepting", False))
        if wait:
            self._wait_for_the_run()

    def _wait_for_the_run(self) -> None:
        """Wait for the run to end. A Ctrl-C meanwhile stops it as it stops `makespan run`
        (running tasks are stopped, the record is written; a second one stops them at once)
        and is raised again once it has ended: otherwise the program would end while worker
        processes still run their tasks, and without the record. (An Event, not `join`: a
        join interrupted by Ctrl-C may leave the thread looking finished.)"""
        interrupted = False
        while True:
            try:
                self._ended.wait()
                break
            except KeyboardInterrupt:
                interrupted = True
                if self._engine is not None:
                    self._engine.reactor.signals.append(signal.SIGINT)
                    self._engine.reactor.wake()
        if interrupted:
            raise KeyboardInterrupt

    def _as_own(self, fn: Callable[..., R]) -> Callable[..., R]:
        """`fn`, marking its thread as running a task of this executor while it runs."""
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> R:
            _own.executor = self
            try:
                return fn(*args, **kwargs)
            finally:
                _own.executor = None

        return run

    def _refuse_from_own_task(self, what: str, why: str) -> None:
        """Task names are no identity (each executor counts its own), so `_as_own` marks."""
        if getattr(_own, "executor", None) is self:
            raise MakespanError(f"{what} was called inside task '{inside_task()}' of this same "
                                f"Executor: {why}.")

    # ------------------------------------------------------------------ the engine thread

    def _serve(self, workers: int | None, io_workers: int | None,
               memory: int | None, root: Path) -> None:
        def on_engine(engine: Engine) -> None:
            engine.accepting = True
            engine.admit = self._admit
            engine.record.listeners.append(lambda event: self._on_event(engine, event))
            self._engine = engine
            self._ready.set()

        try:
            result = run_local(open_graph(), workers, io_workers, memory, True, 0.0, root, 1.0,
                               {"front_end": "executor"}, on_engine=on_engine,
                               kinds=("io", "cpu"))
            self.record = result.document
        except BaseException as error:
            self._error = error
            raise
        finally:
            with _live_lock:
                _live.discard(self)
            self._ready.set()
            # What the run never took (it was interrupted, or it failed) will not run now.
            for name, future in list(self._futures.items()):
                self._futures.pop(name, None)
                if future.cancelled():
                    future.set_running_or_notify_cancel()  # see `_add`
                    continue
                if future.done():
                    continue
                if future.running() or future.set_running_or_notify_cancel():
                    future.set_exception(MakespanError(
                        f"'{name}' did not run: the executor's run ended "
                        f"({self._error or 'interrupted'})"))
            self._ended.set()

    def _add(self, engine: Engine, task: Task, future: concurrent.futures.Future[Any]) -> None:
        # A cancelled future is done for `wait` and `as_completed` only once it is told it will
        # not run (`set_running_or_notify_cancel`, once): whoever takes it out of `_futures`
        # tells it, here, in `_admit`, in `_on_event` (withdrawn) or when the run ends.
        if future.cancelled():
            self._futures.pop(task.name, None)
            future.set_running_or_notify_cancel()
            return
        based = with_worker_base(task, engine.scheduler.resources.memory)
        if based is not task:  # the record says what was added, as for a graph's run
            task = based
            engine.record.info["memory_base"] = worker_base_rss()
        try:
            v = engine.add(task, task.estimate or 1.0)
        except MakespanError as error:
            self._futures.pop(task.name, None)
            future.set_exception(error)
            return
        future.add_done_callback(
            lambda f: engine.reactor.post(lambda: engine.withdraw(v)) if f.cancelled() else None)

    def _admit(self, task: Task) -> bool:
        """Just before `task` starts: mark its future running, or drop it if it was cancelled."""
        future = self._futures.get(task.name)
        if future is None or future.running():
            return True
        if future.set_running_or_notify_cancel():
            return True
        del self._futures[task.name]
        return False

    def _on_event(self, engine: Engine, event: Event) -> None:
        if event.kind not in ("finished", "skipped"):
            return
        name = event.task or ""
        future = self._futures.pop(name, None)
        if future is None:
            return
        if future.cancelled():  # withdrawn before it started
            future.set_running_or_notify_cancel()
            return
        if name in engine.values:
            future.set_result(engine.values[name])
            return
        failure = engine.failures.get(name)
        if failure is None:
            future.set_exception(TaskFailed(
                name, event.data.get("status", "skipped").capitalize(),
                event.data.get("reason") or "did not run", ""))
        elif failure.original is None:
            future.set_exception(failure)
        else:
            error = failure.original
            if error.__traceback__ is None:  # it came from a worker process: chain its traceback
                error.__cause__ = failure
            future.set_exception(error)


def _sizes(kind: Kind, max_workers: int | None, workers: int | None,
           io_workers: int | None) -> tuple[int | None, int | None]:
    """`workers` and `io_workers`, with the stdlib's `max_workers` as the default kind's."""
    if max_workers is None:
        return workers, io_workers
    at_least(1, max_workers=max_workers)
    same = "workers" if kind == "cpu" else "io_workers"
    if (workers if kind == "cpu" else io_workers) is not None:
        raise InputError(f"give max_workers or {same}, not both: for kind {kind!r} they are "
                         "the same pool", field="max_workers")
    return (max_workers, io_workers) if kind == "cpu" else (workers, max_workers)


def _call_batch(fn: Callable[..., R], batch: list[tuple[Any, ...]]) -> list[R]:
    return [fn(*args) for args in batch]


def _batched(items: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch

