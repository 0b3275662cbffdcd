"""Predicting a schedule: the scheduler driven by a virtual clock.

The clock jumps from one completion to the next (as Trio's `MockClock` jumps to the next
deadline), so simulating a graph costs O((V + E) log V) whatever the durations. Completions at
the same instant are all reported before the scheduler is asked again, in task-id order, so the
result is deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from makespan.model import TaskGraph
from makespan.priority import critical_path_first
from makespan.resources import Resources
from makespan.scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class Schedule:
    """When and where each task ran (or would run), indexed by task id."""

    start: tuple[float, ...]
    end: tuple[float, ...]
    pool: tuple[str, ...]
    slot: tuple[int, ...]

    @property
    def makespan(self) -> float:
        return max(self.end, default=0.0)


def simulate(
    graph: TaskGraph,
    resources: Resources,
    durations: Sequence[float] | None = None,
    position: Sequence[int] | None = None,
    *,
    strict: bool = False,
) -> Schedule:
    """Run the scheduling policy on a virtual clock with the given (or estimated) durations.

    `strict`: `position` is a start sequence (`Scheduler`'s strict mode), not a priority.
    """
    if durations is None:
        durations = graph.estimates()
    if position is None:
        position = critical_path_first(graph, durations)
    scheduler = Scheduler(graph, resources, durations, position, strict=strict)
    n = len(graph)
    start = [0.0] * n
    end = [0.0] * n
    pool = [""] * n
    slot = [0] * n
    events: list[tuple[float, int]] = []
    now = 0.0
    while True:
        for s in scheduler.start(now):
            v = s.task
            start[v] = now
            end[v] = now + durations[v]
            pool[v] = s.pool
            slot[v] = s.slot
            heapq.heappush(events, (end[v], v))
        if not events:
            break
        now, v = heapq.heappop(events)
        scheduler.finish(v)
        while events and events[0][0] == now:
            scheduler.finish(heapq.heappop(events)[1])
    return Schedule(tuple(start), tuple(end), tuple(pool), tuple(slot))
