"""Searching for an order that beats plain critical-path-first list scheduling.

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

Some graphs need more than a better order: a list scheduler never leaves a slot idle while a
task is ready, and their optimal schedules do (tests/test_optimize.py draws one). For those the
scheduler has a strict mode, where the position is a start *sequence* that no task overtakes
(`makespan.scheduler`); any schedule, run strictly in the order of its start times, comes
back no longer, so the best strict sequence is an optimal schedule.

Objectives, in order
--------------------
1. The result is a position per task that `Scheduler` runs as it is, as a priority or (with
   `Improved.strict`) as a strict sequence: the makespan reported is
   `simulate(graph, resources, durations, position, strict=strict).makespan`, the prediction
   of the very policy the engine will use. No other algorithm produces the schedule.
2. Never worse than critical path first: that order is the first candidate. A strict
   sequence is kept only when it is shorter than every priority order found by more than
   rounding (`ROUNDING`: a strict run holds back the tasks behind a late one, so it suffers
   more when real durations differ from the estimates).
3. Stop as soon as the best order reaches a lower bound (it is then optimal) or is proven
   optimal, and never run past the time budget. Branch and bound over priority orders only
   proves that no *order* does better, which is no proof of optimality: the search then
   gives the rest of its budget to strict sequences, whose own branch and bound does prove
   it (`Improved.proven`).
4. Deterministic: one seeded random generator, no hash or clock order. Only the budget (how
   far the search gets before it stops) can change the result.

Approach
--------
Every candidate order is scored by simulating it, and the best one is kept. First priority
orders (list scheduling):

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
   slot. When the tree is exhausted no order can do better.
4. *Random keys*: the upward ranks, or the positions of a current order, with noise of a
   random size, each candidate followed by forward-backward improvement. The current order
   moves to every candidate that is no longer, so the walk crosses the plateaus of equal
   makespans that whole-number durations make, and returns to the best order when stuck.
   On the fast path it gets `LIST_SHARE` of what is left, none once step 3 is exhausted.

Then, on the fast path, strict sequences, from the best list schedule's start order (which,
run strictly, is the same schedule) until the budget ends:

5. *Forward-backward improvement* (double justification, the classic improvement of the
   serial schedule-generation scheme in the RCPSP literature), as in step 2, both passes
   strict: each pass runs the other's start order, which it reproduces or shortens.
6. *Branch and bound* over sequences (`_SequenceTree`, a quarter of what is left): exhausted,
   it proves the best schedule optimal; it is what solves small graphs.
7. *Random keys* as in step 4, with larger noise (`SEQUENCE_NOISE`), each made a sequence
   with every task after its dependencies (`_ListModel.in_sequence`).

Fast path. When nothing but slots can hold a task back (one pool, one slot per task, no locks,
memory for all tasks at once), `Scheduler` is plain list scheduling, or the serial scheme in
strict mode, and `_ListModel` computes the same start times several times faster;
tests/test_optimize.py checks the two agree on random graphs. Otherwise candidates are scored
by `simulate` itself, steps 3 and 5 to 7 are skipped, and the order is a priority.

The lower bound to stop at is the caller's, raised on the fast path by `shape_bound`.

Why no solver library (OR-Tools CP-SAT, say): its optimal schedules would still have to be
turned into a sequence the scheduler runs (their start order would do), and it is a large
dependency for a one-second search.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, replace
from heapq import heapify, heappop, heappush, heapreplace
from itertools import combinations
from typing import Any, Generic, NamedTuple, TypeVar

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
SEQUENCE_NOISE = (0.05, 2.0)
"""The same for strict sequences: larger, close to fresh random sequences at the top, which
forward-backward improvement then compacts (it found more optima on the STG benchmark)."""
BRANCH_SHARE = 0.25
"""Share of the budget left after the rules that branch and bound may use (each time)."""
LIST_SHARE = 0.5
"""Share of the budget left after branch and bound over priority orders that the random
keys over them may use; the rest goes to strict sequences."""
ROUNDING = 1e-9
"""Relative difference under which two makespans count as equal: the same durations added in
another order differ in the last bits, which is no reason to switch to a strict sequence."""
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
    """A position per task (0 runs first), for `Scheduler` and `simulate`: a priority, or
    with `strict` a start sequence."""
    makespan: float
    """`simulate(graph, resources, durations, position, strict=strict).makespan`."""
    baseline: float
    """The makespan of plain critical-path-first list scheduling."""
    evaluations: int
    """Simulations run, forward and backward."""
    lower_bound: float
    """The bound the search would have stopped at: no schedule is shorter."""
    proven: bool = False
    """The search proved that no schedule at all is shorter than `makespan`: it is optimal
    (proofs over the strict sequences of the fast path only; a proof over priority orders
    alone, which cannot idle a slot, does not count)."""
    strict: bool = False
    """`position` is a strict start sequence, kept only because it is shorter than any
    priority order found (by more than `ROUNDING`)."""


def improve(
    graph: TaskGraph,
    resources: Resources,
    durations: Sequence[float],
    budget: float,
    lower_bound: float = 0.0,
) -> Improved:
    """The best order found within `budget` seconds (never worse than the default): a
    priority, or a strict sequence where that is shorter.

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
    first = _Candidate(baseline, position, list(schedule.start))
    deadline = started + budget - cost
    tie = positions(graph.order)
    if not workers:
        policy = _Policy(_simulator(graph, resources, durations),
                         _simulator(_reversed(graph), resources, durations), _by_keys,
                         NOISE)
        search = _Search(policy, durations, deadline, lower_bound, first, tie)
        search.run_lists(graph, workers)
        return _result(graph, resources, durations, first, search, search)
    lower_bound = max(lower_bound, shape_bound(graph, durations, workers))
    model = _ListModel(graph.preds, graph.succs, durations, workers)
    mirror = _ListModel(graph.succs, graph.preds, durations, workers)
    lists = _Search(_Policy(model.run, mirror.run, _by_keys, NOISE), durations, deadline,
                    lower_bound, first, tie)
    lists.run_lists(graph, workers)
    # The best list schedule's start order, run strictly, is the same schedule: the seed.
    seed = lists.best._replace(position=_start_order(lists.best.start, durations, tie))
    sequences = _Search(_Policy(model.run_strict, mirror.run_strict, model.in_sequence,
                                SEQUENCE_NOISE),
                        durations, deadline, lower_bound, seed, tie)
    sequences.evaluations = lists.evaluations
    proven = not sequences.done and sequences.run_sequences(graph, workers)
    return _result(graph, resources, durations, first, lists, sequences, proven)


