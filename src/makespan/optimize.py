"""Searching for a priority order that beats plain critical-path-first list scheduling.

Problem
-------
The scheduler is a list scheduler: whenever a slot frees up it starts the ready task with the
best *position*. Finding the order that minimises the makespan is NP-hard (P|prec|Cmax), and
critical path first (upward rank, `makespan.priority`) is only a good guess. On 2 workers::

        a(1) ──> c(1)        b(3)        d(3)

    Critical path first starts b and d (upward rank 3) ahead of a (rank 2), so a and then c
    run alone at the end: 5. Starting a with b lets d follow a and c fill the gap after b,
    and both workers finish at 4 = work / 2:

        critical path first         a, b, d, c
        w1  b b b a c               a d d d
        w2  d d d                   b b b c

Objectives, in order
--------------------
1. The result is a position per task that `Scheduler` runs as it is: the makespan reported is
   `simulate(graph, resources, durations, position).makespan`, the prediction of the very
   policy the engine will use. No other algorithm produces the schedule. This has a price: a
   list scheduler never leaves a slot idle while a task is ready, and some graphs need that
   to be optimal (tests/test_optimize.py draws one). The best we can find is the best *list*
   schedule.
2. Never worse than critical path first: that order is the first candidate.
3. Stop as soon as the best order reaches a lower bound (it is then optimal) or is proven to
   be the best any order can give, and never run past the time budget.
4. Deterministic: one seeded random generator, no hash or clock order. Only the budget (how
   far the search gets before it stops) can change the result.

Approach
--------
Every candidate order is scored by simulating it, and the best one is kept.

1. *Rules*: critical path first, then the longest path through the task (upward + downward
   rank), upward rank with the longest or the shortest task first, most successors, longest
   task, earliest possible start.
2. *Forward-backward improvement*: the tasks that end last in a schedule start first in a
   schedule of the reversed graph, and the start order of the mirrored reversed schedule is a
   new order for the forward graph. Repeated while it helps, this closes the idle gaps that
   a forward-only order leaves at the end. It is applied to every rule and every candidate.
3. *Branch and bound* over the scheduler's decisions (fast path only, a quarter of the budget
   left): each time more tasks are ready than slots are free, the scheduler starts some of
   them; any such choice is what some order does, and a schedule's start order reproduces it.
   Depth first, the best order's choices first, pruned by upward rank and by the work left per
   slot. When the tree is exhausted no order can do better and the search stops.
4. *Random keys* until done: the upward ranks, or the positions of a current order, with noise
   of a random size, each candidate followed by forward-backward improvement. The current
   order moves to every candidate that is no longer, so the walk crosses the plateaus of equal
   makespans that whole-number durations make, and returns to the best order when stuck.

Fast path. When nothing but slots can hold a task back (one pool, one slot per task, no locks,
memory for all tasks at once), `Scheduler` is plain list scheduling, and `_ListModel` computes
the same start times several times faster; tests/test_optimize.py checks the two agree on
random graphs. Otherwise candidates are scored by `simulate` itself, and step 3 is skipped.

The lower bound to stop at is the caller's, raised on the fast path by `shape_bound`.

Why no solver library (OR-Tools CP-SAT, say): its optimal schedules may idle a slot, which no
priority order reproduces (objective 1), and it is a large dependency for a one-second search.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from heapq import heapify, heappop, heappush
from itertools import combinations
from typing import NamedTuple

from makespan.model import TaskGraph
from makespan.priority import critical_path_first, positions, upward_rank
from makespan.resources import Resources
from makespan.simulate import simulate

MAX_TASKS = 5000
"""Above this many tasks a simulation costs too much for a search to pay off."""
WORTH_IT = 8
"""A search needs a budget of at least this many simulations of the default order (the
bounds alone cost three or four); below that `improve` returns the default order at once."""
SEED = 20240917
"""Seed of the random-key step: the same graph and budget give the same order."""
NOISE = (0.01, 0.5)
"""Range of the relative noise (log-uniform) that the random-key step puts on priorities."""
BRANCH_SHARE = 0.25
"""Share of the budget left after the rules that branch and bound may use."""
STALE = 200
"""Random-key candidates longer than the current order before the walk returns to the best."""
CLOCK_EVERY = 64
"""Branch-and-bound nodes between two reads of the clock."""
ROUNDS = 4
"""The pigeonhole bound considers up to this many rounds of tasks per slot."""
MEMO_LIMIT = 200_000
"""Branch-and-bound states remembered as explored, at most (bounds the memory used)."""

Run = Callable[[Sequence[int]], tuple[float, list[float]]]
"""Simulate an order (a position per task): the makespan and each task's start time."""


