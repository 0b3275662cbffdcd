"""The task graph model: frozen, validated once, indexed (`makespan.model`)."""

import dataclasses
import math
import re

import pytest

from makespan.errors import InputError
from makespan.model import Task, TaskGraph


def t(name, *deps, **fields):
    return Task(name=name, run=f"echo {name}", deps=deps, **fields)


def build(*tasks):
    return TaskGraph.build(tasks)


def cycle_in(error):
    """The task names of the cycle printed in an InputError: 'a -> b -> a' -> [a, b, a]."""
    match = re.search(r"dependency cycle: (.+?) \(each task depends on the next\)", str(error))
    assert match, str(error)
    return match.group(1).split(" -> ")


# ---------------------------------------------------------------- frozen and indexed


def test_a_task_is_frozen():
    task = t("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.name = "b"


def test_a_graph_is_frozen():
    graph = build(t("a"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.tasks = ()


def test_ids_follow_definition_order():
    graph = build(t("zeta"), t("alpha", "zeta"), t("mid"))
    assert [graph.index[name] for name in ("zeta", "alpha", "mid")] == [0, 1, 2]
    assert graph.names(range(3)) == ["zeta", "alpha", "mid"]


def test_preds_and_succs_mirror_each_other():
    #   a   b
    #   | \ |
    #   c   d
    graph = build(t("a"), t("b"), t("c", "a"), t("d", "a", "b"))
    edges_from_preds = {(p, i) for i, ps in enumerate(graph.preds) for p in ps}
    edges_from_succs = {(i, s) for i, ss in enumerate(graph.succs) for s in ss}
    assert edges_from_preds == edges_from_succs == {(0, 2), (0, 3), (1, 3)}
    assert graph.edge_count == 3


def test_repeated_dependencies_count_once():
    graph = build(t("a"), t("b", "a", "a"))
    assert graph.preds[1] == (0,)
    assert graph.edge_count == 1


def test_order_puts_every_task_after_its_dependencies():
    graph = build(t("d", "c", "b"), t("b", "a"), t("c", "a"), t("a"))
    assert sorted(graph.order) == list(range(4))
    position = {v: k for k, v in enumerate(graph.order)}
    for v, preds in enumerate(graph.preds):
        assert all(position[p] < position[v] for p in preds)


def test_independent_tasks_are_ordered_by_id():
    graph = build(t("c"), t("a"), t("b"))
    assert graph.order == (0, 1, 2)


def test_a_dependency_on_a_group_means_every_member():
    tasks = [Task(f"build[{m}]", run="make", group="build") for m in ("x", "y", "z")]
    graph = build(*tasks, t("test", "build"))
    assert graph.groups == {"build": (0, 1, 2)}
    assert graph.preds[3] == (0, 1, 2)


def test_unestimated_tasks_take_the_default_estimate():
    graph = build(t("a", estimate=3.0), t("b"))
    assert graph.estimates() == [3.0, 1.0]
    assert graph.estimates(default=7.5) == [3.0, 7.5]


def test_ancestors_are_the_tasks_and_all_they_need():
    graph = build(t("a"), t("b", "a"), t("c", "b"), t("other"))
    assert graph.ancestors([2]) == [0, 1, 2]
    assert graph.ancestors([3]) == [3]


def test_subgraph_keeps_only_the_given_tasks_and_their_edges():
    tasks = [Task(f"g[{m}]", run="make", group="g") for m in ("x", "y")]
    graph = build(t("a"), *tasks, t("b", "a", "g"), t("c", "b"))
    sub = graph.subgraph(graph.ancestors([graph.index["b"]]))
    assert sub.names(range(len(sub))) == ["a", "g[x]", "g[y]", "b"]
    assert sub.preds[sub.index["b"]] == (0, 1, 2)


# ---------------------------------------------------------------- validation


def test_unknown_dependency_is_named_with_a_suggestion():
    with pytest.raises(InputError) as caught:
        build(t("build"), t("test", "biuld"))
    error = caught.value
    assert (error.task, error.field) == ("test", "deps")
    assert "unknown task 'biuld'" in error.message
    assert "did you mean 'build'?" in error.message


def test_unknown_dependency_without_a_close_name_has_no_suggestion():
    with pytest.raises(InputError) as caught:
        build(t("build"), t("test", "zzzz"))
    assert "did you mean" not in caught.value.message


def test_a_task_depending_on_itself_is_rejected():
    with pytest.raises(InputError, match="cannot depend on itself") as caught:
        build(t("a", "a"))
    assert (caught.value.task, caught.value.field) == ("a", "deps")


def test_a_cycle_is_printed_in_dependency_order():
    # a needs c, c needs b, b needs a
    with pytest.raises(InputError) as caught:
        build(t("a", "c"), t("b", "a"), t("c", "b"))
    assert cycle_in(caught.value) == ["a", "c", "b", "a"]
    assert (caught.value.task, caught.value.field) == ("a", "deps")


def test_a_cycle_message_leaves_out_tasks_that_only_hang_off_the_cycle():
    # x and y are stuck behind the cycle b <-> c but are not part of it
    with pytest.raises(InputError) as caught:
        build(t("x", "b"), t("a"), t("b", "a", "c"), t("c", "b"), t("y", "x"))
    assert cycle_in(caught.value) == ["b", "c", "b"]


def test_a_duplicate_name_is_rejected():
    with pytest.raises(InputError, match="duplicate task name") as caught:
        build(t("a"), t("b"), t("a"))
    assert (caught.value.task, caught.value.field) == ("a", "name")


def test_a_group_may_not_share_a_task_name():
    with pytest.raises(InputError, match="both a task and a for_each group"):
        build(Task("x[1]", run="r", group="x"), t("x"))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"run": ""}, "run"),
        ({"run": "   "}, "run"),
        ({"run": ()}, "run"),
        ({"run": ("",)}, "run"),
        ({"run": ("ls", 3)}, "run"),
        ({"kind": "gpu"}, "kind"),
        ({"slots": 0}, "slots"),
        ({"memory": -1}, "memory"),
        ({"estimate": -0.5}, "estimate"),
        ({"estimate": math.nan}, "estimate"),
        ({"timeout": 0.0}, "timeout"),
        ({"retries": -1}, "retries"),
    ],
)
def test_an_invalid_field_is_named(fields, field):
    task = Task(**{"name": "job", "run": "echo", **fields})
    with pytest.raises(InputError) as caught:
        build(task)
    assert caught.value.field == field
    assert caught.value.task == fields.get("name", "job")


def test_an_argument_vector_is_a_valid_run():
    graph = build(Task("a", run=("python", "-c", "pass")))
    assert graph.tasks[0].run == ("python", "-c", "pass")