def _result(graph: TaskGraph, resources: Resources, durations: Sequence[float],
            first: _Candidate, lists: _Search, sequences: _Search,
            proven: bool = False) -> Improved:
    """The best order of the two searches; a strict sequence only if shorter by more than
    rounding."""
    strict = sequences.best.makespan < lists.best.makespan * (1 - ROUNDING)
    best = sequences.best if strict else lists.best
    evaluations = sequences.evaluations
    if not strict and best.position == first.position:
        return Improved(tuple(first.position), first.makespan, first.makespan, evaluations,
                        lists.target, proven)
    makespan = simulate(graph, resources, durations, best.position, strict=strict).makespan
    return Improved(tuple(best.position), makespan, first.makespan, evaluations + 1,
                    lists.target, proven, strict)


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


class _Policy(NamedTuple):
    """How candidates are scored: list scheduling or strict sequences."""

    forward: Run
    backward: Run
    """`forward` on the reversed graph."""
    decode: Callable[[Sequence[float]], list[int]]
    """A position from priority keys (lowest first) that `forward` accepts."""
    noise: tuple[float, float]
    """The range of relative noise the random-key step puts on priorities."""


class _Search:
    """The best order so far, the budget, and the steps that try to beat that order."""

    def __init__(self, policy: _Policy, durations: Sequence[float], deadline: float,
                 target: float, first: _Candidate, tie: Sequence[int]) -> None:
        self.policy = policy
        self.durations = durations
        self.deadline = deadline
        self.target = target
        self.best = first
        self.tie = tie
        """Each task's place in the graph order, to break ties between equal times."""
        self.evaluations = 1
        self.step = 0.0
        """How long the last simulation took: one that would end past the deadline is not run."""
        self.rng = random.Random(SEED)

    @property
    def done(self) -> bool:
        return (self.best.makespan <= self.target
                or time.perf_counter() + self.step >= self.deadline)

    def run_lists(self, graph: TaskGraph, workers: int) -> None:
        """Rules, branch and bound, then random keys. On the fast path the walk leaves
        `1 - LIST_SHARE` of what is left to strict sequences, and all of it when the tree
        proved that no priority order does better."""
        self.justify(self.best)
        for position in _rules(graph, self.durations):
            if self.done:
                return
            self.justify(self.evaluate(position))
        if workers and not self.done:
            proven = self.branch_and_bound(graph, workers)
            now = time.perf_counter()
            self.deadline = now + (0.0 if proven else LIST_SHARE) * (self.deadline - now)
        self.walk(upward_rank(graph, self.durations))

    def run_sequences(self, graph: TaskGraph, workers: int) -> bool:
        """Forward-backward improvement, branch and bound, then random keys, over strict
        sequences; True when the tree proved that no schedule at all is shorter."""
        self.justify(self.best)
        if not self.done:
            now = time.perf_counter()
            tree = _SequenceTree(graph, self.durations, workers, self.best.position,
                                 self.best.makespan, self.target,
                                 now + BRANCH_SHARE * (self.deadline - now))
            if self.explore(tree):
                return True
        self.walk(upward_rank(graph, self.durations))
        return False

    def evaluate(self, position: list[int]) -> _Candidate:
        began = time.perf_counter()
        makespan, start = self.policy.forward(position)
        self.step = time.perf_counter() - began
        self.evaluations += 1
        found = _Candidate(makespan, position, start)
        if makespan < self.best.makespan:
            self.best = found
        return found

    def justify(self, candidate: _Candidate) -> _Candidate:
        """Forward-backward improvement while it shortens the schedule; the shortest seen.

        Both runs take the other's start order (`_start_order`), which a strict sequence
        reproduces or beats, so a strict candidate never gets longer."""
        durations, tie = self.durations, self.tie
        while not self.done:
            # The reversed schedule starts where this one ends, in mirrored time.
            ends_last = [-start - d for start, d in zip(candidate.start, durations, strict=True)]
            _, back = self.policy.backward(_start_order(ends_last, durations, [-t for t in tie]))
            self.evaluations += 1
            if self.done:
                break
            # Mirrored into forward time, the reversed schedule starts v at
            # (its makespan - back[v] - d[v]): the latest end there starts first here.
            mirrored = [-b - d for b, d in zip(back, durations, strict=True)]
            found = self.evaluate(_start_order(mirrored, durations, tie))
            if found.makespan >= candidate.makespan:
                break
            candidate = found
        return candidate

    def branch_and_bound(self, graph: TaskGraph, workers: int) -> bool:
        """Search the list scheduler's decisions for part of the budget; True if exhausted."""
        now = time.perf_counter()
        return self.explore(_DecisionTree(graph, self.durations, workers, self.best.position,
                                          self.best.makespan, self.target,
                                          now + BRANCH_SHARE * (self.deadline - now)))

    def explore(self, tree: _Tree[Any, Any]) -> bool:
        """Search `tree`, keep what it found; True if it was exhausted."""
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
        low, high = self.policy.noise
        sigma = math.exp(rng.uniform(math.log(low), math.log(high)))
        tasks = range(len(rank))
        if rng.random() < 0.5:
            keys = [-rank[v] * (1 + sigma * rng.random()) for v in tasks]
        else:
            spread = sigma * len(rank)
            keys = [position[v] + spread * rng.gauss(0.0, 1.0) for v in tasks]
        return self.policy.decode(keys)


