"""Running CPU-bound Python callables in persistent worker processes.

    engine --start(job)--> cloudpickle (fn, args, results of deps) --pipe--> worker[slot]
    engine <--on_done----- Reactor (pipe readable) <--pickled Outcome------- worker runs fn

One worker per CPU slot, started when first needed and kept for the whole run, so a task pays a
pipe round trip, not a process start. A worker is a fresh interpreter running this module (like
`spawn`, but without re-importing the caller's `__main__`, so scripts need no
`if __name__ == "__main__"` guard); functions from `__main__` travel by value. `cloudpickle`
ships lambdas and closures; an argument that cannot be shipped fails its task with a clear
message before anything is sent.
Each worker reports its own resident memory once it is ready: that is the guide's "Base" per
process. A worker that dies (os._exit, a segfault, the engine stopping its task) fails only the
task it was running and is replaced on the next start.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle
import psutil

from makespan.executors import Job, OnDone, Outcome
from makespan.executors.calling import failed, invoke
from makespan.reactor import Reactor

WORKER_ENV = "MAKESPAN_WORKER"
"""Set in worker processes, so a nested use of the API can tell it runs inside a task."""


@dataclass(slots=True)
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    job: Job | None = None


class ProcessExecutor:
    def __init__(self, reactor: Reactor, on_done: OnDone, workers: int) -> None:
        self._reactor = reactor
        self._on_done = on_done
        self._size = workers
        self._workers: dict[int, _Worker] = {}

        self.base_rss: int | None = None
        """The largest resident memory of a worker when idle, once one has reported it."""

    def start(self, job: Job) -> None:
        run = job.task.run
        try:
            message = _pickle((job.task.name, run, dict(job.inputs), str(job.log)))
        except Exception as error:
            outcome = failed(job.task.name, TypeError(
                f"cannot ship task '{job.task.name}' to a worker process: {error}"))
            self._on_done(job.id, outcome)
            return
        worker = self._worker(job.slot % self._size)
        worker.job = job
        worker.conn.send_bytes(message)

    def stop(self, task: int, force: bool) -> None:
        for worker in self._workers.values():
            if worker.job is not None and worker.job.id == task:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGKILL if force else signal.SIGTERM)

    def rss(self, task: int) -> int | None:
        for worker in self._workers.values():
            if worker.job is not None and worker.job.id == task:
                with contextlib.suppress(ProcessLookupError, psutil.Error):
                    return int(psutil.Process(worker.process.pid).memory_info().rss)
        return None

    def close(self) -> None:
        for slot in list(self._workers):
            worker = self._workers.pop(slot)
            self._reactor.unwatch(worker.conn.fileno())
            worker.conn.close()  # the worker reads EOF and exits
            try:
                worker.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()

    def _worker(self, slot: int) -> _Worker:
        worker = self._workers.get(slot)
        if worker is None:
            ours, theirs = socket.socketpair()
            process = subprocess.Popen(
                [sys.executable, "-m", "makespan.executors.processes", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                env={**os.environ, WORKER_ENV: "1"},
            )
            theirs.close()
            parent = Connection(ours.detach())
            parent.send_bytes(_pickle(sys.path))
            worker = _Worker(process, parent)
            self._workers[slot] = worker
            self._reactor.watch(parent.fileno(), lambda: self._receive(slot))
        return worker

    def _receive(self, slot: int) -> None:
        worker = self._workers[slot]
        try:
            message = pickle.loads(worker.conn.recv_bytes())
        except (EOFError, OSError):
            self._died(slot, worker)
            return
        if message[0] == "ready":
            self.base_rss = max(self.base_rss or 0, message[1])
            return
        job, worker.job = worker.job, None
        assert job is not None
        self._on_done(job.id, message[1])

    def _died(self, slot: int, worker: _Worker) -> None:
        self._reactor.unwatch(worker.conn.fileno())
        worker.conn.close()
        code = worker.process.wait()
        del self._workers[slot]
        if worker.job is not None:
            how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
                   else f"exit code {code}")
            self._on_done(worker.job.id, Outcome(
                exit_code=code, error=f"the worker process died ({how}) while running it"))


# ---------------------------------------------------------------------------- in the worker


def serve(conn: Connection) -> None:
    """A worker's life: take the caller's import path, report readiness, run tasks until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    sys.path[:] = pickle.loads(conn.recv_bytes())
    conn.send_bytes(pickle.dumps(("ready", psutil.Process().memory_info().rss)))
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        name, run, inputs, log = pickle.loads(data)
        with _output_to(log):
            outcome = invoke(name, run, inputs)
        conn.send_bytes(_dumps_outcome(name, outcome))


def _pickle(value: Any) -> bytes:
    return bytes(cloudpickle.dumps(value))


def _dumps_outcome(name: str, outcome: Outcome) -> bytes:
    """The outcome, pickled; what cannot travel back is replaced by an explanation."""
    try:
        return _pickle(("done", outcome))
    except Exception as error:
        if outcome.failure is not None:
            outcome.failure.original = None
            return _pickle(("done", outcome))
        return _pickle(("done", failed(name, TypeError(
            f"the result of '{name}' cannot be sent back from the worker: {error}"))))


class _output_to:
    """Send the worker's stdout and stderr to a task's log while the task runs."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._saved: list[int] = []

    def __enter__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        log = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._saved = [os.dup(1), os.dup(2)]
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)

    def __exit__(self, *_: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self._saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