@dataclass(frozen=True, slots=True)
class Improved:
    """The order the planner found for one set of resources, and what it knows about it."""

    position: tuple[int, ...]
    """A position per task (0 runs first), for `Scheduler` and `simulate`."""
    makespan: float
    """`simulate(graph, resources, durations, position).makespan`."""
    baseline: float
    """The makespan of plain critical-path-first list scheduling."""
    evaluations: int
    """Simulations run, forward and backward."""
    lower_bound: float
    """The bound the search would have stopped at: no schedule is shorter."""
    proven: bool = False
    """The search proved that no order gives a shorter schedule than `position`."""


def improve(
    graph: TaskGraph,
    resources: Resources,
    durations: Sequence[float],
    budget: float,
    lower_bound: float = 0.0,
) -> Improved:
    """The best priority order found within `budget` seconds (never worse than the default).

    `lower_bound` is a makespan no schedule can beat (the caller's, e.g. max(span, work / P));
    the search stops as soon as it reaches it. The default order is always simulated, even
    with no budget; the search itself, and a final `simulate` of a better order, fit in
    `budget`.
    """
    started = time.perf_counter()
    position = critical_path_first(graph, durations)
    schedule = simulate(graph, resources, durations, position)
    baseline = schedule.makespan
    cost = time.perf_counter() - started  # what a final check by `simulate` will cost
    if budget < WORTH_IT * cost:
        return Improved(tuple(position), baseline, baseline, 1, lower_bound)
    workers = plain_slots(graph, resources)
    forward: Run
    backward: Run
    if workers:
        lower_bound = max(lower_bound, shape_bound(graph, durations, workers))
        forward = _ListModel(graph.preds, graph.succs, durations, workers).run
        backward = _ListModel(graph.succs, graph.preds, durations, workers).run
    else:
        forward = _simulator(graph, resources, durations)
        backward = _simulator(_reversed(graph), resources, durations)
    first = _Candidate(baseline, position, list(schedule.start))
    search = _Search(durations, forward, backward, started + budget - cost, lower_bound, first)
    proven = search.run(graph, workers)
    best = search.best.position
    if best == position:
        return Improved(tuple(position), baseline, baseline, search.evaluations, lower_bound,
                        proven)
    makespan = simulate(graph, resources, durations, best).makespan
    return Improved(tuple(best), makespan, baseline, search.evaluations + 1, lower_bound,
                    proven)


def plain_slots(graph: TaskGraph, resources: Resources) -> int:
    """How many slots the tasks share when only slots can hold one back, else 0.

    That is the case when all tasks use one pool and one slot, hold no lock, and all their
    memory estimates fit in the budget at once: `Scheduler` then starts ready tasks by position
    while a slot is free, which is plain list scheduling.
    """
    tasks = graph.tasks
    if not tasks:
        return 0
    kind = tasks[0].kind
    plain = all(t.kind == kind and t.slots == 1 and not t.locks for t in tasks)
    if not plain or sum(t.memory or 0 for t in tasks) > resources.memory:
        return 0
    return resources.slots(kind)