def _by_keys(keys: Sequence[float]) -> list[int]:
    """A priority order from keys, lowest first (ties by task id)."""
    return positions(sorted(range(len(keys)), key=lambda v: (keys[v], v)))


def _start_order(start: Sequence[float], durations: Sequence[float],
                 tie: Sequence[int]) -> list[int]:
    """The position of each task in the order of `start`, for a schedule's start times: a
    strict sequence that reproduces the schedule. Among equal starts, the shorter tasks
    first (a zero-duration task's slot is free again at once), then by `tie` (the graph
    order, so that each task comes after its dependencies)."""
    return positions(sorted(range(len(start)),
                            key=lambda v: (start[v], start[v] + durations[v], tie[v])))


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
    """`Scheduler` on `workers` identical slots when only slots bind, several times faster.

    `run` is plain list scheduling, with `simulate`'s loop: start ready tasks by position while
    a slot is free, jump to the next completion, report every completion of that instant,
    repeat. `run_strict` is the strict sequence. `preds` and `succs` may be swapped to schedule
    the reversed graph.
    """

    def __init__(self, preds: Sequence[Sequence[int]], succs: Sequence[Sequence[int]],
                 durations: Sequence[float], workers: int) -> None:
        self.preds = preds
        self.succs = succs
        self.durations = durations
        self.workers = workers
        self.waiting = [len(p) for p in preds]
        self.sources = [v for v, p in enumerate(preds) if not p]

    def run(self, position: Sequence[int]) -> tuple[float, list[float]]:
        succs, durations = self.succs, self.durations
        waiting = self.waiting[:]
        by_position = positions(position)  # the inverse permutation: the tasks in order
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

    def run_strict(self, position: Sequence[int]) -> tuple[float, list[float]]:
        """`position` as a strict start sequence: each task in turn starts at the earliest
        time, no earlier than the task before it, when its dependencies have ended and one of
        the slots (a heap of the times they free up) is free.

        The hot loop of the search over sequences: each task pushes its end to its
        successors' release times as it is placed (a task's dependencies come before it),
        which costs a third of looking the ends of its dependencies up."""
        succs, durations = self.succs, self.durations
        start = [0.0] * len(position)
        release = [0.0] * len(position)
        slots = [0.0] * self.workers
        now = last = 0.0
        for v in positions(position):
            at = release[v]
            if slots[0] > at:
                at = slots[0]
            if at > now:
                now = at
            start[v] = now
            end = now + durations[v]
            if end > last:
                last = end
            for s in succs[v]:
                if end > release[s]:
                    release[s] = end
            heapreplace(slots, end)
        return last, start

    def in_sequence(self, keys: Sequence[float]) -> list[int]:
        """A start sequence from priority keys (lowest first): the ready task with the lowest
        key next, so that every task comes after its dependencies."""
        succs = self.succs
        waiting = self.waiting[:]
        ready = [(keys[v], v) for v in self.sources]
        heapify(ready)
        order = []
        while ready:
            v = heappop(ready)[1]
            order.append(v)
            for s in succs[v]:
                waiting[s] -= 1
                if not waiting[s]:
                    heappush(ready, (keys[s], s))
        return positions(order)


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


