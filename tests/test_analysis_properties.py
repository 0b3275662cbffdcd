"""Analysis checked against brute force on random DAGs (hypothesis).

Each random graph is small enough (up to 12 tasks) to enumerate every path explicitly, so the
critical path and the stages can be compared with the obvious, exponential definition.
"""

import re
from dataclasses import replace
from itertools import pairwise

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from makespan.analysis import analyze
from makespan.errors import InputError
from makespan.model import Task, TaskGraph

NO_DEADLINE = settings(deadline=None)  # tests never depend on wall-clock speed

ESTIMATES = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0]),  # small values: plenty of ties between chains
    st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False),
)


@st.composite
def dags(draw, max_tasks=12):
    """Random DAGs: task t_i may depend only on t_j with j < i.

    The tasks are defined in a shuffled order, so ids and topological order differ.
    """
    n = draw(st.integers(min_value=1, max_value=max_tasks))
    deps = [draw(st.lists(st.sampled_from(range(i)), unique=True)) if i else [] for i in range(n)]
    estimates = draw(st.lists(ESTIMATES, min_size=n, max_size=n))
    definition = draw(st.permutations(range(n)))
    return [
        Task(f"t{i}", run="x", deps=tuple(f"t{j}" for j in deps[i]), estimate=estimates[i])
        for i in definition
    ]


def all_paths(graph):
    """Every path v0 -> v1 -> ... (each task followed by one that depends on it)."""
    paths = []

    def extend(path):
        paths.append(path)
        for s in graph.succs[path[-1]]:
            extend([*path, s])

    for v in range(len(graph)):
        extend([v])
    return paths


def path_length(path, durations):
    return sum(durations[v] for v in path)


def is_path(graph, path):
    return all(a in graph.preds[b] for a, b in pairwise(path))


@NO_DEADLINE
@given(dags())
def test_span_is_the_longest_path_by_brute_force(tasks):
    graph = TaskGraph.build(tasks)
    durations = graph.estimates()
    result = analyze(graph, durations)
    assert result.span == max(path_length(p, durations) for p in all_paths(graph))


@NO_DEADLINE
@given(dags())
def test_the_critical_path_is_a_real_path_as_long_as_the_span(tasks):
    graph = TaskGraph.build(tasks)
    durations = graph.estimates()
    result = analyze(graph, durations)
    path = list(result.critical_path)
    assert path
    assert graph.preds[path[0]] == ()
    assert is_path(graph, path)
    assert path_length(path, durations) == result.span


@NO_DEADLINE
@given(dags())
def test_work_is_the_sum_and_max_speedup_is_work_over_span(tasks):
    graph = TaskGraph.build(tasks)
    durations = graph.estimates()
    result = analyze(graph, durations)
    assert result.work == sum(durations)
    if result.span > 0:
        assert result.max_speedup == result.work / result.span
    assert result.work >= result.span * (1 - 1e-12)  # equal sums may round apart by an ulp


@NO_DEADLINE
@given(dags())
def test_every_edge_goes_from_a_lower_stage_to_a_higher_one(tasks):
    graph = TaskGraph.build(tasks)
    stage_of = analyze(graph, graph.estimates()).stage_of
    for v, preds in enumerate(graph.preds):
        assert all(stage_of[p] < stage_of[v] for p in preds)


@NO_DEADLINE
@given(dags())
def test_stage_is_the_longest_chain_of_dependencies_by_brute_force(tasks):
    graph = TaskGraph.build(tasks)
    result = analyze(graph, graph.estimates())
    longest = [0] * len(graph)
    for path in all_paths(graph):
        longest[path[-1]] = max(longest[path[-1]], len(path) - 1)
    assert list(result.stage_of) == longest
    assert [list(s) for s in result.stages] == [
        [v for v in range(len(graph)) if longest[v] == k] for k in range(max(longest) + 1)
    ]


@NO_DEADLINE
@given(dags())
def test_the_order_is_topological_and_covers_every_task(tasks):
    graph = TaskGraph.build(tasks)
    assert sorted(graph.order) == list(range(len(graph)))
    position = {v: k for k, v in enumerate(graph.order)}
    for v, preds in enumerate(graph.preds):
        assert all(position[p] < position[v] for p in preds)


@NO_DEADLINE
@given(dags(), st.data())
def test_a_back_edge_raises_an_error_naming_a_real_cycle(tasks, data):
    graph = TaskGraph.build(tasks)
    ancestry = sorted({(p[0], p[-1]) for p in all_paths(graph) if len(p) > 1})
    assume(ancestry)
    ancestor, descendant = data.draw(st.sampled_from(ancestry))
    looped = list(tasks)  # the ancestor now also depends on its own descendant
    looped[ancestor] = replace(tasks[ancestor], deps=(*tasks[ancestor].deps,
                                                     tasks[descendant].name))

    with pytest.raises(InputError) as caught:
        TaskGraph.build(looped)

    match = re.search(r"dependency cycle: (.+?) \(each task depends on the next\)",
                      caught.value.message)
    assert match, caught.value.message
    names = match.group(1).split(" -> ")
    assert (caught.value.task, caught.value.field) == (names[0], "deps")
    assert len(names) >= 3
    assert names[0] == names[-1]
    assert len(set(names[:-1])) == len(names) - 1
    deps = {t.name: t.deps for t in looped}
    for task, needed in pairwise(names):
        assert needed in deps[task], f"{task} does not depend on {needed}"