def shape_bound(graph: TaskGraph, durations: Sequence[float], workers: int) -> float:
    """No schedule of `graph` on `workers` identical slots is shorter than this.

    For a set of tasks, with each task's *head* (the longest chain of durations before it: it
    cannot start earlier) and *tail* (the longest chain after it), the largest of:

    * span: the longest head + duration + tail;
    * release: for any time `a`, at least `min(d, head + d - a)` of each task remains after
      `a`, so the makespan is at least `a` + that work per slot (with `a` = 0: work / P).
      Mirrored, the same with tails;
    * pigeonhole: of any k * P + 1 tasks, k + 1 share a slot, so `a` plus the k + 1 shortest
      of the k * P + 1 longest tasks with a head of at least `a` (tails likewise), for k up
      to `ROUNDS`: fans of long tasks a little wider than the slots take whole rounds.

    That is the bound of the whole graph. Then *cuts*: a task that every other task comes
    before or after splits the graph into segments that run one after the other, so the
    cuts' durations plus each segment's own bound (heads and tails counted within the
    segment) is a bound too, often a much higher one: a fan of many tasks that must all end
    before a join pays its whole work per slot, not just its span.

    Cost: O(V log V + E) but for the cuts, found from the sets of ancestors and descendants
    as bit masks (O(V * E / 64) word operations), and the pigeonhole rounds (O(V * ROUNDS *
    2^ROUNDS)); about 90 ms for 5,000 tasks, three or four simulations.

    When every duration is a whole number, so is some optimal makespan, and work per slot is
    rounded up.
    """
    whole = all(float(d).is_integer() for d in durations)
    everything = range(len(graph))
    head, tail = _heads_and_tails(graph, durations, [0] * len(graph))
    overall = _part_bound(everything, head, tail, durations, workers, whole)
    segment = _segments(graph)
    if max(segment, default=0) == 0:
        return overall
    head, tail = _heads_and_tails(graph, durations, segment)
    members: dict[int, list[int]] = {}
    for v in everything:
        members.setdefault(segment[v], []).append(v)
    in_turn = sum(_part_bound(tasks, head, tail, durations, workers, whole)
                  for tasks in members.values())
    return max(overall, in_turn)


# ------------------------------------------------------------------------------------ search


class _Candidate(NamedTuple):
    """A simulated order."""

    makespan: float
    position: list[int]
    start: list[float]


