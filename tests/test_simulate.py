"""The simulator: the scheduling policy on a virtual clock, judged by the schedule it returns."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from functools import cache
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from makespan import InputError, Resources, Schedule, Task, TaskGraph, simulate
from makespan.plan import make_plan
from makespan.priority import fifo, positions
from strategies import Case, cases, durations_for, single_pool_cases, topological_sequences


def assert_valid(case: Case, durations: Sequence[float], schedule: Schedule) -> None:
    """Every task once, after its dependencies, inside every budget at every instant.

    At an instant t the tasks that certainly run together are those with start <= t < end.
    A zero-duration task at t runs with those that started before t and end after it (it may
    have come and gone before or after the tasks starting at t, so it is checked against the
    others alone).
    """
    graph, res = case.graph, case.resources
    n = len(graph)
    start, end = schedule.start, schedule.end
    assert len(start) == len(end) == len(schedule.pool) == len(schedule.slot) == n
    for v, task in enumerate(graph.tasks):
        assert schedule.pool[v] == task.kind  # "" would mean never scheduled
        assert 0 <= schedule.slot[v] < res.slots(task.kind)
        assert start[v] >= 0
        assert end[v] == start[v] + durations[v]
        for u in graph.preds[v]:
            assert end[u] <= start[v], (graph.tasks[u].name, task.name)

    def assert_fits_together(group: list[int]) -> None:
        tasks = [graph.tasks[v] for v in group]
        for kind in ("cpu", "io"):
            assert sum(t.slots for t in tasks if t.kind == kind) <= res.slots(kind)
        first_slots = [(schedule.pool[v], schedule.slot[v]) for v in group]
        assert len(set(first_slots)) == len(first_slots)
        assert sum(t.memory or 0 for t in tasks) <= res.memory
        locks = [lock for t in tasks for lock in t.locks]
        assert len(set(locks)) == len(locks)

    for t in sorted(set(start)):
        across = [v for v in range(n) if start[v] < t < end[v]]
        starting = [v for v in range(n) if start[v] == t]
        assert_fits_together(across + [v for v in starting if end[v] > t])
        for z in starting:
            if end[z] == t:
                assert_fits_together([*across, z])
    assert schedule.makespan == max(end, default=0.0)


def span(graph: TaskGraph, durations: Sequence[float]) -> float:
    """The longest chain of durations, computed afresh."""

    @cache
    def finish(v: int) -> float:
        return durations[v] + max((finish(u) for u in graph.preds[v]), default=0.0)

    return max((finish(v) for v in range(len(graph))), default=0.0)


def build(*tasks: Task) -> TaskGraph:
    return TaskGraph.build(tasks)


def task(name: str, estimate: float, *deps: str, **fields: Any) -> Task:
    return Task(name, "true", deps=deps, estimate=estimate, **fields)


# ---------------------------------------------------------------------------- validity


@settings(max_examples=200, deadline=None)
@given(cases())
def test_every_simulated_schedule_is_valid(case: Case) -> None:
    assert_valid(case, case.durations, simulate(case.graph, case.resources))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_given_durations_and_any_priority_order_give_a_valid_schedule(
    data: st.DataObject,
) -> None:
    case = data.draw(cases())
    durations = data.draw(durations_for(case))
    position = data.draw(st.permutations(range(len(case.graph))))
    schedule = simulate(case.graph, case.resources, durations, position)
    assert_valid(case, durations, schedule)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_every_strict_sequence_gives_a_valid_schedule(data: st.DataObject) -> None:
    case = data.draw(cases())
    durations = data.draw(durations_for(case))
    sequence = data.draw(topological_sequences(case.graph))
    schedule = simulate(case.graph, case.resources, durations, sequence, strict=True)
    assert_valid(case, durations, schedule)
    in_turn = sorted(range(len(case.graph)), key=sequence.__getitem__)
    assert [schedule.start[v] for v in in_turn] == sorted(schedule.start)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_schedule_run_strictly_in_its_start_order_is_reproduced(data: st.DataObject) -> None:
    """One pool of identical slots: sorted by start time (among equal starts, a task of no
    duration first, since it gives its slot back at once, then in graph order, so that each
    task comes after its dependencies), a schedule is a strict sequence that starts every
    task no later: the tasks still running at a task's old start ran there too. A list
    schedule comes back exactly; a strict one may have waited for nothing (a task held back
    behind one that could not start yet), and then starts earlier."""
    case = data.draw(single_pool_cases())
    graph, durations = case.graph, case.durations
    strict = data.draw(st.booleans())
    order = topological_sequences(graph) if strict else st.permutations(range(len(graph)))
    schedule = simulate(graph, case.resources, durations, data.draw(order), strict=strict)
    tie = {v: i for i, v in enumerate(graph.order)}
    in_turn = sorted(range(len(graph)),
                     key=lambda v: (schedule.start[v], schedule.end[v], tie[v]))
    again = simulate(graph, case.resources, durations, positions(in_turn), strict=True)
    assert all(a <= s for a, s in zip(again.start, schedule.start, strict=True))
    if not strict:
        assert again.start == schedule.start


@settings(max_examples=150, deadline=None)
@given(single_pool_cases())
def test_one_pool_list_schedules_are_within_grahams_bound(case: Case) -> None:
    """No idle worker while a task is ready implies makespan <= work/P + (1 - 1/P) span."""
    durations, p = case.durations, case.resources.cpu
    makespan = simulate(case.graph, case.resources).makespan
    assert makespan <= sum(durations) / p + (1 - 1 / p) * span(case.graph, durations) + 1e-9


def test_an_empty_graph_has_an_empty_schedule() -> None:
    schedule = simulate(build(), Resources(cpu=1, io=1, memory=1))
    assert schedule == Schedule((), (), (), ())
    assert schedule.makespan == 0.0


def test_tasks_without_an_estimate_take_the_default_second() -> None:
    graph = build(Task("a", "true"), Task("b", "true", deps=("a",)))
    schedule = simulate(graph, Resources(cpu=1, io=1, memory=1))
    assert (schedule.start, schedule.end) == ((0.0, 1.0), (1.0, 2.0))


def test_critical_path_first_beats_the_declared_order() -> None:
    """
        a(1)  b(1)  c(1)  d(1)        x(2) -> y(2) -> z(2)        on 2 workers

    FIFO runs a..d first and ends at 2 + 6 = 8; critical path first starts x at once and lets
    a..d fill the other worker: 6, the span.
    """
    graph = build(task("a", 1), task("b", 1), task("c", 1), task("d", 1),
                  task("x", 2), task("y", 2, "x"), task("z", 2, "y"))
    res = Resources(cpu=2, io=1, memory=1)
    assert simulate(graph, res).makespan == 6
    assert simulate(graph, res, position=fifo(graph)).makespan == 8


def test_cpu_and_io_pools_run_side_by_side() -> None:
    """a, b (cpu, 2 each) on one CPU slot; c, d (io, 2 each) on two I/O slots."""
    graph = build(task("a", 2), task("b", 2), task("c", 2, kind="io"), task("d", 2, kind="io"))
    schedule = simulate(graph, Resources(cpu=1, io=2, memory=1))
    assert schedule.start == (0, 2, 0, 0)
    assert (schedule.pool, schedule.slot) == (("cpu", "cpu", "io", "io"), (0, 0, 0, 1))


# ---------------------------------------------------------------------------- bad input


def test_a_task_needing_more_memory_than_the_budget_is_an_input_error_not_a_hang() -> None:
    graph = build(task("fits", 1, memory=2**20), task("too-big", 1, "fits", memory=2**30))
    res = Resources(cpu=2, io=2, memory=2**29)
    with pytest.raises(InputError) as caught:
        simulate(graph, res)
    assert (caught.value.task, caught.value.field) == ("too-big", "memory")
    assert "task 'too-big': field 'memory'" in str(caught.value)


@pytest.mark.parametrize("optimize", [0.0, 0.1])
def test_planning_a_task_that_needs_more_memory_than_the_budget_fails_clearly(
    optimize: float,
) -> None:
    graph = build(task("too-big", 1, memory=2**30))
    with pytest.raises(InputError) as caught:
        make_plan(graph, Resources(cpu=2, io=2, memory=2**29), 1.0, optimize=optimize)
    assert (caught.value.task, caught.value.field) == ("too-big", "memory")


# ---------------------------------------------------------------------------- determinism

_SCHEDULE_SCRIPT = """
import json, random, sys
from makespan import Resources, Task, TaskGraph, simulate

