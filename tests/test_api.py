"""The graph builder: decorators and `add`, handles, dependencies, results passed along, names,
and bad input reported as one InputError naming the task and the field (before anything runs).

Tasks here are `io` (threads) unless a test is about worker processes: the behaviour of each
executor is the contract suite's business (tests/test_executors_contract.py).
"""

from __future__ import annotations

import collections
import functools
import json
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import makespan
from makespan import Graph, Handle, InputError, MakespanError, Results, TaskFailed
from makespan.executors.processes import worker_base_rss

METRICS = {"work", "span", "speedup", "efficiency", "utilization", "critical_path"}


def double(x: int) -> int:
    return 2 * x


def total(*parts: int, start: int = 0) -> int:
    return start + sum(parts)


def shape(value: Any) -> Any:
    return value


def both(first: Any, second: Any) -> tuple[Any, Any]:
    return first, second


# ---------------------------------------------------------------------------- building


def test_decorated_functions_add_tasks_and_return_handles(tmp_path: Path) -> None:
    graph = Graph()

    @graph.task(kind="io", estimate="2s")
    def fetch(n: int) -> int:
        return n + 1

    @graph.task
    def combine(a: int, b: int) -> int:
        return a * b

    one, two = fetch(1), fetch(2)
    product = combine(one, two)
    assert isinstance(product, Handle)
    assert (one.name, two.name, product.name) == ("fetch", "fetch-2", "combine")
    assert fetch.__name__ == "fetch"  # the decorator keeps the function's identity
    tasks = {t.name: t for t in graph.build().tasks}
    assert tasks["fetch"].kind == "io" and tasks["fetch"].estimate == 2.0
    assert tasks["combine"].kind == "cpu" and tasks["combine"].deps == ("fetch", "fetch-2")
    results = graph.run(workers=2, root=tmp_path)
    assert results[product] == 6
    assert product.result() == 6


def test_handles_inside_arguments_become_dependencies_and_values(tmp_path: Path) -> None:
    graph = Graph()
    a = graph.add(double, 1, kind="io")
    b = graph.add(double, 2, kind="io")
    c = graph.add(shape, {"list": [a, (b, 7)], "plain": 3}, kind="io")
    d = graph.add(total, a, b, start=c.name and 0, kind="io")
    e = graph.add(total, 1, start=a, kind="io")
    built = {t.name: t for t in graph.build().tasks}
    assert built["shape"].deps == ("double", "double-2")
    assert built["total-2"].deps == ("double",)
    results = graph.run(root=tmp_path)
    assert results[c] == {"list": [2, (4, 7)], "plain": 3}
    assert (results[d], results[e]) == (6, 3)


class Items(list[Any]):
    pass


class Pair(NamedTuple):
    left: Any
    right: Any


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_a_named_tuple_keeps_its_type_and_passes_results(kind: str, tmp_path: Path) -> None:
    graph = Graph()
    a = graph.add(double, 1, kind="io")
    given = graph.add(shape, Pair(a, [a, 5]), kind=kind)
    plain = graph.add(both, Pair(1, 2), a, kind=kind)  # no handle in it, beside one that is
    assert {t.name: t.deps for t in graph.build().tasks}["shape"] == ("double",)
    results = graph.run(root=tmp_path)
    assert results[given] == Pair(2, [2, 5]) and type(results[given]) is Pair
    assert type(results[plain][0]) is Pair


