"""Running I/O-bound Python callables on threads.

    engine --start(job)--> queue --> worker thread: fn(*args) --reactor.post--> engine.on_done

Threads suit work that waits (network, disk): the GIL is released while waiting. A thread
cannot be killed, so stopping one (timeout, fail-fast) abandons it: its task is reported as
ended at once and whatever it returns later is ignored.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from makespan.executors import Job, OnDone, Outcome
from makespan.executors.calling import call
from makespan.reactor import Reactor

_STOP = None


class ThreadExecutor:
    def __init__(self, reactor: Reactor, on_done: OnDone, threads: int) -> None:
        self._reactor = reactor
        self._on_done = on_done
        self._size = threads
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._abandoned: set[tuple[int, int]] = set()
        self._running: dict[int, int] = {}

    def start(self, job: Job) -> None:
        self._running[job.id] = job.attempt
        if len(self._threads) < min(self._size, len(self._running)):
            thread = threading.Thread(target=self._work, name=f"makespan-io-{len(self._threads)}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        self._queue.put(job)

    def stop(self, task: int, force: bool) -> None:
        if not force or task not in self._running:
            return
        self._abandoned.add((task, self._running.pop(task)))
        self._on_done(task, Outcome(error="abandoned: a running thread cannot be stopped"))

    def rss(self, task: int) -> int | None:
        return None

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)

    def _work(self) -> None:
        while (job := self._queue.get()) is not _STOP:
            outcome = call(job)
            self._reactor.post(self._reporter(job, outcome))

    def _reporter(self, job: Job, outcome: Outcome) -> Callable[[], None]:
        def report() -> None:
            if (job.id, job.attempt) in self._abandoned:
                return
            del self._running[job.id]
            self._on_done(job.id, outcome)

        return report
