"""Running I/O-bound Python callables on threads.

    engine --start(job)--> queue --> worker thread: fn(*args)
                             ^            |
                             |            v
                             `-- engine step on this thread (Reactor.run_here): report the
                                 outcome, start what the scheduler allows; the first job it
                                 starts is this worker's next, the others go to the queue

Threads suit work that waits (network, disk): the GIL is released while waiting. A worker that
finishes a task takes the engine's lock and runs the engine's step itself, so a chain of short
tasks costs no wake-up of the engine's thread, and no hand-off to another thread, per task. The
scheduler still decides what starts and where; the worker only runs what it was given.

A thread cannot be killed, so stopping one (timeout, fail-fast) abandons it at once (there is no
signal to wait for): its task is reported as ended and whatever it returns later is ignored.
"""

from __future__ import annotations

import functools
import queue
import threading

from makespan.executors import Job, OnDone, Outcome
from makespan.executors.calling import call
from makespan.reactor import Reactor

_STOP = None


class _WorkerState(threading.local):
    stepping = False
    """This worker is running an engine step (so a job started now may be its next)."""
    next: Job | None = None


class ThreadExecutor:
    def __init__(self, reactor: Reactor, on_done: OnDone, threads: int) -> None:
        self._reactor = reactor
        self._on_done = on_done
        self._size = threads
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._abandoned: set[tuple[int, int]] = set()
        self._running: dict[int, int] = {}
        self._mine = _WorkerState()

    def start(self, job: Job) -> None:
        self._running[job.id] = job.attempt
        mine = self._mine
        if mine.stepping and mine.next is None:
            mine.next = job  # this worker runs it as soon as its step ends: no hand-off
            return
        # An abandoned thread is still busy with its task: it does not count as a worker.
        threads = len(self._threads) - len(self._abandoned)
        if threads < self._size and threads < len(self._running):
            thread = threading.Thread(target=self._work, name=f"makespan-io-{len(self._threads)}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        self._queue.put(job)

    def stop(self, task: int, force: bool) -> None:
        if task not in self._running:
            return
        self._abandoned.add((task, self._running.pop(task)))
        self._on_done(task, Outcome(error="abandoned: a running thread cannot be stopped"))

    def rss(self, task: int) -> int | None:
        return None

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)

    def _work(self) -> None:
        get, run_here, mine = self._queue.get, self._reactor.run_here, self._mine
        job = get()
        while job is not _STOP:
            outcome = call(job)
            mine.stepping = True
            try:
                run_here(functools.partial(self._report, job, outcome))
            finally:
                mine.stepping = False
            job, mine.next = mine.next, None
            if job is None:
                job = get()

    def _report(self, job: Job, outcome: Outcome) -> None:
        """On this worker thread, under the engine's lock (see the module docstring)."""
        if self._abandoned and (job.id, job.attempt) in self._abandoned:
            self._abandoned.discard((job.id, job.attempt))
            return
        del self._running[job.id]
        self._on_done(job.id, outcome)
