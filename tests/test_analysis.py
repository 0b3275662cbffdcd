"""Stages, critical path, work, span and bounds (`makespan.analysis`)."""

import pytest

from makespan.analysis import analyze
from makespan.model import Task, TaskGraph


def graph_of(*specs):
    """`("b", 2.0, "a")` is task b, estimate 2 s, depending on a; None leaves it unestimated."""
    return TaskGraph.build(
        Task(name, run="x", estimate=estimate, deps=deps) for name, estimate, *deps in specs
    )


def analysis_of(*specs, default=1.0):
    graph = graph_of(*specs)
    return graph, analyze(graph, graph.estimates(default))


def named(graph, ids):
    return graph.names(ids)


DIAMOND = (
    #      a(1)
    #     /    \
    #   b(2)   c(5)
    #     \    /
    #      d(1)
    ("a", 1.0),
    ("b", 2.0, "a"),
    ("c", 5.0, "a"),
    ("d", 1.0, "b", "c"),
)


def test_work_is_the_sum_and_span_the_longest_chain():
    _, result = analysis_of(*DIAMOND)
    assert result.work == 1 + 2 + 5 + 1
    assert result.span == 1 + 5 + 1
    assert result.max_speedup == pytest.approx(9 / 7)


def test_the_critical_path_follows_the_longest_chain():
    graph, result = analysis_of(*DIAMOND)
    assert named(graph, result.critical_path) == ["a", "c", "d"]


def test_stages_group_tasks_by_longest_chain_level():
    graph, result = analysis_of(*DIAMOND)
    assert [named(graph, s) for s in result.stages] == [["a"], ["b", "c"], ["d"]]
    assert [len(s) for s in result.stages] == [1, 2, 1]


def test_a_stage_is_the_longest_chain_before_a_task_not_the_shortest():
    # a -> b -> c and a shortcut a -> c: c still waits for b
    _, result = analysis_of(("a", 1.0), ("b", 1.0, "a"), ("c", 1.0, "a", "b"))
    assert result.stage_of == (0, 1, 2)


def test_tasks_within_a_stage_are_in_id_order():
    _, result = analysis_of(("z", 1.0), ("y", 1.0), ("x", 1.0))
    assert result.stages == ((0, 1, 2),)


def test_a_chain_has_no_parallelism():
    _, result = analysis_of(("a", 2.0), ("b", 3.0, "a"), ("c", 4.0, "b"))
    assert result.work == result.span == 9
    assert result.max_speedup == 1
    assert len(result.stages) == 3


def test_independent_tasks_have_the_longest_one_as_span():
    graph, result = analysis_of(("a", 2.0), ("b", 6.0), ("c", 4.0))
    assert (result.work, result.span) == (12, 6)
    assert named(graph, result.critical_path) == ["b"]
    assert result.max_speedup == 2


def test_earliest_finish_is_the_longest_chain_ending_in_each_task():
    _, result = analysis_of(*DIAMOND)
    assert result.earliest_finish == (1, 1 + 2, 1 + 5, 1 + 5 + 1)


@pytest.mark.parametrize("order", [("b", "c"), ("c", "b")])
def test_equal_chains_tie_break_on_the_lowest_ids(order):
    #    a
    #   / \      b and c are equally long: the path goes through b, the lower id,
    #  b   c     however d lists its dependencies
    #   \ /
    #    d
    graph, result = analysis_of(("a", 1.0), ("b", 2.0, "a"), ("c", 2.0, "a"), ("d", 1.0, *order))
    assert named(graph, result.critical_path) == ["a", "b", "d"]


def test_equal_independent_chains_tie_break_on_the_lowest_ids():
    graph, result = analysis_of(("x", 3.0), ("y", 3.0), ("z", 3.0))
    assert named(graph, result.critical_path) == ["x"]


def test_unestimated_tasks_use_the_default_estimate():
    _, default = analysis_of(("a", None), ("b", 2.0, "a"))
    _, custom = analysis_of(("a", None), ("b", 2.0, "a"), default=5.0)
    assert (default.work, default.span) == (1 + 2, 1 + 2)
    assert (custom.work, custom.span) == (5 + 2, 5 + 2)


FOUR_EQUAL = (("a", 3.0), ("b", 3.0), ("c", 3.0), ("d", 3.0))  # work 12, span 3


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8])
def test_lower_bound_is_max_of_span_and_work_per_worker(workers):
    _, result = analysis_of(*FOUR_EQUAL)
    assert result.lower_bound(workers) == max(3, 12 / workers)


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8])
def test_upper_bound_is_brents_work_per_worker_plus_span(workers):
    _, result = analysis_of(*FOUR_EQUAL)
    assert result.upper_bound(workers) == pytest.approx(12 / workers + 3)


def test_the_bounds_bracket_each_other():
    _, result = analysis_of(*DIAMOND)
    for workers in range(1, 6):
        assert result.lower_bound(workers) <= result.upper_bound(workers)


def test_work_holding_one_lock_cannot_be_shared_out():
    graph = TaskGraph.build(
        [Task("a", run="x", estimate=5.0, locks=("db",)),
         Task("b", run="x", estimate=5.0, locks=("db",)),
         Task("c", run="x", estimate=1.0)]
    )
    result = analyze(graph, graph.estimates())
    assert result.lock_work == 10
    assert result.lower_bound(4) == 10


def test_io_work_is_counted_against_the_io_pool():
    graph = TaskGraph.build(
        [Task("cpu", run="x", estimate=4.0),
         Task("net1", run="x", estimate=6.0, kind="io"),
         Task("net2", run="x", estimate=6.0, kind="io")]
    )
    result = analyze(graph, graph.estimates())
    assert (result.cpu_work, result.io_work) == (4, 12)
    assert result.lower_bound(1, io_workers=1) == 12
    assert result.lower_bound(1, io_workers=4) == max(6, 4 / 1, 12 / 4)
    assert result.upper_bound(2, io_workers=3) == pytest.approx(4 / 2 + 12 / 3 + 6)


def test_zero_span_gives_a_max_speedup_of_one():
    _, result = analysis_of(("a", 0.0), ("b", 0.0))
    assert (result.work, result.span, result.max_speedup) == (0, 0, 1)


def test_an_empty_graph_has_no_work_and_no_path():
    graph = TaskGraph.build([])
    result = analyze(graph, [])
    assert (result.work, result.span, result.critical_path, result.stages) == (0, 0, (), ())
