"""The order search: judged by `simulate`, by exhaustive search on tiny graphs, and by its budget.

The brute forces here are deliberately naive and independent of `makespan.optimize`:
`best_list_schedule` tries every choice a list scheduler can make, `optimum` places tasks in
every topological order at their earliest feasible time (idle time allowed), which reaches an
optimal schedule (the serial schedule generation scheme generates every active schedule).
The planner reaches the optimum too, with a strict start sequence where no priority order
does.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from itertools import combinations
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from makespan.model import Task, TaskGraph
from makespan.optimize import (
    _Candidate,
    _DecisionTree,
    _ListModel,
    _result,
    _SequenceTree,
    improve,
    plain_slots,
    shape_bound,
)
from makespan.plan import order_for_run
from makespan.priority import critical_path_first
from makespan.resources import Resources
from makespan.simulate import simulate

LOTS = 1 << 40


def slots(p: int) -> Resources:
    return Resources(cpu=p, io=p, memory=LOTS)


def build(spec: Sequence[tuple[str, float, tuple[str, ...]]]) -> TaskGraph:
    return TaskGraph.build(Task(n, run="true", estimate=d, deps=deps) for n, d, deps in spec)


@st.composite
def plain_graphs(draw: st.DrawFn, max_tasks: int = 8, max_duration: int = 4) -> TaskGraph:
    """Random DAGs of single-slot CPU tasks with whole durations (zero included)."""
    n = draw(st.integers(1, max_tasks))
    spec = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        duration = float(draw(st.integers(0, max_duration)))
        spec.append((f"t{i}", duration, tuple(f"t{d}" for d in deps)))
    return build(spec)


@st.composite
def any_graphs(draw: st.DrawFn) -> tuple[TaskGraph, Resources]:
    """Random DAGs with both pools, multi-slot tasks, memory estimates and locks."""
    res = Resources(cpu=draw(st.integers(1, 3)), io=draw(st.integers(1, 3)),
                    memory=draw(st.integers(1, 6)))
    tasks = []
    for i in range(draw(st.integers(1, 10))):
        deps = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        kind = draw(st.sampled_from(("cpu", "io")))
        tasks.append(Task(
            f"t{i}", run="true", deps=tuple(f"t{d}" for d in deps), kind=kind,
            slots=draw(st.integers(1, res.slots(kind))),
            memory=draw(st.none() | st.integers(0, res.memory)),
            estimate=draw(st.sampled_from((0.0, 0.5, 1.0, 2.0, 3.0))),
            locks=tuple(draw(st.lists(st.sampled_from(("db", "gpu")), unique=True))),
        ))
    return TaskGraph.build(tasks), res


# ---------------------------------------------------------------------------- brute force


def best_list_schedule(graph: TaskGraph, durations: Sequence[float], workers: int) -> float:
    """The shortest schedule any priority order gives: every choice of which ready tasks fill
    the free slots, at every completion (all completions of an instant first)."""
    n = len(graph)

    def go(now: float, running: list[tuple[float, int]], ready: list[int], done: set[int],
           started: int) -> float:
        best = float("inf")
        take = min(workers - len(running), len(ready))
        for chosen in combinations(ready, take):
            after = sorted(running + [(now + durations[v], v) for v in chosen])
            if started + take == n:
                best = min(best, after[-1][0])
                continue
            at = after[0][0]
            finished = {v for end, v in after if end == at}
            now_done = done | finished
            waiting = [v for v in ready if v not in chosen]
            new = [s for v in finished for s in graph.succs[v]
                   if all(p in now_done for p in graph.preds[s])]
            best = min(best, go(at, [x for x in after if x[0] != at],
                                sorted(set(waiting + new)), now_done, started + take))
        return best

    return go(0.0, [], [v for v in range(n) if not graph.preds[v]], set(), 0)


def optimum(graph: TaskGraph, durations: Sequence[float], workers: int) -> float:
    """The optimal makespan, idle time allowed: each topological order, each task placed at
    the earliest time after its dependencies when fewer than `workers` tasks run all along."""
    n = len(graph)
    best = float("inf")

    def earliest(ready: float, d: float, placed: list[tuple[float, float]]) -> float:
        if d == 0:
            return ready
        for t in sorted({ready, *(e for _, e in placed if e > ready)}):
            points = [t, *(s for s, _ in placed if t < s < t + d)]
            if all(sum(s <= x < e for s, e in placed) < workers for x in points):
                return t
        raise AssertionError("a time after every placed task always fits")

    def go(end: dict[int, float], placed: list[tuple[float, float]]) -> None:
        nonlocal best
        if len(end) == n:
            best = min(best, max(end.values(), default=0.0))
            return
        for v in range(n):
            if v not in end and all(p in end for p in graph.preds[v]):
                start = earliest(max((end[p] for p in graph.preds[v]), default=0.0),
                                 durations[v], placed)
                if start + durations[v] < best:
                    go({**end, v: start + durations[v]},
                       [*placed, (start, start + durations[v])])

    go({}, [])
    return best


def test_the_brute_forces_on_a_graph_where_no_list_schedule_is_optimal() -> None:
    """On 2 workers a list scheduler starts a and b at 0 (it never leaves a slot idle while a
    task is ready), so c and d share one worker and e ends at 5. Holding b back for 1 lets c
    and d run side by side, and e ends at 4 with b beside it.

        a(1) ──> c(1) ──> e(2)          list schedule   optimum
             └─> d(1) ──┘               w1  a c d e e   a c e e
        b(2)                            w2  b b         . d b b
    """
    graph = build([("a", 1.0, ()), ("b", 2.0, ()), ("c", 1.0, ("a",)), ("d", 1.0, ("a",)),
                   ("e", 2.0, ("c", "d"))])
    durations = graph.estimates()
    assert best_list_schedule(graph, durations, 2) == 5.0
    assert optimum(graph, durations, 2) == 4.0
    assert optimum(graph, durations, 1) == best_list_schedule(graph, durations, 1) == 7.0


def test_a_strict_sequence_reaches_the_optimum_that_needs_idle_time() -> None:
    """The graph above: the planner's strict sequence holds b back, and the run it predicts
    (`simulate` in strict mode, the policy the engine will use) ends at the optimum, 4."""
    graph = build([("a", 1.0, ()), ("b", 2.0, ()), ("c", 1.0, ("a",)), ("d", 1.0, ("a",)),
                   ("e", 2.0, ("c", "d"))])
    durations = graph.estimates()
    found = improve(graph, slots(2), durations, budget=5.0)
    assert (found.baseline, found.makespan, found.strict) == (5.0, 4.0, True)
    schedule = simulate(graph, slots(2), durations, found.position, strict=True)
    assert schedule.makespan == 4.0
    assert schedule.start[graph.index["b"]] == 2.0  # after c and d, side by side
    ordering = order_for_run(graph, slots(2), durations, optimize=5.0)
    assert (ordering.position, ordering.makespan, ordering.strict) == (found.position, 4.0, True)


def test_a_strict_sequence_shorter_only_by_rounding_is_not_kept() -> None:
    """The same durations added in another order can end a last bit earlier (0.3 + 0.2 + 0.1
    < 0.1 + 0.2 + 0.3): no reason to trade the priority order for a strict sequence."""
    graph = build([("a", 0.1, ()), ("b", 0.2, ()), ("c", 0.3, ())])
    listed = _Candidate(0.1 + 0.2 + 0.3, [0, 1, 2], [0.0, 0.1, 0.1 + 0.2])
    sequenced = _Candidate(0.3 + 0.2 + 0.1, [2, 1, 0], [0.3 + 0.2, 0.3, 0.0])
    assert sequenced.makespan < listed.makespan
    found = _result(graph, slots(1), graph.estimates(), listed,
                    SimpleNamespace(best=listed, target=0.0),
                    SimpleNamespace(best=sequenced, evaluations=2))
    assert (found.position, found.strict) == ((0, 1, 2), False)


# ------------------------------------------------------------------------ the fast path


@given(plain_graphs(max_tasks=12), st.integers(1, 4), st.randoms(use_true_random=False))
def test_the_list_model_is_what_simulate_does(graph: TaskGraph, workers: int,
                                              rng: random.Random) -> None:
    """Same start times as the real scheduler for any order, zero durations and ties
    included, as a priority and (made a sequence with dependencies first) strictly."""
    durations = graph.estimates()
    order = list(range(len(graph)))
    rng.shuffle(order)
    model = _ListModel(graph.preds, graph.succs, durations, workers)
    schedule = simulate(graph, slots(workers), durations, order)
    assert model.run(order) == (schedule.makespan, list(schedule.start))
    sequence = model.in_sequence([float(p) for p in order])
    assert all(sequence[u] < sequence[v] for v in range(len(graph)) for u in graph.preds[v])
    schedule = simulate(graph, slots(workers), durations, sequence, strict=True)
    assert model.run_strict(sequence) == (schedule.makespan, list(schedule.start))


def test_plain_slots_only_when_nothing_but_slots_can_hold_a_task_back() -> None:
    def graph(**fields: object) -> TaskGraph:
        return TaskGraph.build([Task("a", run="true"), Task("b", run="true", **fields)])

    budget = Resources(cpu=3, io=5, memory=10)
    assert plain_slots(graph(), budget) == 3
    assert plain_slots(graph(kind="io"), budget) == 0  # two pools
    assert plain_slots(TaskGraph.build([Task("a", run="true", kind="io")]), budget) == 5
    assert plain_slots(graph(slots=2), budget) == 0
    assert plain_slots(graph(locks=("db",)), budget) == 0
    assert plain_slots(graph(memory=10), budget) == 3  # all memory fits at once
    assert plain_slots(graph(memory=11), budget) == 0


# ------------------------------------------------------------------------- the search


def test_the_docstring_example() -> None:
    """Critical path first runs b and d before a, so a -> c ends the schedule alone.

        a(1) ──> c(1)        b(3)        d(3)
    """
    graph = build([("a", 1.0, ()), ("b", 3.0, ()), ("c", 1.0, ("a",)), ("d", 3.0, ())])
    found = improve(graph, slots(2), graph.estimates(), budget=5.0)
    assert (found.baseline, found.makespan, found.lower_bound) == (5.0, 4.0, 4.0)
    assert found.position[graph.index["a"]] < found.position[graph.index["d"]]


@settings(deadline=None, max_examples=60)
@given(any_graphs())
def test_the_order_found_reproduces_its_makespan_and_never_loses(
        case: tuple[TaskGraph, Resources]) -> None:
    """Memory, locks, both pools and multi-slot tasks: the search scores with `simulate`."""
    graph, res = case
    durations = graph.estimates()
    found = improve(graph, res, durations, budget=0.02)
    assert sorted(found.position) == list(range(len(graph)))
    assert found.makespan == simulate(graph, res, durations, found.position,
                                      strict=found.strict).makespan
    baseline = simulate(graph, res, durations, critical_path_first(graph, durations)).makespan
    assert found.baseline == baseline
    assert found.makespan <= baseline


@settings(deadline=None, max_examples=150)
@given(plain_graphs(), st.integers(1, 3))
def test_tiny_graphs_get_the_optimum(graph: TaskGraph, workers: int) -> None:
    """The search is exhaustive on tiny graphs: it finds the optimum, idle time allowed, and
    proves it (or reaches its bound); a strict sequence only where no priority order gets
    there. So it is within Graham's bound (2 - 1/P) of the optimum, and the run it predicts
    is the one its policy gives."""
    durations = graph.estimates()
    found = improve(graph, slots(workers), durations, budget=10.0)
    best = optimum(graph, durations, workers)
    assert found.makespan == best
    assert found.proven or found.makespan == found.lower_bound
    assert found.strict == (best < best_list_schedule(graph, durations, workers))
    assert found.makespan == simulate(graph, slots(workers), durations, found.position,
                                      strict=found.strict).makespan
    assert best <= found.makespan <= (2 - 1 / workers) * best
    assert found.lower_bound <= best


@settings(deadline=None, max_examples=150)
@given(plain_graphs(), st.integers(1, 3))
def test_the_trees_exhausted_find_the_best_schedules(graph: TaskGraph, workers: int) -> None:
    """From an incumbent every schedule beats, with no target and no deadline, the decision
    tree finds the best list schedule and the sequence tree the optimum: what they skip
    without trying (choices that cannot beat the incumbent, gaps another task fits in) never
    holds a better schedule."""
    durations = graph.estimates()
    prefer = critical_path_first(graph, durations)
    above = sum(durations) + 1
    decisions = _DecisionTree(graph, durations, workers, prefer, above, -1.0, float("inf"))
    assert decisions.search()
    assert decisions.incumbent == best_list_schedule(graph, durations, workers)
    sequences = _SequenceTree(graph, durations, workers, prefer, above, -1.0, float("inf"))
    assert sequences.search()
    assert sequences.incumbent == optimum(graph, durations, workers)


@settings(deadline=None)
@given(plain_graphs(max_tasks=7), st.integers(1, 4))
def test_the_shape_bound_is_a_lower_bound(graph: TaskGraph, workers: int) -> None:
    durations = graph.estimates()
    assert shape_bound(graph, durations, workers) <= optimum(graph, durations, workers)


def test_a_long_first_task_raises_the_bound() -> None:
    """Nothing can start before `setup` ends, so the 8 tasks after it need 4 + 8 / 2.

        setup(4) ──> t0(1), t1(1), ..., t7(1)
    """
    spec = [("setup", 4.0, ())] + [(f"t{i}", 1.0, ("setup",)) for i in range(8)]
    graph = build(spec)
    assert shape_bound(graph, graph.estimates(), 2) == 8.0  # max(span 5, work 12 / 2) is 6


def test_a_join_between_two_fans_splits_the_graph_into_segments() -> None:
    """Every task comes before or after c, so the two fans run one after the other, each
    taking 6 / 3 = 2 on 3 workers: 1 + 2 + 1 + 2 = 6, where the span is 4 and the work per
    worker 14 / 3, rounded up 5. Critical path first reaches 6, and the search stops there.

        a(1) ──> b0..b5 (1 each) ──> c(1) ──> d0..d5 (1 each)
    """
    spec = [("a", 1.0, ()), ("c", 1.0, tuple(f"b{i}" for i in range(6)))]
    spec += [(f"b{i}", 1.0, ("a",)) for i in range(6)]
    spec += [(f"d{i}", 1.0, ("c",)) for i in range(6)]
    graph = build(spec)
    assert shape_bound(graph, graph.estimates(), 3) == 6.0
    found = improve(graph, slots(3), graph.estimates(), budget=5.0)
    assert (found.makespan, found.lower_bound, found.evaluations) == (6.0, 6.0, 1)


def test_segments_take_their_own_bounds_heads_and_tails_counted_inside() -> None:
    """Two of the three x share a worker (pigeonhole), between s and the chain c -> y. Counted
    in the whole graph, that gives 4 + 2 + 2 (the x's tail) or 1 + 2 + 2 (their head); in
    the segment between the cuts s and c it is 2 + 2, plus s, c and y: 9, the optimum.

        s(1) ──> x0(2), x1(2), x2(2) ──> c(1) ──> y(3)
    """
    graph = build([("s", 1.0, ()), ("x0", 2.0, ("s",)), ("x1", 2.0, ("s",)),
                   ("x2", 2.0, ("s",)), ("c", 1.0, ("x0", "x1", "x2")), ("y", 3.0, ("c",))])
    assert shape_bound(graph, graph.estimates(), 2) == 9.0 == optimum(graph, graph.estimates(), 2)


def test_two_of_any_p_plus_one_tasks_share_a_worker() -> None:
    """Three tasks of 2 before y on 2 workers: two of them run in turn, then y: 2 + 2 + 1
    (span 3, work 7 / 2 rounded up 4).

        x0(2), x1(2), x2(2) ──> y(1)
    """
    graph = build([("x0", 2.0, ()), ("x1", 2.0, ()), ("x2", 2.0, ()),
                   ("y", 1.0, ("x0", "x1", "x2"))])
    assert shape_bound(graph, graph.estimates(), 2) == 5.0 == optimum(graph, graph.estimates(), 2)


def test_the_search_is_deterministic_and_stops_when_it_proves_its_order() -> None:
    """No schedule reaches the bound here; the search ends when it has proven its order
    optimal, long before its budget, so the result cannot depend on the clock."""
    graph = _random_graph(12, seed=39)
    first = improve(graph, slots(3), graph.estimates(), budget=30.0)
    second = improve(graph, slots(3), graph.estimates(), budget=30.0)
    assert first == second
    assert first.proven
    assert first.baseline > first.makespan > first.lower_bound


_SEARCH_SCRIPT = """
import json, random, sys
sys.path.insert(0, sys.argv[1])
from test_optimize import _random_graph, slots
from makespan.optimize import improve
graph = _random_graph(12, seed=39)
found = improve(graph, slots(3), graph.estimates(), budget=30.0)
print(json.dumps([found.position, found.makespan]))
"""


def test_the_order_is_the_same_under_any_hash_seed() -> None:
    outputs = set()
    for seed in ("0", "1", "4294967295"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _SEARCH_SCRIPT, os.path.dirname(__file__)],
            env=env, capture_output=True, text=True, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1
    position, _ = json.loads(outputs.pop())
    assert sorted(position) == list(range(12))


def test_the_budget_bounds_the_search() -> None:
    """301 tasks of 2 s on 2 workers: one always runs alone at the end, so no schedule
    reaches the bound (work / 2), nor can the search prove that, and it goes on until its
    budget is spent. It returns soon after (a loose check: tests do not time things
    closely)."""
    graph = build([(f"t{i}", 2.0, ()) for i in range(301)])
    budget = 0.1
    began = time.perf_counter()
    found = improve(graph, slots(2), graph.estimates(), budget)
    assert time.perf_counter() - began < 5 * budget
    assert (found.makespan, found.lower_bound) == (302.0, 301.0)
    assert not found.proven


def test_no_budget_means_plain_critical_path_first() -> None:
    graph = _random_graph(40, seed=2)
    found = improve(graph, slots(3), graph.estimates(), budget=0.0)
    assert list(found.position) == critical_path_first(graph, graph.estimates())
    assert found.makespan == found.baseline


def _random_graph(n: int, seed: int) -> TaskGraph:
    """A random DAG (each task depends on up to 3 earlier ones), durations 1 to 9 s."""
    rng = random.Random(seed)
    spec = []
    for i in range(n):
        picks = {rng.randrange(i) for _ in range(rng.randint(0, 3))} if i else set()
        deps = tuple(f"t{d}" for d in sorted(picks))
        spec.append((f"t{i}", float(rng.randint(1, 9)), deps))
    return build(spec)