NodeT = TypeVar("NodeT")
ChoiceT = TypeVar("ChoiceT")


class _Tree(Generic[NodeT, ChoiceT]):
    """Depth-first branch and bound with an explicit stack (the depth can be the number of
    tasks), a clock read every `CLOCK_EVERY` nodes and a memory of states already explored.

    A subclass makes the root, a node's `_choices` (the preferred order's first, so the
    first leaf is that order's own schedule), the child for one of them (None when pruned,
    or a leaf: it records those with `_leaf`), and undoes in `_leave` what reaching a node
    did.
    """

    def __init__(self, graph: TaskGraph, durations: Sequence[float], workers: int,
                 prefer: Sequence[int], incumbent: float, target: float,
                 deadline: float) -> None:
        self.preds = graph.preds
        self.succs = graph.succs
        self.durations = durations
        self.workers = workers
        self.prefer = prefer
        self.rank = upward_rank(graph, durations)
        self.whole = all(float(d).is_integer() for d in durations)
        self.incumbent = incumbent
        self.target = target
        self.deadline = deadline
        self.found: list[int] | None = None
        """The start order of the best schedule found, if it beats the first incumbent."""
        self.sequence: list[int] = []
        self.seen: set[Hashable] = set()

    def search(self) -> bool:
        """Explore the tree; True when it was exhausted (nothing beats the incumbent)."""
        root = self._root()
        stack = [(root, self._choices(root))]
        steps = 0
        try:
            while stack:
                steps += 1
                if steps % CLOCK_EVERY == 0 and time.perf_counter() >= self.deadline:
                    raise _Stop
                node, choices = stack[-1]
                chosen = next(choices, None)
                if chosen is None:
                    self._leave(stack.pop()[0])
                    continue
                child = self._choose(node, chosen)
                if child is not None:
                    stack.append((child, self._choices(child)))
        except _Stop:
            return False
        return True

    def _root(self) -> NodeT:
        raise NotImplementedError

    def _choices(self, node: NodeT) -> Iterator[ChoiceT]:
        raise NotImplementedError

    def _choose(self, node: NodeT, chosen: ChoiceT) -> NodeT | None:
        raise NotImplementedError

    def _leave(self, node: NodeT) -> None:
        raise NotImplementedError

    def _explored(self, state: Hashable) -> bool:
        """Whether `state` was reached before (all below it was then explored, or pruned by
        an incumbent no better than today's); remembered if not, up to `MEMO_LIMIT`."""
        if state in self.seen:
            return True
        if len(self.seen) < MEMO_LIMIT:
            self.seen.add(state)
        return False

    def _leaf(self, makespan: float) -> None:
        if makespan < self.incumbent:
            self.incumbent = makespan
            self.found = list(self.sequence)
            if makespan <= self.target:
                raise _Stop

    def _per_slot(self, work: float) -> float:
        share = work / self.workers
        return math.ceil(share) if self.whole else share