rng = random.Random(7)
locks = [f"lock-{i}" for i in range(6)]
tasks = []
for i in range(300):
    deps = sorted({f"task-{rng.randrange(i)}" for _ in range(rng.randint(0, 3))}) if i else []
    tasks.append(Task(
        f"task-{i}", "true", deps=tuple(deps), kind=rng.choice(("cpu", "io")),
        slots=rng.choice((1, 1, 2)), memory=rng.choice((None, 1, 2, 3)),
        estimate=rng.choice((None, 0.0, 0.5, 1.0, 2.0)),
        locks=tuple(rng.sample(locks, rng.randint(0, 2))),
    ))
schedule = simulate(TaskGraph.build(tasks), Resources(cpu=3, io=4, memory=5))
json.dump([schedule.start, schedule.end, schedule.pool, schedule.slot], sys.stdout)
"""


def test_the_schedule_is_the_same_under_any_hash_seed() -> None:
    """Like graphlib's tests: run the same simulation under several PYTHONHASHSEEDs."""
    outputs = set()
    for seed in ("0", "1", "42", "4294967295"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", _SCHEDULE_SCRIPT], env=env,
                                capture_output=True, text=True, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1
    start, _, pools, _ = json.loads(outputs.pop())
    assert len(start) == 300
    assert set(pools) == {"cpu", "io"}


# ---------------------------------------------------------------------------- cost


def _random_graph(n: int, seed: int) -> TaskGraph:
    """A wide random DAG with both pools, multi-slot tasks, contended memory and a lock."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        deps = {f"t{rng.randrange(i)}" for _ in range(rng.randint(0, 3))} if i else set()
        tasks.append(Task(
            f"t{i}", "true", deps=tuple(sorted(deps)), kind=rng.choice(("cpu", "io")),
            slots=rng.choice((1, 1, 1, 2)), memory=rng.choice((None, 1, 2, 4, 8)),
            estimate=rng.choice((0.0, 0.5, 1.0, 2.0, 3.0)),
            locks=rng.choice(((), (), (), ("db",))),
        ))
    return TaskGraph.build(tasks)


def _lines_executed(run: Callable[[], object], modules: Sequence[str]) -> int:
    """How many lines of `modules` run while `run()` does: a cost that no clock affects."""
    files = {sys.modules[m].__file__ for m in modules}
    lines = 0

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal lines
        lines += event == "line"
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename in files else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        run()
    finally:
        sys.settrace(previous)
    return lines


def test_simulation_cost_grows_linearly_with_the_graph() -> None:
    """Counting executed lines (not time) of the scheduler and simulator on a graph 4x larger:
    O(V + E) steps (each heap step costing O(log V) inside heapq) give a ratio near 4; a step
    that rescans every ready task, say, would give 16. Budgets are fixed, as in the claim."""
    res = Resources(cpu=4, io=8, memory=8)
    modules = ("makespan.scheduler", "makespan.simulate")
    small, large = _random_graph(300, seed=2), _random_graph(1200, seed=2)
    ratio = (_lines_executed(lambda: simulate(large, res), modules)
             / _lines_executed(lambda: simulate(small, res), modules))
    size_ratio = (len(large) + large.edge_count) / (len(small) + small.edge_count)
    assert 3.5 < size_ratio < 4.5
    assert ratio < 2 * size_ratio