@pytest.mark.parametrize(("value", "where"), [
    ({"handle"}, "a value of type set"),
    (frozenset({"handle"}), "a value of type frozenset"),
    ({"handle": 1}, "a dict's key"),
    ({("handle", 1): 1}, "a dict's key"),
    (collections.OrderedDict(x="handle"), "a value of type OrderedDict"),
    ([Items(["handle"])], "a value of type Items"),
])
def test_a_handle_where_it_cannot_be_replaced_is_refused(value: Any, where: str) -> None:
    """In a set, a dict key or a subclass of list or dict, a handle would reach the task as a
    Handle, not as its task's result: refused, naming the task and the field."""
    graph = Graph()
    handle = graph.add(double, 1, kind="io")

    def swap(v: Any) -> Any:
        if v == "handle":
            return handle
        if isinstance(v, dict):
            return type(v)({swap(k): swap(x) for k, x in v.items()})
        if isinstance(v, tuple):
            return tuple(swap(x) for x in v)
        if isinstance(v, set | frozenset):
            return type(v)(swap(x) for x in v)
        if isinstance(v, list):
            return type(v)([swap(x) for x in v])
        return v

    with pytest.raises(InputError, match=f"inside {where} would reach the task") as caught:
        graph.add(shape, swap(value), name="job", kind="io")
    assert (caught.value.task, caught.value.field) == ("job", "args")


def test_a_decorated_functions_arguments_are_its_own(tmp_path: Path) -> None:
    """Arguments named like `add`'s options (`name`, `kind`) go to the function."""
    graph = Graph()

    @graph.task(kind="io")
    def greet(name: str, kind: str = "plain") -> str:
        return f"{kind} hello {name}"

    a = greet(name="alice")
    b = greet("bob", kind="warm")
    assert (a.name, b.name) == ("greet", "greet-2")
    results = graph.run(root=tmp_path)
    assert (results[a], results[b]) == ("plain hello alice", "warm hello bob")


def test_a_decorated_function_given_to_add_is_refused() -> None:
    """Its call adds a task (with the decorator's options): as a task's function, it would add
    one while the graph runs."""
    graph = Graph()

    @graph.task(kind="io")
    def inc(n: int) -> int:
        return n + 1

    with pytest.raises(InputError, match=r"decorated with @graph\.task: call it") as caught:
        graph.add(inc, 1)
    assert (caught.value.task, caught.value.field) == ("inc", "run")


def test_a_single_handle_or_lock_name_is_accepted(tmp_path: Path) -> None:
    graph = Graph()
    first = graph.add(double, 1, kind="io")
    then = graph.add(double, 2, deps=first, locks="db", kind="io")
    task = {t.name: t for t in graph.build().tasks}[then.name]
    assert (task.deps, task.locks) == (("double",), ("db",))


def test_deps_order_without_passing_a_value(tmp_path: Path) -> None:
    marks = tmp_path / "marks"

    def mark(text: str) -> None:
        with marks.open("a") as f:
            f.write(text)

    graph = Graph()
    first = graph.add(mark, "1", kind="io", estimate="1s")
    graph.add(mark, "2", kind="io", deps=[first], estimate="1s")
    graph.add(mark, "3", kind="io", estimate="0.1s")  # no deps: only its low priority orders it
    graph.run(workers=1, io_workers=1, root=tmp_path)
    assert marks.read_text() == "123"


def test_a_task_depending_twice_on_one_handle_has_one_edge() -> None:
    graph = Graph()
    a = graph.add(double, 1, kind="io")
    b = graph.add(total, a, a, kind="io", deps=[a])
    assert graph.build().tasks[1].deps == ("double",)
    assert b.name == "total"


def test_a_command_is_a_task_like_any_other(tmp_path: Path) -> None:
    graph = Graph()
    made = graph.add("printf hi > out.txt", name="make")
    listed = graph.add(["cat", "out.txt"], deps=[made])
    after = graph.add(shape, made, kind="io")  # a command's value is None
    results = graph.run(root=tmp_path)
    assert (tmp_path / "out.txt").read_text() == "hi"
    assert listed.name == "cat"
    assert (results[made], results[listed], results[after]) == (None, None, None)


# ---------------------------------------------------------------------------- names


def test_default_names_are_unique_and_explicit_ones_are_kept() -> None:
    graph = Graph()
    names = [graph.add(double, n, kind="io").name for n in range(3)]
    assert names == ["double", "double-2", "double-3"]
    assert graph.add(double, 0, name="double-5", kind="io").name == "double-5"
    assert graph.add(double, 0, kind="io").name == "double-4"
    assert graph.add(double, 0, kind="io").name == "double-6"  # double-5 is taken
    assert graph.add(lambda: 1, kind="io").name == "<lambda>"
    assert graph.add("make -j4 all").name == "make"