class _Search:
    """The best order so far, the budget, and the steps that try to beat that order."""

    def __init__(self, durations: Sequence[float], forward: Run, backward: Run,
                 deadline: float, target: float, first: _Candidate) -> None:
        self.durations = durations
        self.forward = forward
        self.backward = backward
        self.deadline = deadline
        self.target = target
        self.best = first
        self.evaluations = 1
        self.step = 0.0
        """How long the last simulation took: one that would end past the deadline is not run."""
        self.rng = random.Random(SEED)

    @property
    def done(self) -> bool:
        return (self.best.makespan <= self.target
                or time.perf_counter() + self.step >= self.deadline)

    def run(self, graph: TaskGraph, workers: int) -> bool:
        """All steps in turn; True when the best order is proven the best any order gives."""
        self.justify(self.best)
        for position in _rules(graph, self.durations):
            if self.done:
                return False
            self.justify(self.evaluate(position))
        if workers and not self.done and self.branch_and_bound(graph, workers):
            return True
        self.walk(upward_rank(graph, self.durations))
        return False

    def evaluate(self, position: list[int]) -> _Candidate:
        began = time.perf_counter()
        makespan, start = self.forward(position)
        self.step = time.perf_counter() - began
        self.evaluations += 1
        found = _Candidate(makespan, position, start)
        if makespan < self.best.makespan:
            self.best = found
        return found

    def justify(self, candidate: _Candidate) -> _Candidate:
        """Forward-backward improvement while it shortens the schedule; the shortest seen."""
        durations = self.durations
        tasks = range(len(durations))
        while not self.done:
            start = candidate.start
            ends_last = sorted(tasks, key=lambda v: (-start[v] - durations[v], -start[v], v))
            _, back = self.backward(positions(ends_last))
            self.evaluations += 1
            if self.done:
                break
            # Mirrored into forward time, the reversed schedule starts v at
            # (its makespan - back[v] - d[v]): the latest end there starts first here.
            found = self.evaluate(positions(
                sorted(tasks, key=lambda v: (-back[v] - durations[v], v))))
            if found.makespan >= candidate.makespan:
                break
            candidate = found
        return candidate

    def branch_and_bound(self, graph: TaskGraph, workers: int) -> bool:
        """Search the decision tree for part of the budget; True if it was exhausted."""
        now = time.perf_counter()
        tree = _DecisionTree(graph, self.durations, workers, self.best.position,
                             self.best.makespan, self.target,
                             now + BRANCH_SHARE * (self.deadline - now))
        exhausted = tree.search()
        if tree.found is not None:
            self.evaluate(positions(tree.found))
        return exhausted

    def walk(self, rank: Sequence[float]) -> None:
        """Random keys until done, from a current order that moves to any candidate no longer
        than itself (so it wanders across equally long schedules) and back to the best order
        after `STALE` candidates that were all longer."""
        current = self.best
        stale = 0
        while not self.done:
            found = self.justify(self.evaluate(self.perturbed(rank, current.position)))
            if found.makespan <= current.makespan:
                current, stale = found, 0
            elif stale < STALE:
                stale += 1
            else:
                current, stale = self.best, 0

    def perturbed(self, rank: Sequence[float], position: Sequence[int]) -> list[int]:
        """An order from noisy keys: the upward ranks or `position`, with noise of a random
        size."""
        rng = self.rng
        sigma = math.exp(rng.uniform(math.log(NOISE[0]), math.log(NOISE[1])))
        tasks = range(len(rank))
        if rng.random() < 0.5:
            keys = [-rank[v] * (1 + sigma * rng.random()) for v in tasks]
        else:
            spread = sigma * len(rank)
            keys = [position[v] + spread * rng.gauss(0.0, 1.0) for v in tasks]
        return positions(sorted(tasks, key=lambda v: (keys[v], v)))


def _rules(graph: TaskGraph, durations: Sequence[float]) -> list[list[int]]:
    """Priority rules worth a try besides critical path first (the baseline)."""
    up = upward_rank(graph, durations)
    down = _downward_rank(graph, durations)
    fanout = [len(s) for s in graph.succs]
    keys: list[Callable[[int], tuple[float, ...]]] = [
        lambda v: (-up[v] - down[v], -up[v], v),
        lambda v: (-up[v], -durations[v], v),
        lambda v: (-up[v], durations[v], v),
        lambda v: (-fanout[v], -up[v], v),
        lambda v: (-durations[v], -up[v], v),
        lambda v: (down[v], -up[v], v),
    ]
    tasks = range(len(graph))
    return [positions(sorted(tasks, key=key)) for key in keys]


# ----------------------------------------------------------------------------- simulation


class _ListModel:
    """Plain list scheduling on `workers` identical slots: `Scheduler` when only slots bind.

    The loop is `simulate`'s: start ready tasks by position while a slot is free, jump to the
    next completion, report every completion of that instant, repeat. `preds` and `succs` may
    be swapped to schedule the reversed graph.
    """

    def __init__(self, preds: Sequence[Sequence[int]], succs: Sequence[Sequence[int]],
                 durations: Sequence[float], workers: int) -> None:
        self.succs = succs
        self.durations = durations
        self.workers = workers
        self.waiting = [len(p) for p in preds]
        self.sources = [v for v, p in enumerate(preds) if not p]

    def run(self, position: Sequence[int]) -> tuple[float, list[float]]:
        succs, durations = self.succs, self.durations
        waiting = self.waiting[:]
        by_position = [0] * len(position)
        for v, p in enumerate(position):
            by_position[p] = v
        ready = [position[v] for v in self.sources]
        heapify(ready)
        start = [0.0] * len(position)
        events: list[tuple[float, int]] = []
        free = self.workers
        now = 0.0
        while True:
            while free and ready:
                v = by_position[heappop(ready)]
                free -= 1
                start[v] = now
                heappush(events, (now + durations[v], v))
            if not events:
                return now, start
            now = events[0][0]
            while events and events[0][0] == now:
                v = heappop(events)[1]
                free += 1
                for s in succs[v]:
                    waiting[s] -= 1
                    if not waiting[s]:
                        heappush(ready, position[s])


