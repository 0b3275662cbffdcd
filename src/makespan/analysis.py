"""What the graph's shape alone says about how parallel the work can be.

Work (the sum of durations) and span (the longest chain of durations, the critical path) bound
every schedule on P workers: no schedule beats `max(span, work / P)`, and any greedy one is
within `work / P + span` (Brent). Stages group tasks by the length of the longest dependency
chain that leads to them, so each stage can run in parallel once the previous ones are done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from makespan.model import TaskGraph


@dataclass(frozen=True, slots=True)
class Analysis:
    work: float
    span: float
    io_work: float
    """The part of `work` done by `io` tasks, which run in their own pool."""
    lock_work: float
    """The most work that holds one lock: those tasks can only run one at a time."""
    critical_path: tuple[int, ...]
    """Task ids from the first task of the longest chain to its last."""
    stage_of: tuple[int, ...]
    """For each task, the number of tasks on the longest dependency chain before it."""
    stages: tuple[tuple[int, ...], ...]
    """Task ids per stage, in id order."""
    earliest_finish: tuple[float, ...]
    """Each task's finish time with unlimited workers: the longest chain ending in it."""

    @property
    def max_speedup(self) -> float:
        """Work / span: what no number of workers can beat."""
        return self.work / self.span if self.span > 0 else 1.0

    @property
    def cpu_work(self) -> float:
        return self.work - self.io_work

    def efficiency(self, makespan: float, workers: int, io_workers: int) -> float:
        """Speedup / workers of the pool the work runs in: the CPU work against the `workers`
        CPU slots (I/O tasks run in their own, larger pool: counting them would put efficiency
        over 100 % on any graph that waits on I/O), and a graph of I/O tasks alone against its
        `io_workers` slots."""
        if makespan <= 0:
            return 1.0
        if self.cpu_work > 0:
            return self.cpu_work / makespan / workers
        return self.work / makespan / io_workers

    def lower_bound(self, workers: int, io_workers: int | None = None) -> float:
        """No schedule on `workers` CPU slots (and `io_workers` I/O slots) is shorter.

        Without `io_workers` every task counts against the CPU slots: the guide's
        `max(span, work / P)`.
        """
        if io_workers is None:
            return max(self.span, self.work / workers, self.lock_work)
        return max(self.span, self.cpu_work / workers, self.io_work / io_workers, self.lock_work)

    def upper_bound(self, workers: int, io_workers: int | None = None) -> float:
        """Brent's bound: any schedule that never idles a worker while work is ready."""
        if io_workers is None:
            return self.work / workers + self.span
        return self.cpu_work / workers + self.io_work / io_workers + self.span


def analyze(graph: TaskGraph, durations: Sequence[float]) -> Analysis:
    """Stages, critical path, work and span of `graph` with the given per-task durations.

    One pass over the topological order, O(V + E). Among equally long chains the one through
    the lowest task ids wins, so the answer does not depend on hashing or input quirks.
    """
    n = len(graph)
    preds = graph.preds
    finish = [0.0] * n
    stage_of = [0] * n
    via = [-1] * n
    for v in graph.order:
        start = 0.0
        best = -1
        stage = 0
        for p in preds[v]:
            f = finish[p]
            if best == -1 or f > start or (f == start and p < best):
                start, best = f, p
            s = stage_of[p] + 1
            if s > stage:
                stage = s
        finish[v] = start + durations[v]
        via[v] = best
        stage_of[v] = stage

    path: list[int] = []
    if n:
        span = max(finish)
        node = finish.index(span)
        while node != -1:
            path.append(node)
            node = via[node]
        path.reverse()
    else:
        span = 0.0

    buckets: list[list[int]] = [[] for _ in range(max(stage_of, default=-1) + 1)]
    for i, s in enumerate(stage_of):
        buckets[s].append(i)
    lock_work: dict[str, float] = {}
    for task, duration in zip(graph.tasks, durations, strict=True):
        for lock in task.locks:
            lock_work[lock] = lock_work.get(lock, 0.0) + duration
    return Analysis(
        work=float(sum(durations)),
        lock_work=max(lock_work.values(), default=0.0),
        io_work=float(sum(d for d, t in zip(durations, graph.tasks, strict=True)
                          if t.kind == "io")),
        span=span,
        critical_path=tuple(path),
        stage_of=tuple(stage_of),
        stages=tuple(tuple(b) for b in buckets),
        earliest_finish=tuple(finish),
    )