def test_a_duplicate_explicit_name_is_an_input_error() -> None:
    graph = Graph()
    graph.add(double, 1, name="x", kind="io")
    with pytest.raises(InputError) as caught:
        graph.add(double, 2, name="x", kind="io")
    assert (caught.value.task, caught.value.field) == ("x", "name")


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("options", "field", "words"), [
    ({"memory": "lots"}, "memory", "lots"),
    ({"estimate": "soon"}, "estimate", "soon"),
    ({"timeout": "-3s"}, "timeout", ""),
    ({"kind": "gpu"}, "kind", "unknown kind 'gpu'"),
    ({"slots": 0}, "slots", "at least 1"),
    ({"retries": -1}, "retries", ">= 0"),
    ({"retries": "3"}, "retries", "whole number"),
    ({"slots": 1.5}, "slots", "whole number"),
])
def test_bad_options_name_the_task_and_the_field(options: dict[str, Any], field: str,
                                                  words: str, tmp_path: Path) -> None:
    graph = Graph()
    with pytest.raises(InputError) as caught:  # from add() or, at the latest, from run()
        graph.add(double, 1, name="job", **options)
        graph.run(root=tmp_path)
    assert (caught.value.task, caught.value.field) == ("job", field)
    assert words in str(caught.value)
    assert str(caught.value).startswith("task 'job': field '")
    assert not (tmp_path / ".makespan").exists()  # nothing ran


@pytest.mark.parametrize("bad", ["double", 42, object()])
def test_deps_must_be_handles(bad: Any) -> None:
    graph = Graph()
    with pytest.raises(InputError) as caught:
        graph.add(double, 1, name="job", deps=[bad], kind="io")
    assert (caught.value.task, caught.value.field) == ("job", "deps")


def test_a_handle_of_another_graph_is_refused_in_deps_and_arguments() -> None:
    other = Graph()
    foreign = other.add(double, 1, kind="io")
    graph = Graph()
    graph.add(double, 5, kind="io")  # same name as the foreign task: must not be confused
    with pytest.raises(InputError, match="another graph") as caught:
        graph.add(total, 1, name="a", deps=[foreign], kind="io")
    assert caught.value.field == "deps"
    with pytest.raises(InputError, match="another graph") as caught:
        graph.add(total, [foreign], name="b", kind="io")
    assert (caught.value.task, caught.value.field) == ("b", "args")


@pytest.mark.parametrize(("run", "default"), [
    (42, "task"), (["echo", 3], "echo"), ([], "command"), (None, "task")])
@pytest.mark.parametrize("name", ["job", None])
def test_something_neither_callable_nor_command_is_refused(run: Any, default: str,
                                                           name: str | None) -> None:
    graph = Graph()
    with pytest.raises(InputError) as caught:
        graph.add(run, name=name)
        graph.build()
    assert (caught.value.task, caught.value.field) == (name or default, "run")


def test_an_empty_command_is_refused_at_build() -> None:
    graph = Graph()
    graph.add("   ", name="blank")
    with pytest.raises(InputError) as caught:
        graph.build()
    assert (caught.value.task, caught.value.field) == ("blank", "run")


def test_a_task_bigger_than_the_memory_budget_is_refused_before_running(
        tmp_path: Path) -> None:
    graph = Graph()
    graph.add(double, 1, name="huge", memory="2GB", kind="io")
    with pytest.raises(InputError) as caught:
        graph.run(memory="1GB", root=tmp_path)
    assert (caught.value.task, caught.value.field) == ("huge", "memory")


def test_a_bad_run_budget_is_an_input_error(tmp_path: Path) -> None:
    graph = Graph()
    graph.add(double, 1, kind="io")
    with pytest.raises(InputError) as caught:
        graph.run(memory="a lot", root=tmp_path)
    assert caught.value.field == "memory"


