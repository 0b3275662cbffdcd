"""Running CPU-bound Python callables in persistent worker processes.

    engine --start(job)--> cloudpickle (name, fn, args with the results of deps, log)
                             --pipe--> worker[slot] (executors/_worker.py) runs fn
    engine <--on_done----- Reactor (pipe readable) <--pickled ("ok", value) | ("error", ...)

One worker per CPU slot, kept for the whole run, so a task pays a pipe round trip, not a process
start. Workers start when first needed, or all at once when the executor is made (`prestart`,
for a graph known to need them): their start-up then overlaps. A task given to a worker that
has not yet said it is ready waits in the engine and is sent on the worker's "ready" message,
so the engine never blocks on a pipe nobody reads yet.

A worker is a fresh interpreter running `_worker.py` by its path (like `spawn`, but without
re-importing the caller's `__main__`, so scripts need no `if __name__ == "__main__"` guard, and
without importing makespan: the standard library only, so it starts fast and small); functions
from `__main__` travel by value. `cloudpickle` ships lambdas and closures; an argument that
cannot be shipped fails its task with a clear message before anything is sent. The results of
dependencies are put in place here, before shipping, so the worker needs no makespan types.
Each worker reports its own resident memory once it is ready: that is the guide's "Base" per
process. A worker that dies (os._exit, a segfault, the engine stopping its task) fails only the
task it was running and is replaced on the next start.

Stopping and death. Each worker leads its own session and process group, as each command does,
so a terminal's Ctrl-C reaches the engine only, and stopping a task signals the worker's whole
tree (executors/trees.py): its group with `killpg`, and the descendants that left the group. The
engine learns that a worker exited from its pidfd (Linux 5.3+), readable once the process has
exited even while a descendant that inherited the socket keeps it open; what the worker sent
before it died is read first. Without pidfd, EOF on the socket tells, which such a descendant
delays. Once a worker has died, what is left in its group is killed before the worker is reaped
(its group id cannot be reused meanwhile); descendants that had left the group were re-parented
at its death and are out of reach. `close` kills every worker's whole tree, so what a task left
running in the background does not outlive the run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import cloudpickle

from makespan.errors import TaskFailed
from makespan.executors import Job, OnDone, Outcome
from makespan.executors.calling import failed
from makespan.executors.trees import signal_tree, tree_rss
from makespan.model import Call, resolve_refs
from makespan.reactor import Reactor

__all__ = ["ProcessExecutor", "worker_base_rss"]

_WORKER = str(Path(__file__).with_name("_worker.py"))


@dataclass(slots=True)
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    pidfd: int | None
    """Readable once the process has exited; None where pidfd_open is missing."""
    job: Job | None = None
    ready: bool = False
    pending: bytes | None = None
    """The job's message, until the worker is ready for it."""