def _simulator(graph: TaskGraph, resources: Resources, durations: Sequence[float]) -> Run:
    """Scoring by `simulate` itself, for graphs where more than slots can hold a task back."""
    def run(position: Sequence[int]) -> tuple[float, list[float]]:
        schedule = simulate(graph, resources, durations, position)
        return schedule.makespan, list(schedule.start)
    return run


def _reversed(graph: TaskGraph) -> TaskGraph:
    """The same tasks with every dependency turned around."""
    return replace(graph, preds=graph.succs, succs=graph.preds, order=graph.order[::-1])


# --------------------------------------------------------------------------------- bounds


def _downward_rank(graph: TaskGraph, durations: Sequence[float]) -> list[float]:
    """Each task's earliest start: the longest chain of durations among its ancestors."""
    head = [0.0] * len(graph)
    preds = graph.preds
    for v in graph.order:
        head[v] = max((head[p] + durations[p] for p in preds[v]), default=0.0)
    return head


def _heads_and_tails(graph: TaskGraph, durations: Sequence[float],
          part: Sequence[int]) -> tuple[list[float], list[float]]:
    """Heads and tails counting only the chains inside each task's own part."""
    head = [0.0] * len(graph)
    tail = [0.0] * len(graph)
    for v in graph.order:
        head[v] = max((head[p] + durations[p] for p in graph.preds[v] if part[p] == part[v]),
                      default=0.0)
    for v in reversed(graph.order):
        tail[v] = max((tail[s] + durations[s] for s in graph.succs[v] if part[s] == part[v]),
                      default=0.0)
    return head, tail


def _part_bound(tasks: Sequence[int], head: Sequence[float], tail: Sequence[float],
                durations: Sequence[float], workers: int, whole: bool) -> float:
    """The span, release and pigeonhole bounds of `tasks` (see `shape_bound`)."""
    length = [durations[v] for v in tasks]
    heads = [head[v] for v in tasks]
    tails = [tail[v] for v in tasks]
    return max(
        max((h + d + t for h, d, t in zip(heads, length, tails, strict=True)), default=0.0),
        _release_bound(heads, length, workers, whole),
        _release_bound(tails, length, workers, whole),
        _pigeonhole_bound(heads, length, workers),
        _pigeonhole_bound(tails, length, workers),
    )


def _release_bound(release: Sequence[float], durations: Sequence[float], workers: int,
                   whole: bool) -> float:
    """max over `a` of `a` + (work that cannot be done before `a`) / `workers`.

    A task released at r with duration d has min(d, max(0, r + d - a)) of its work after `a`.
    The maximum lies at some r or r + d; one sweep over those in increasing order keeps the
    work of tasks not released yet (`later`) and, for those running across `a` (`crossing`),
    the sum of their r + d.
    """
    tasks = [v for v, d in enumerate(durations) if d > 0]
    by_release = sorted(tasks, key=lambda v: release[v])
    by_end = sorted(tasks, key=lambda v: release[v] + durations[v])
    points = sorted({release[v] for v in tasks} | {release[v] + durations[v] for v in tasks})
    later = float(sum(durations[v] for v in tasks))
    crossing = crossing_ends = 0.0
    i = j = 0
    best = 0.0
    for a in points:
        while i < len(by_release) and release[by_release[i]] < a:
            v = by_release[i]
            later -= durations[v]
            crossing += 1
            crossing_ends += release[v] + durations[v]
            i += 1
        while j < len(by_end) and release[by_end[j]] + durations[by_end[j]] <= a:
            v = by_end[j]
            crossing -= 1
            crossing_ends -= release[v] + durations[v]
            j += 1
        work = later + crossing_ends - crossing * a
        best = max(best, a + (math.ceil(work / workers) if whole else work / workers))
    return best