# ---------------------------------------------------------------------------- results and record


def test_results_give_values_by_handle_or_name_and_the_record(tmp_path: Path) -> None:
    graph = Graph()
    a = graph.add(double, 4, kind="io")
    results = graph.run(workers=2, root=tmp_path, info={"purpose": "test"})
    assert isinstance(results, Results)
    assert results[a] == results["double"] == 8
    assert dict(results) == {"double": 8}
    with pytest.raises(KeyError):
        results["nothing"]
    written = json.loads((tmp_path / ".makespan" / "last-run.json").read_text())
    assert written == results.record
    assert results.record["front_end"] == "python"
    assert results.record["purpose"] == "test"
    assert results.status == "ok"
    assert results.metrics.keys() >= METRICS
    assert results.record["workers"]["cpu"] == 2
    assert [row["name"] for row in results.record["tasks"]] == ["double"]


def test_cpu_tasks_record_the_base_memory_of_a_worker(tmp_path: Path) -> None:
    graph = Graph()
    graph.add(double, 1, kind="cpu")
    results = graph.run(workers=1, root=tmp_path)
    base = results.record["worker_base_rss"]
    assert isinstance(base, int) and 1_000_000 < base < 1_000_000_000


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_cpu_tasks_memory_counts_its_workers_base(tmp_path: Path) -> None:
    """Max_Parallel = Available_RAM / (Base + Data_Per_Task): two cpu tasks whose data fit the
    budget together, but not with a worker's base memory each, run one after the other."""
    data = 20 * 2**20
    base = worker_base_rss()
    graph = Graph()
    for _ in range(2):
        graph.add(nap, 0.3, memory=data, kind="cpu")
    results = graph.run(workers=2, memory=2 * data + base, root=tmp_path)
    first, second = sorted(results.record["tasks"], key=lambda row: row["start"])
    assert second["start"] >= first["end"]
    assert results.record["memory_base"] == base
    assert 1_000_000 < base < 1_000_000_000


def test_a_cpu_task_whose_data_fills_the_budget_still_runs(tmp_path: Path) -> None:
    """The worker's base is no reason to refuse a task whose data alone fits: it runs alone."""
    graph = Graph()
    task = graph.add(double, 21, memory="100MB", kind="cpu")
    assert graph.run(memory="100MB", root=tmp_path)[task] == 42


def test_a_result_before_any_run_is_an_error(tmp_path: Path) -> None:
    graph = Graph()
    a = graph.add(double, 1, kind="io")
    with pytest.raises(MakespanError, match="has not run"):
        a.result()
    graph.run(root=tmp_path)
    later = graph.add(double, 2, kind="io")
    with pytest.raises(MakespanError, match="added after the graph's last run"):
        later.result()


def test_results_are_a_mapping_of_what_succeeded(tmp_path: Path) -> None:
    def broken() -> None:
        raise ValueError("no")

    graph = Graph()
    good = graph.add(double, 3, kind="io")
    bad = graph.add(broken, kind="io")
    results = graph.run(root=tmp_path, keep_going=True)
    assert good in results and "double" in results and results.get(good) == 6
    assert bad not in results and results.get(bad, "none") == "none"
    assert 42 not in results
    with pytest.raises(TaskFailed):
        results[bad]


def test_a_graph_runs_again_with_fresh_results(tmp_path: Path) -> None:
    seen: list[int] = []

    def note(n: int) -> int:
        seen.append(n)
        return len(seen)

    graph = Graph()
    a = graph.add(note, 1, kind="io")
    assert graph.run(root=tmp_path)[a] == 1
    assert graph.run(root=tmp_path)[a] == 2
    assert a.result() == 2


def test_an_empty_graph_runs(tmp_path: Path) -> None:
    results = Graph().run(root=tmp_path)
    assert results.status == "ok" and len(results) == 0