class ProcessExecutor:
    def __init__(self, reactor: Reactor, on_done: OnDone, workers: int,
                 prestart: int = 0, on_base_rss: Callable[[int], None] | None = None) -> None:
        self._reactor = reactor
        self._on_done = on_done
        self._size = workers
        self._workers: dict[int, _Worker] = {}
        self._on_base_rss = on_base_rss

        for slot in range(min(prestart, workers)):
            self._worker(slot)

    def start(self, job: Job) -> None:
        run = job.task.run
        assert isinstance(run, Call)
        try:
            args, kwargs = run.args, dict(run.kwargs)
            if job.inputs:
                args, kwargs = resolve_refs(args, job.inputs), resolve_refs(kwargs, job.inputs)
            message = _pickle((job.task.name, run.fn, args, kwargs, job.log))
        except Exception as error:
            outcome = failed(job.task.name, TypeError(
                f"cannot ship task '{job.task.name}' to a worker process: {error}"))
            self._on_done(job.id, outcome)
            return
        worker = self._worker(job.slot % self._size)
        worker.job = job
        if worker.ready:
            _send(worker, message)
        else:
            worker.pending = message

    def stop(self, task: int, force: bool) -> None:
        """Signal the task's worker and everything it started; its death ends the task."""
        for worker in self._workers.values():
            if worker.job is not None and worker.job.id == task:
                signal_tree(worker.process.pid, signal.SIGKILL if force else signal.SIGTERM)

    def rss(self, task: int) -> int | None:
        """The task's worker and whatever the task started: its whole tree, as for commands."""
        for worker in self._workers.values():
            if worker.job is not None and worker.job.id == task:
                return tree_rss(worker.process.pid)
        return None

    def close(self) -> None:
        """Kill every worker with all it and its tasks started, then reap them."""
        workers = list(self._workers.values())
        self._workers.clear()
        for worker in workers:  # a worker holds no state worth a gentler end
            # Killed before its socket is closed: on EOF it would exit, and the descendants
            # that left its group would no longer be found as its own.
            signal_tree(worker.process.pid, signal.SIGKILL)
            self._forget(worker)
        for worker in workers:
            worker.process.wait()

    def _worker(self, slot: int) -> _Worker:
        worker = self._workers.get(slot)
        if worker is None:
            process, parent = _spawn()
            worker = _Worker(process, parent, _pidfd(process.pid))
            self._workers[slot] = worker
            self._reactor.watch(parent.fileno(), lambda: self._receive(slot, worker))
            if worker.pidfd is not None:
                self._reactor.watch(worker.pidfd, lambda: self._exited(slot, worker))
        return worker

    def _receive(self, slot: int, worker: _Worker) -> None:
        if self._workers.get(slot) is not worker:
            return  # buried earlier in this wake-up (by its pidfd)
        try:
            data = worker.conn.recv_bytes()
        except (EOFError, OSError):
            self._died(slot, worker)
            return
        try:
            message = pickle.loads(data)
        except Exception as error:  # say, the result's class cannot be imported here
            message = ("error", (type(error).__qualname__,
                                 f"the result cannot be loaded by the engine: {error}", "", None))
        if message[0] == "ready":
            if self._on_base_rss is not None:
                self._on_base_rss(message[1])
            worker.ready = True
            if worker.pending is not None:
                pending, worker.pending = worker.pending, None
                _send(worker, pending)
            return
        job, worker.job = worker.job, None
        assert job is not None
        if message[0] == "ok":
            self._on_done(job.id, Outcome(value=message[1]))
            return
        kind, text, trace, original = message[1]
        raised: BaseException | None = None
        if original is not None:
            with contextlib.suppress(Exception):
                raised = pickle.loads(original)
        failure = TaskFailed(job.task.name, kind, text, trace, raised)
        self._on_done(job.id, Outcome(error=f"{kind}: {text}", failure=failure))

    def _exited(self, slot: int, worker: _Worker) -> None:
        """Its pidfd is readable: the worker has exited, whoever still holds its socket."""
        if self._workers.get(slot) is not worker:
            return  # buried earlier in this wake-up (on EOF)
        os.set_blocking(worker.conn.fileno(), False)  # a message cut short must not block
        while self._workers.get(slot) is worker:  # what it sent before dying, then its death
            self._receive(slot, worker)

    def _died(self, slot: int, worker: _Worker) -> None:
        self._forget(worker)
        signal_tree(worker.process.pid, signal.SIGKILL)  # what it left; it is not reaped yet
        code = worker.process.wait()
        del self._workers[slot]
        if worker.job is not None:
            how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
                   else f"exit code {code}")
            self._on_done(worker.job.id, Outcome(
                exit_code=code, error=f"the worker process died ({how}) while running it"))

    def _forget(self, worker: _Worker) -> None:
        """Stop watching the worker and close its socket and pidfd."""
        self._reactor.unwatch(worker.conn.fileno())
        worker.conn.close()
        if worker.pidfd is not None:
            self._reactor.unwatch(worker.pidfd)
            os.close(worker.pidfd)


def _send(worker: _Worker, message: bytes) -> None:
    """Give the worker its task. If it has died meanwhile (idle, since the last look), its death
    is read next and fails the task once: a failed send must not fail it a second time."""
    with contextlib.suppress(OSError):
        worker.conn.send_bytes(message)


def _spawn() -> tuple[subprocess.Popen[bytes], Connection]:
    """A new worker in its own session, and the socket to it; it is given the import path."""
    ours, theirs = socket.socketpair()
    process = subprocess.Popen(
        [sys.executable, _WORKER, str(theirs.fileno())],
        pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=True,
    )
    theirs.close()
    parent = Connection(ours.detach())
    parent.send_bytes(_pickle(sys.path))
    return process, parent


@functools.cache
def worker_base_rss() -> int:
    """A worker's resident memory once it is ready: the guide's "Base", which every cpu task
    adds to its own data. Measured once per process, by starting a worker, for runs that must
    know it before any of theirs is ready (to admit tasks by memory)."""
    process, conn = _spawn()
    try:
        kind, rss = pickle.loads(conn.recv_bytes())
        assert kind == "ready"
        return int(rss)
    finally:
        conn.close()  # the worker exits on EOF
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            signal_tree(process.pid, signal.SIGKILL)
            process.wait()


def _pidfd(pid: int) -> int | None:
    """A descriptor readable once `pid` has exited, or None (not Linux, or before 5.3)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _pickle(value: Any) -> bytes:
    return bytes(cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