def _pigeonhole_bound(release: Sequence[float], durations: Sequence[float],
                      workers: int) -> float:
    """Over thresholds `a` and rounds k (1 to `ROUNDS`): of the k * `workers` + 1 longest
    tasks released at or after `a`, one slot runs k + 1 in turn, so `a` plus the k + 1
    shortest of them."""
    best = 0.0
    by_release = sorted(range(len(durations)), key=lambda v: -release[v])
    for rounds in range(1, ROUNDS + 1):
        size = rounds * workers + 1
        top = (2 << rounds) - 1  # a min-heap keeps its m smallest within its first 2^m - 1
        longest: list[float] = []  # a min-heap of the `size` longest durations so far
        for v in by_release:
            heappush(longest, durations[v])
            if len(longest) > size:
                heappop(longest)
            if len(longest) == size:
                shortest = sorted(longest[:top])[:rounds + 1]
                best = max(best, release[v] + sum(shortest))
    return best


def _segments(graph: TaskGraph) -> list[int]:
    """A part number per task: each cut task (every other task is its ancestor or its
    descendant) is a part of its own, and the tasks between two cuts form one part."""
    n = len(graph)
    ancestors = _closure(graph.order, graph.preds, n)
    descendants = _closure(graph.order[::-1], graph.succs, n)
    cut = [ancestors[v].bit_count() + descendants[v].bit_count() == n - 1 for v in range(n)]
    before = [0] * n  # how many cuts come before the task
    for v in graph.order:
        before[v] = max((before[p] + cut[p] for p in graph.preds[v]), default=0)
    return [2 * b + c for b, c in zip(before, cut, strict=True)]


def _closure(order: Sequence[int], edges: Sequence[Sequence[int]], n: int) -> list[int]:
    """For each task, the set (a bit mask) of the tasks reachable through `edges`."""
    reach = [0] * n
    for v in order:
        mask = 0
        for u in edges[v]:
            mask |= reach[u] | (1 << u)
        reach[v] = mask
    return reach


# ------------------------------------------------------------------------ branch and bound


class _Stop(Exception):
    """Out of time, or the target is reached: either way the search ends here."""


Running = tuple[tuple[float, int], ...]
"""(end, task) of each running task, by end."""


@dataclass(slots=True)
class _Node:
    """An instant where the scheduler chooses which ready tasks fill the free slots."""

    now: float
    running: Running
    ready: list[int]
    started: int
    """The tasks started so far, as a bit mask."""
    work: float
    """The work of the tasks not started yet."""
    choices: Iterator[tuple[int, ...]]
    released: list[int]
    """Successors whose count of unfinished dependencies reaching this node lowered."""
    placed: int
    """How many tasks the choice leading here appended to the sequence."""


