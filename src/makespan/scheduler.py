"""The scheduling policy: which ready tasks start now, and on which slots.

Like `graphlib.TopologicalSorter`, the scheduler hands out work and is told what finished; it
never runs anything, owns no thread and reads no clock. The simulator drives it with a virtual
clock and estimated durations, the engine with the real clock and real completions, so a
prediction and a run differ only in the durations::

        driver (simulate | engine)              Scheduler
        --------------------------              ---------
        starts = sched.start(now)   ------>     pick ready tasks by priority that fit
        ... run them ...                        (slots of their pool, memory, locks)
        sched.finish(task)          ------>     release resources, make successors ready

Admission. A task takes `slots` slots of its kind's pool, its memory demand from the memory
budget and every lock it names; it starts only when all of those fit. When the best ready task
does not fit, it gets a reservation at the earliest time it will (by the estimated ends of the
running tasks), and a lower-priority task may start ahead of it only if that cannot delay the
reservation: it ends before then, or it uses only what the reserved task will not need
(EASY backfilling). The best ready task may be blocked by its pool being full as well as by
memory or a lock: it gets the reservation either way. The backfill scan passes over at most
`BACKFILL_DEPTH` blocked tasks per call, which keeps a call cheap when many ready tasks are
blocked by memory; the tasks it starts do not count against that depth.

Strict sequence. With `strict=True` the position is a start *sequence* instead of a
priority: a task starts only once every task before it in the sequence has started, so no
task overtakes the head and nothing backfills past it; the head starts as soon as its
dependencies have ended and it fits. This is the serial schedule-generation scheme, and it
can leave a slot idle while a task is ready, which some optimal schedules need and list
scheduling never does. On one pool of identical slots, running a schedule's tasks strictly
in the order of their start times starts each of them no later than the schedule does (by
induction along the sequence: the tasks still running at a task's old start time ran there
too), so any schedule, an optimal one included, is reproduced or beaten by its own start
order. The sequence must list every task after its dependencies (else the head could wait
for a task behind it forever).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from makespan.errors import InputError
from makespan.model import Task, TaskGraph
from makespan.priority import positions
from makespan.resources import Resources
from makespan.units import format_size

BACKFILL_DEPTH = 64
POOLS = ("cpu", "io")
_NO_LOCKS: frozenset[str] = frozenset()


class Start(NamedTuple):
    """An order to start `task` now on `slots` of `pool` (a named tuple: one per task, and
    cheaper to make than a frozen dataclass)."""

    task: int
    pool: str
    slots: tuple[int, ...]

    @property
    def slot(self) -> int:
        return self.slots[0]


@dataclass(slots=True)
class _Reservation:
    at: float
    spare_slots: dict[str, int]
    spare_memory: int
    locks: frozenset[str]


class Scheduler:
    """Pure scheduling state for one run of `graph` within `resources`.

    `durations` are the estimates used to place reservations; `position` gives each task's
    priority (0 first), by default critical path first (`makespan.priority`); `memory` is each
    task's demand in bytes (by default its estimate, 0 when it has none). With `strict`,
    `position` is a start sequence (see the module docstring).
    """

    def __init__(
        self,
        graph: TaskGraph,
        resources: Resources,
        durations: Sequence[float],
        position: Sequence[int],
        memory: Sequence[int] | None = None,
        *,
        strict: bool = False,
    ) -> None:
        tasks = graph.tasks
        self.graph = graph
        self.resources = resources
        self.durations = list(durations)
        self.position = list(position)
        self.memory = list(memory) if memory is not None else [t.memory or 0 for t in tasks]
        self._pool = [t.kind for t in tasks]
        self._slots_needed = [t.slots for t in tasks]
        self._locks = [frozenset(t.locks) if t.locks else _NO_LOCKS for t in tasks]
        for task, demand in zip(tasks, self.memory, strict=True):
            self._check_fits(task, demand)

        self.strict = strict
        if strict:
            _check_sequence(graph, position)
        self._by_position = positions(position)  # the inverse: the task at each position
        self._head = 0
        """Strict: the position of the next task of the sequence to start."""
        self._waiting = [len(p) for p in graph.preds]
        self._ready: dict[str, list[int]] = {pool: [] for pool in POOLS}
        self._free_slots: dict[str, list[int]] = {
            pool: list(range(resources.slots(pool))) for pool in POOLS
        }
        self._free_memory = resources.memory
        self._held_locks: set[str] = set()
        self._running: dict[int, tuple[float, Start]] = {}
        self._unfinished = len(tasks)
        self._given_up = [False] * len(tasks)
        for v, waiting in enumerate(self._waiting):
            if waiting == 0:
                heapq.heappush(self._ready[self._pool[v]], position[v])

    # ------------------------------------------------------------------ protocol

    def start(self, now: float) -> list[Start]:
        """The tasks to start at time `now`, best first; they count as running from `now`."""
        if self.strict:
            return self._start_in_sequence(now)
        started: list[Start] = []
        blocked: list[int] = []
        reservation: _Reservation | None = None
        while True:
            v = self._pop_best()
            if v is None:
                break
            if reservation is None:
                # A better task than `v` may wait for a slot of a full pool, where `_pop_best`
                # does not look: it is blocked all the same and gets the reservation. (Only
                # looked for once there is a `v` that could overtake it: a call that has
                # nothing left to start pays nothing.)
                head = self._best_in_full_pool()
                if head is not None and self.position[head] < self.position[v]:
                    reservation = self._reserve(head, now)
            fits = self._fits(v)
            if reservation is None:
                if fits:
                    started.append(self._launch(v, now))
                    continue
                reservation = self._reserve(v, now)
            elif fits and self._can_backfill(v, now, reservation):
                started.append(self._launch(v, now))
                continue
            blocked.append(v)
            if len(blocked) >= BACKFILL_DEPTH:
                break
        for v in blocked:
            heapq.heappush(self._ready[self._pool[v]], self.position[v])
        return started

    def finish(self, task: int) -> None:
        """`task` has ended (in any way): free its resources and release its successors."""
        self._release(task)
        for s in self.graph.succs[task]:
            self._waiting[s] -= 1
            if self._waiting[s] == 0:
                heapq.heappush(self._ready[self._pool[s]], self.position[s])

    def add(self, v: int, duration: float) -> None:
        """Take task `v`, just appended to an open graph (the futures `Executor`).

        It has no dependencies, is ready at once and comes after every task taken before it.
        """
        task = self.graph.tasks[v]
        demand = task.memory or 0
        self._check_fits(task, demand)
        self.durations.append(duration)
        self.memory.append(demand)
        self._pool.append(task.kind)
        self._slots_needed.append(task.slots)
        self._locks.append(frozenset(task.locks) if task.locks else _NO_LOCKS)
        self.position.append(len(self._by_position))
        self._by_position.append(v)
        self._waiting.append(0)
        self._given_up.append(False)
        self._unfinished += 1
        heapq.heappush(self._ready[task.kind], self.position[v])

    def withdraw(self, v: int) -> bool:
        """Take back a ready task that has not started (a cancelled future); True if it was."""
        heap = self._ready[self._pool[v]]
        if self._waiting[v] or self.position[v] not in heap:
            return False
        heap.remove(self.position[v])
        heapq.heapify(heap)
        self._given_up[v] = True
        self._unfinished -= 1
        return True

    def fail(self, task: int) -> list[int]:
        """`task` has failed for good: free its resources and give up on everything after it.

        Returns the descendants that will now never start (in id order); they count as
        finished, and no call to `start` hands them out.
        """
        self._release(task)
        lost = [v for v in self.graph.descendants(task) if not self._given_up[v]]
        for v in lost:
            self._given_up[v] = True
        self._unfinished -= len(lost)
        return lost

    @property
    def done(self) -> bool:
        """True once every task has finished."""
        return self._unfinished == 0

    @property
    def running(self) -> int:
        return len(self._running)

    # ------------------------------------------------------------------ admission

    def _pop_best(self) -> int | None:
        """Pop the best ready task among pools that still have a free slot."""
        best_pool = None
        best = -1
        for pool in POOLS:
            heap = self._ready[pool]
            if heap and self._free_slots[pool] and (best_pool is None or heap[0] < best):
                best_pool, best = pool, heap[0]
        if best_pool is None:
            return None
        heapq.heappop(self._ready[best_pool])
        return self._by_position[best]

    def _best_in_full_pool(self) -> int | None:
        """The best ready task of all pools, if its pool has no free slot (else None)."""
        best_pool = None
        best = -1
        for pool in POOLS:
            heap = self._ready[pool]
            if heap and (best_pool is None or heap[0] < best):
                best_pool, best = pool, heap[0]
        if best_pool is None or self._free_slots[best_pool]:
            return None
        return self._by_position[best]

    def _start_in_sequence(self, now: float) -> list[Start]:
        """Strict: start the head of the sequence while it is ready and fits, skipping the
        tasks given up on. Every task before the head has started, so a ready head is the
        best ready task of its pool."""
        started: list[Start] = []
        while self._head < len(self._by_position):
            v = self._by_position[self._head]
            if not self._given_up[v]:
                if self._waiting[v] or not self._fits(v):
                    break
                heapq.heappop(self._ready[self._pool[v]])
                started.append(self._launch(v, now))
            self._head += 1
        return started

    def _fits(self, v: int) -> bool:
        return (
            self._slots_needed[v] <= len(self._free_slots[self._pool[v]])
            and self.memory[v] <= self._free_memory
            and self._held_locks.isdisjoint(self._locks[v])
        )

    def _launch(self, v: int, now: float) -> Start:
        pool = self._pool[v]
        free = self._free_slots[pool]
        need = self._slots_needed[v]
        # One slot is the common case: a generator would cost four times the pop.
        slots = (heapq.heappop(free),) if need == 1 else tuple(
            heapq.heappop(free) for _ in range(need))
        self._free_memory -= self.memory[v]
        self._held_locks.update(self._locks[v])
        start = Start(v, pool, slots)
        self._running[v] = (now + self.durations[v], start)
        return start

    def _release(self, v: int) -> None:
        _, start = self._running.pop(v)
        for slot in start.slots:
            heapq.heappush(self._free_slots[start.pool], slot)
        self._free_memory += self.memory[v]
        self._held_locks.difference_update(self._locks[v])
        self._unfinished -= 1

    def _reserve(self, v: int, now: float) -> _Reservation:
        """When `v` will fit, by the estimated ends of running tasks, and what will be spare."""
        slots = {pool: len(self._free_slots[pool]) for pool in POOLS}
        memory = self._free_memory
        locks = set(self._held_locks)
        pool, need, want_locks = self._pool[v], self._slots_needed[v], self._locks[v]
        at = now
        ends = sorted((max(now, end), u) for u, (end, _) in self._running.items())
        for end, u in ends:
            if slots[pool] >= need and memory >= self.memory[v] and locks.isdisjoint(want_locks):
                break
            at = end
            slots[self._pool[u]] += self._slots_needed[u]
            memory += self.memory[u]
            locks.difference_update(self._locks[u])
        slots[pool] -= need
        return _Reservation(at, slots, memory - self.memory[v], want_locks)

    def _can_backfill(self, v: int, now: float, reservation: _Reservation) -> bool:
        """Whether starting `v` now leaves the reserved task's start time unchanged."""
        if now + self.durations[v] <= reservation.at:
            return True
        pool = self._pool[v]
        if (
            self._slots_needed[v] > reservation.spare_slots[pool]
            or self.memory[v] > reservation.spare_memory
            or not reservation.locks.isdisjoint(self._locks[v])
        ):
            return False
        reservation.spare_slots[pool] -= self._slots_needed[v]
        reservation.spare_memory -= self.memory[v]
        return True

    def _check_fits(self, task: Task, memory: int) -> None:
        """A task that could never fit would wait forever: say so before it is taken."""
        if memory > self.resources.memory:
            raise InputError(
                f"needs {format_size(memory)} of memory but the whole budget is "
                f"{format_size(self.resources.memory)}: raise the memory budget or lower "
                "the task's estimate",
                task=task.name, field="memory",
            )
        if task.slots > self.resources.slots(task.kind):
            raise InputError(
                f"needs {task.slots} {task.kind} slots but only "
                f"{self.resources.slots(task.kind)} exist",
                task=task.name, field="slots",
            )


def _check_sequence(graph: TaskGraph, position: Sequence[int]) -> None:
    """A strict sequence must put every task after its dependencies."""
    for v, preds in enumerate(graph.preds):
        for u in preds:
            if position[u] > position[v]:
                raise ValueError(f"the strict sequence starts {graph.tasks[v].name!r} "
                                 f"before its dependency {graph.tasks[u].name!r}")