def test_the_first_failure_is_raised_and_the_record_kept(tmp_path: Path) -> None:
    def broken() -> None:
        raise KeyError("missing")

    graph = Graph()
    graph.add(broken, kind="io")
    with pytest.raises(TaskFailed) as caught:
        graph.run(root=tmp_path)
    assert caught.value.kind == "KeyError"
    assert graph.last_results is not None and graph.last_results.status == "failed"
    assert json.loads((tmp_path / ".makespan" / "last-run.json").read_text())["status"] == (
        "failed")


def test_the_public_api_is_exported() -> None:
    for name in ("Graph", "Handle", "Results", "TaskFailed", "InputError", "Executor",
                 "parallel_map", "pipeline", "map_reduce", "fork_join", "Stage"):
        assert name in makespan.__all__ and hasattr(makespan, name)


def shout(text: str) -> int:
    print(text)
    return len(text)


def test_a_cpu_task_prints_to_its_own_log(tmp_path: Path) -> None:
    graph = Graph()
    task = graph.add(shout, "hello from a worker", name="shout", kind="cpu")
    results = graph.run(workers=1, root=tmp_path)
    assert results[task] == 19
    row = results.record["tasks"][0]
    assert Path(row["log"]).read_text() == "hello from a worker\n"


def test_info_with_keys_that_are_not_strings_is_recorded_as_json_would(tmp_path: Path) -> None:
    graph = Graph()
    graph.add(lambda: 1, kind="io")
    results = graph.run(root=tmp_path, info={"chunks": {4: "four"}})
    stored = json.loads((tmp_path / ".makespan" / "last-run.json").read_text())
    assert stored["chunks"] == {"4": "four"} and results.status == "ok"


def test_a_run_leaves_the_garbage_collectors_frozen_objects_as_it_found_them(
        tmp_path: Path) -> None:
    """A run freezes what exists before it and unfreezes it after, unless the caller had
    frozen objects itself: those stay frozen (a pre-fork server relies on it)."""
    import gc

    graph = Graph()
    graph.add(lambda: 1, kind="io")
    assert gc.get_freeze_count() == 0
    graph.run(root=tmp_path)
    assert gc.get_freeze_count() == 0
    mine = [object()]  # a container the collector tracks: frozen, it is in no generation
    gc.freeze()
    try:
        graph.run(root=tmp_path)
        assert not any(o is mine for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is mine for o in gc.get_objects())