class _DecisionTree:
    """Depth-first branch and bound over the choices of plain list scheduling.

    A node is an instant where the scheduler chooses which ready tasks fill the free slots;
    its children are the possible choices, the preferred order's first (ready tasks sorted by
    its positions, so the first leaf is that order's own schedule). A child is pruned when it
    cannot beat the incumbent: a task started at `now` ends the schedule no earlier than
    `now` + its upward rank, a task left waiting starts no earlier than the next completion,
    and the work still to do needs `now + work / workers`. States already explored (same
    instant, same tasks started, same running tasks) are skipped. The depth is the number of
    instants, so the tree is walked with an explicit stack, not recursion.
    """

    def __init__(self, graph: TaskGraph, durations: Sequence[float], workers: int,
                 prefer: Sequence[int], incumbent: float, target: float,
                 deadline: float) -> None:
        self.succs = graph.succs
        self.durations = durations
        self.workers = workers
        self.prefer = prefer
        self.rank = upward_rank(graph, durations)
        self.whole = all(float(d).is_integer() for d in durations)
        self.waiting = [len(p) for p in graph.preds]
        self.incumbent = incumbent
        self.target = target
        self.deadline = deadline
        self.found: list[int] | None = None
        """The start order of the best schedule found, if it beats the first incumbent."""
        self.sequence: list[int] = []
        self.seen: set[tuple[float, int, Running]] = set()

    def search(self) -> bool:
        """Explore the tree; True when it was exhausted (no order does better)."""
        ready = [v for v, w in enumerate(self.waiting) if not w]
        stack = [self._node(0.0, (), ready, 0, float(sum(self.durations)), [], 0)]
        steps = 0
        try:
            while stack:
                steps += 1
                if steps % CLOCK_EVERY == 0 and time.perf_counter() >= self.deadline:
                    raise _Stop
                chosen = next(stack[-1].choices, None)
                if chosen is None:
                    self._leave(stack.pop())
                    continue
                child = self._choose(stack[-1], chosen)
                if child is not None:
                    stack.append(child)
        except _Stop:
            return False
        return True

    def _node(self, now: float, running: Running, ready: list[int], started: int,
              work: float, released: list[int], placed: int) -> _Node:
        ready = sorted(ready, key=self.prefer.__getitem__)
        take = min(self.workers - len(running), len(ready))
        return _Node(now, running, ready, started, work, combinations(ready, take), released,
                     placed)

    def _choose(self, node: _Node, chosen: tuple[int, ...]) -> _Node | None:
        """Start `chosen` at `node`: the node at the next completion, or None if pruned."""
        durations, rank, now = self.durations, self.rank, node.now
        if any(now + rank[v] >= self.incumbent for v in chosen):
            return None
        after = sorted(node.running + tuple((now + durations[v], v) for v in chosen))
        work = node.work - sum(durations[v] for v in chosen)
        busy = sum(end - now for end, _ in after)
        if now + self._per_slot(busy + work) >= self.incumbent:
            return None
        waiting = [v for v in node.ready if v not in chosen]
        if waiting and any(after[0][0] + rank[v] >= self.incumbent for v in waiting):
            return None
        self.sequence.extend(chosen)
        if len(self.sequence) == len(durations):
            self._leaf(after[-1][0])
            del self.sequence[len(self.sequence) - len(chosen):]
            return None
        started = node.started
        for v in chosen:
            started |= 1 << v
        return self._advance(after, waiting, started, work, len(chosen))

    def _advance(self, running: list[tuple[float, int]], ready: list[int], started: int,
                 work: float, placed: int) -> _Node | None:
        """Jump to the next completion and release the successors of what ends there."""
        now = running[0][0]
        ended = 0
        released: list[int] = []
        while ended < len(running) and running[ended][0] == now:
            released.extend(self.succs[running[ended][1]])
            ended += 1
        newly = []
        for s in released:
            self.waiting[s] -= 1
            if not self.waiting[s]:
                newly.append(s)
        node = self._node(now, tuple(running[ended:]), ready + newly, started, work, released,
                          placed)
        state = (now, started, node.running)
        if state in self.seen:
            self._leave(node)
            return None
        if len(self.seen) < MEMO_LIMIT:
            self.seen.add(state)
        return node

    def _leave(self, node: _Node) -> None:
        """Undo what reaching `node` did to the dependency counts and the sequence."""
        for s in node.released:
            self.waiting[s] += 1
        del self.sequence[len(self.sequence) - node.placed:]

    def _leaf(self, makespan: float) -> None:
        if makespan < self.incumbent:
            self.incumbent = makespan
            self.found = list(self.sequence)
            if makespan <= self.target:
                raise _Stop

    def _per_slot(self, work: float) -> float:
        share = work / self.workers
        return math.ceil(share) if self.whole else share