@dataclass(slots=True)
class _Instant:
    """An instant where the list scheduler chooses which ready tasks fill the free slots."""

    now: float
    running: Running
    ready: list[int]
    """By preferred position."""
    started: int
    """The tasks started so far, as a bit mask."""
    work: float
    """The work of the tasks not started yet."""
    released: list[int]
    """Successors whose count of unfinished dependencies reaching this node lowered."""
    placed: int
    """How many tasks the choice leading here appended to the sequence."""


class _DecisionTree(_Tree[_Instant, tuple[int, ...]]):
    """Depth-first branch and bound over the choices of plain list scheduling.

    A node is an instant where the scheduler chooses which ready tasks fill the free slots;
    its children are the possible choices, the preferred order's first. A child is pruned
    when it cannot beat the incumbent: a task started at `now` ends the schedule no earlier
    than `now` + its upward rank, a task left waiting starts no earlier than the next
    completion, and the work still to do needs `now + work / workers`. States already
    explored (same instant, same tasks started, same running tasks) are skipped.
    """

    def __init__(self, graph: TaskGraph, durations: Sequence[float], workers: int,
                 prefer: Sequence[int], incumbent: float, target: float,
                 deadline: float) -> None:
        super().__init__(graph, durations, workers, prefer, incumbent, target, deadline)
        self.waiting = [len(p) for p in graph.preds]

    def _root(self) -> _Instant:
        ready = [v for v, w in enumerate(self.waiting) if not w]
        return self._instant(0.0, (), ready, 0, float(sum(self.durations)), [], 0)

    def _instant(self, now: float, running: Running, ready: list[int], started: int,
                 work: float, released: list[int], placed: int) -> _Instant:
        ready = sorted(ready, key=self.prefer.__getitem__)
        return _Instant(now, running, ready, started, work, released, placed)

    def _choices(self, node: _Instant) -> Iterator[tuple[int, ...]]:
        """Which ready tasks fill the free slots: any of them, as many as fit.

        Only the choices `_choose` would not prune at once, in the same order (most are
        pruned when the incumbent is close to the bound): a task that would end the schedule
        too late even from the soonest next completion (`forced`) must start now, and a
        task that would even from now leaves no choice at all."""
        ready, rank, incumbent = node.ready, self.rank, self.incumbent
        take = min(self.workers - len(node.running), len(ready))
        if take == len(ready):
            return combinations(ready, take)
        soonest = node.now + min(self.durations[v] for v in ready)
        if node.running:
            soonest = min(soonest, node.running[0][0])
        forced = [v for v in ready if soonest + rank[v] >= incumbent]
        if not forced:
            return combinations(ready, take)
        if len(forced) > take or node.now + max(rank[v] for v in forced) >= incumbent:
            return iter(())
        optional = [v for v in ready if soonest + rank[v] < incumbent]
        prefer = self.prefer.__getitem__
        return (tuple(sorted(forced + list(rest), key=prefer))
                for rest in combinations(optional, take - len(forced)))

    def _choose(self, node: _Instant, chosen: tuple[int, ...]) -> _Instant | None:
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
                 work: float, placed: int) -> _Instant | None:
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
        node = self._instant(now, tuple(running[ended:]), ready + newly, started, work,
                             released, placed)
        if self._explored((now, started, node.running)):
            self._leave(node)
            return None
        return node

    def _leave(self, node: _Instant) -> None:
        """Undo what reaching `node` did to the dependency counts and the sequence."""
        for s in node.released:
            self.waiting[s] += 1
        del self.sequence[len(self.sequence) - node.placed:]