class MessageFails(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message")


def _local_exception() -> type[Exception]:
    class Local(Exception):
        pass

    return Local


Local = _local_exception()


def raise_message_fails() -> None:
    raise MessageFails()


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_an_exception_whose_message_fails_still_fails_its_task(kind: str,
                                                               tmp_path: Path) -> None:
    """(Its thread used to die unreported, and the run waited for ever: the timeout turns such
    a regression into a failure rather than a hang.)"""
    graph = Graph()
    graph.add(raise_message_fails, name="bad", kind=kind, timeout="30s")
    with pytest.raises(TaskFailed) as caught:
        graph.run(root=tmp_path)
    assert caught.value.kind == "MessageFails"
    assert caught.value.message == "(its message could not be made: RuntimeError: no message)"


@pytest.mark.parametrize(("original", "kept"), [
    (ValueError("plain"), True),
    (Local("a"), False),  # its class cannot be found by name
    (ValueError(threading.Lock()), False),  # its state does not pickle
    (None, True),
])
def test_a_task_failure_always_travels_and_its_original_when_it_can(
        original: BaseException | None, kept: bool) -> None:
    failure = TaskFailed("t", "Kind", "message", "trace", original)
    back = pickle.loads(pickle.dumps(failure))
    assert (back.task, back.kind, back.message, back.traceback) == ("t", "Kind", "message",
                                                                    "trace")
    assert (back.original is not None) == (kept and original is not None)
    if kept and original is not None:
        assert back.original.args == original.args


def run_a_program_using_makespan() -> str:
    program = "from makespan import parallel_map; print(parallel_map(abs, [-3], kind='io'))"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def test_a_program_a_cpu_task_starts_may_use_makespan(tmp_path: Path) -> None:
    """Only the task itself is refused a nested run: a separate program it starts (which
    inherits the worker's environment) is not inside a task."""
    graph = Graph()
    task = graph.add(run_a_program_using_makespan, kind="cpu")
    assert graph.run(root=tmp_path)[task] == "[3]"


def test_a_graph_of_io_tasks_alone_is_measured_on_its_io_slots(tmp_path: Path) -> None:
    """Efficiency = speedup / workers, the workers being the pool the work ran in: never above
    100 % (it was measured on the CPU slots: 299 % for six io tasks on 2 CPU slots)."""
    graph = Graph()
    for _ in range(6):
        graph.add(time.sleep, 0.2, kind="io")
    metrics = graph.run(workers=2, io_workers=6, root=tmp_path).metrics
    assert metrics["efficiency"] == pytest.approx(metrics["speedup"] / 6)
    assert metrics["efficiency"] <= 1.0


@pytest.mark.parametrize(("info", "field", "words"), [
    ({"status": "great"}, "info.status", "field of the run record itself"),
    ({"id": "custom"}, "info.id", "field of the run record itself"),
    ({"input": Path("/data/x")}, "info.input", "cannot be written in the run record"),
    ({"seen": {1, 2}}, "info.seen", "cannot be written in the run record"),
])
def test_info_that_would_break_the_record_is_refused_before_running(
        info: dict[str, Any], field: str, words: str, tmp_path: Path) -> None:
    ran: list[int] = []
    graph = Graph()
    graph.add(ran.append, 1, kind="io")
    with pytest.raises(InputError, match=words) as caught:
        graph.run(root=tmp_path, info=info)
    assert caught.value.field == field
    assert ran == [] and not (tmp_path / ".makespan").exists()


def test_record_fields_name_every_field_makespan_writes(tmp_path: Path) -> None:
    """What `info` may not replace is kept in step with what a record holds."""
    from makespan.run import RECORD_FIELDS

    graph = Graph()
    graph.add(double, 1, kind="cpu", memory="1MB")
    assert set(graph.run(root=tmp_path).record) <= RECORD_FIELDS


def test_a_command_takes_cwd_and_env_as_in_a_task_file(tmp_path: Path) -> None:
    place = tmp_path / "place"
    place.mkdir()
    graph = Graph()
    graph.add("pwd; echo X=$X", name="where", cwd=str(place), env={"X": "1"})
    results = graph.run(root=tmp_path)
    log = Path(results.record["tasks"][0]["log"]).read_text().split()
    assert log == [str(place), "X=1"]


@pytest.mark.parametrize(("args", "kwargs"), [
    (("hello",), {}),
    ((), {"tiemout": 5}),
    ((), {"env": "X=1"}),
])
def test_a_command_refuses_what_it_would_ignore(args: tuple[Any, ...],
                                                kwargs: dict[str, Any]) -> None:
    graph = Graph()
    with pytest.raises(InputError) as caught:
        graph.add("echo", *args, name="cmd", **kwargs)
    assert caught.value.task == "cmd"
    assert caught.value.field in ("args", "env")


def test_a_handle_given_to_a_command_is_refused() -> None:
    graph = Graph()
    first = graph.add(double, 1, kind="io")
    with pytest.raises(InputError, match="deps=") as caught:
        graph.add(["echo"], first, name="cmd")
    assert (caught.value.task, caught.value.field) == ("cmd", "args")


@pytest.mark.parametrize("name", [5, ""])
def test_a_name_must_be_a_non_empty_string(name: Any) -> None:
    with pytest.raises(InputError, match="non-empty string") as caught:
        Graph().add(double, 1, name=name)
    assert caught.value.field == "name"


class Doubler:
    def __call__(self, x: int) -> int:
        return 2 * x


def test_default_names_of_a_partial_and_a_callable_object() -> None:
    graph = Graph()
    partial = graph.add(functools.partial(total, 1), 2, kind="io")
    instance = graph.add(Doubler(), 3, kind="io")
    assert (partial.name, instance.name) == ("total", "Doubler")
