"""Which ready task goes first: the one priority function every schedule uses.

Problem
-------
When a worker frees up and several tasks are ready, the order in which they start decides the
makespan. A long chain started last leaves every other worker idle at the end::

        a(1) b(1) c(1) d(1)        x(2) -> y(2) -> z(2)

    With 2 workers, FIFO order runs a..d first and finishes at 2 + 6 = 8; starting x first
    lets a..d fill the other worker while the chain runs, finishing at 6 (the span).

Objectives, in order
--------------------
1. Start the task with the longest remaining path to the end of the graph first (its *upward
   rank*: its own estimate plus the longest chain of estimates after it). This keeps the critical
   path moving and is the classic HLFET/HEFT list-scheduling rule.
2. Among equal ranks, prefer the task with more successors: it unlocks more parallel work.
3. Then the graph order (task id), so the choice never depends on hashing or timing.

The scheduler does not compute priorities itself: it takes a *position* per task (0 runs
first), so the planner can hand it any order it found better (see `makespan.optimize`).
"""

from __future__ import annotations

from collections.abc import Sequence

from makespan.model import TaskGraph


def upward_rank(graph: TaskGraph, durations: Sequence[float]) -> list[float]:
    """Each task's duration plus the longest chain of durations among its descendants."""
    rank = [0.0] * len(graph)
    succs = graph.succs
    for v in reversed(graph.order):
        tail = 0.0
        for s in succs[v]:
            r = rank[s]
            if r > tail:
                tail = r
        rank[v] = durations[v] + tail
    return rank


def positions(order: Sequence[int]) -> list[int]:
    """Invert an order (task ids, first to run first) into a position per task."""
    position = [0] * len(order)
    for p, v in enumerate(order):
        position[v] = p
    return position


def critical_path_first(graph: TaskGraph, durations: Sequence[float]) -> list[int]:
    """The default priority: a position per task by (upward rank, successors, id)."""
    rank = upward_rank(graph, durations)
    succs = graph.succs
    order = sorted(range(len(graph)), key=lambda v: (-rank[v], -len(succs[v]), v))
    return positions(order)


def fifo(graph: TaskGraph) -> list[int]:
    """First come, first served: the order the tasks were declared (the baseline to beat)."""
    return list(range(len(graph)))