@dataclass(slots=True)
class _Prefix:
    """A strict sequence so far: its last task, started at `now`."""

    now: float
    running: Running
    """The tasks placed that end after `now`."""
    eligible: list[int]
    """The tasks not placed whose dependencies all are, by preferred position."""
    placed: int
    """The tasks placed so far, as a bit mask."""
    work: float
    """The work of the tasks not placed yet."""
    last: int
    """The task placed last (-1 at the root)."""
    newly: list[int]
    """The tasks that placing `last` made eligible."""


class _SequenceTree(_Tree[_Prefix, tuple[int, float]]):
    """Depth-first branch and bound over strict start sequences (the serial scheme).

    A node is a prefix of the sequence; a child appends a task whose dependencies are all in
    it, started as `Scheduler` would in strict mode: no earlier than the task before it, once
    its dependencies have ended and a slot is free. Any schedule is reproduced or beaten by
    its own start order (`makespan.scheduler`), so when this tree is exhausted no schedule at
    all beats the incumbent. Pruned: a child whose start plus the upward rank of any task not
    placed (none starts earlier) or whose work left per slot reaches the incumbent; and two
    tasks starting at the same instant, the second eligible before the first was placed, in
    decreasing id order: the other order starts both no later, and starting tasks no later
    never delays the rest. States already explored are skipped.
    """

    def __init__(self, graph: TaskGraph, durations: Sequence[float], workers: int,
                 prefer: Sequence[int], incumbent: float, target: float,
                 deadline: float) -> None:
        super().__init__(graph, durations, workers, prefer, incumbent, target, deadline)
        self.missing = [len(p) for p in graph.preds]
        """Per task, its dependencies not placed yet."""
        self.end = [0.0] * len(durations)

    def _root(self) -> _Prefix:
        eligible = sorted((v for v, m in enumerate(self.missing) if not m),
                          key=self.prefer.__getitem__)
        return _Prefix(0.0, (), eligible, 0, float(sum(self.durations)), -1, [])

    def _choices(self, node: _Prefix) -> Iterator[tuple[int, float]]:
        """The eligible tasks worth appending, each with its start, by preferred position.

        The starts are computed once per node, not once per child (a node has as many
        children as eligible tasks, and each pruning test looks at all of them)."""
        durations, rank, eligible = self.durations, self.rank, node.eligible
        slot = node.running[0][0] if len(node.running) == self.workers else node.now
        floor = max(node.now, slot)
        get = self.end.__getitem__
        starts = [max(floor, max(map(get, self.preds[u]), default=0.0)) for u in eligible]
        # Where another task fits in the gap before v, placing it first is no worse: one
        # with a duration that ends by v's start, or one of none that starts before it.
        fits = min((at + durations[u] for u, at in zip(eligible, starts, strict=True)
                    if durations[u]), default=math.inf)
        idle = min((at for u, at in zip(eligible, starts, strict=True) if not durations[u]),
                   default=math.inf)
        top = max(rank[u] for u in eligible)
        for v, now in zip(eligible, starts, strict=True):
            if now >= fits or now > idle or now + top >= self.incumbent:
                continue
            if now == node.now and v < node.last and v not in node.newly:
                continue
            yield v, now

    def _choose(self, node: _Prefix, chosen: tuple[int, float]) -> _Prefix | None:
        """Append a task at its start to the prefix at `node`: the longer prefix, or None
        if pruned."""
        end, durations = self.end, self.durations
        v, now = chosen
        end[v] = now + durations[v]
        running = tuple(sorted([x for x in node.running if x[0] > now] + [(end[v], v)]))
        work = node.work - durations[v]
        if now + self._per_slot(sum(e - now for e, _ in running) + work) >= self.incumbent:
            return None
        self.sequence.append(v)
        if len(self.sequence) == len(self.durations):
            self._leaf(running[-1][0])
            self.sequence.pop()
            return None
        newly = []
        for s in self.succs[v]:
            self.missing[s] -= 1
            if not self.missing[s]:
                newly.append(s)
        eligible = sorted([u for u in node.eligible if u != v] + newly,
                          key=self.prefer.__getitem__)
        child = _Prefix(now, running, eligible, node.placed | 1 << v, work, v, newly)
        if self._explored((now, child.placed, running, v)):
            self._leave(child)
            return None
        return child

    def _leave(self, node: _Prefix) -> None:
        """Undo what placing `node.last` did to the dependency counts and the sequence."""
        if node.last < 0:
            return  # the root
        for s in self.succs[node.last]:
            self.missing[s] += 1
        self.sequence.pop()
