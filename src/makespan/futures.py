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
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from makespan.api import parse_option, refuse_nested
from makespan.engine import Engine
from makespan.errors import InputError, MakespanError, TaskFailed
from makespan.model import KINDS, Call, Kind, Task, open_graph
from makespan.record import Event
from makespan.units import parse_duration, parse_size

R = TypeVar("R")


class Executor(concurrent.futures.Executor):
    """A `concurrent.futures.Executor` whose tasks run on makespan's engine and budgets."""

    def __init__(self, workers: int | None = None, io_workers: int | None = None,
                 memory: int | str | None = None, kind: Kind = "cpu",
                 root: str | Path | None = None) -> None:
        from makespan.local import run_local

        refuse_nested("makespan.Executor()")
        self._kind = kind
        self._futures: dict[str, concurrent.futures.Future[Any]] = {}
        self._ids = itertools.count()
        self._shutdown = False
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._engine: Engine | None = None
        self.record: dict[str, Any] | None = None
        """The run record, once `shutdown` has waited for the run to end."""
        self._error: BaseException | None = None
        budget = None if memory is None else parse_option("settings", "memory", memory, parse_size)
        self._thread = threading.Thread(
            target=self._serve, name="makespan-executor", daemon=True,
            args=(run_local, workers, io_workers, budget,
                  Path(root) if root is not None else Path.cwd()))
        self._thread.start()
        self._ready.wait()
        if self._engine is None:
            raise MakespanError(f"the executor's engine did not start: {self._error}")

    def submit(  # type: ignore[override]  # adds makespan's keyword-only options
        self, fn: Callable[..., R], /, *args: Any, kind: Kind | None = None,
        memory: int | str | None = None, estimate: float | str | None = None, **kwargs: Any,
    ) -> concurrent.futures.Future[R]:
        """Schedule `fn(*args, **kwargs)`; `kind`, `memory` and `estimate` are for makespan."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if not self._thread.is_alive():  # the run ended by itself (interrupted, or failed)
                raise RuntimeError(f"cannot schedule new futures: the executor's run has ended "
                                   f"({self._error or 'interrupted'})")
            name = f"{getattr(fn, '__name__', 'task')}#{next(self._ids)}"
            kind = kind or self._kind
            if kind not in KINDS:
                raise InputError(f"unknown kind {kind!r}: use 'cpu' or 'io'", task=name,
                                 field="kind")
            task = Task(name, Call(fn, args, kwargs), kind=kind,
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
        with self._lock:
            self._shutdown = True
        engine = self._engine
        assert engine is not None
        if cancel_futures:
            for future in list(self._futures.values()):
                future.cancel()
        engine.reactor.post(lambda: setattr(engine, "accepting", False))
        if wait:
            self._thread.join()

    # ------------------------------------------------------------------ the engine thread

    def _serve(self, run_local: Any, workers: int | None, io_workers: int | None,
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
            self._ready.set()
            # What the run never took (it was interrupted, or it failed) will not run now.
            for name, future in list(self._futures.items()):
                self._futures.pop(name, None)
                if future.done():
                    continue
                if future.running() or future.set_running_or_notify_cancel():
                    future.set_exception(MakespanError(
                        f"'{name}' did not run: the executor's run ended "
                        f"({self._error or 'interrupted'})"))

    def _add(self, engine: Engine, task: Task, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled():
            self._futures.pop(task.name, None)
            return
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
        if future is None or future.cancelled():
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


def _call_batch(fn: Callable[..., R], batch: list[tuple[Any, ...]]) -> list[R]:
    return [fn(*args) for args in batch]


def _batched(items: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch

