"""One behaviour suite, run over every kind of executor (as CPython's concurrent.futures tests
cross each behaviour with each executor).

    io       Python callables on threads               graph.add(fn, kind="io")
    cpu      Python callables in worker processes      graph.add(fn, kind="cpu")
    command  shell commands                             graph.add("sh text")
    dask     callables on a Dask LocalCluster           graph.run(backend="dask", client=...)
             (two worker processes, one thread each; module-scoped; skipped, saying why, when
             dask.distributed is not installed)

Each test takes the executors for which its behaviour means something: a thread cannot die
alone and shares memory (nothing to pickle), a command has no value or Python traceback.
Synchronisation between tasks goes through files (a task creates one, another waits for it with
a bounded poll), never through sleeps.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from makespan import Executor, Graph, Handle, Results, TaskFailed, parallel_map

WAIT = 20.0
"""Seconds a task waits for a file before giving up (only reached if the engine misbehaves)."""

# ---------------------------------------------------------------------------- task functions
# Module-level, so worker processes and Dask workers import them by reference.


class Boom(Exception):
    pass


def square(x: int) -> int:
    return x * x


def plus(a: int, b: int) -> int:
    return a + b


def collect(*parts: Any, **named: Any) -> tuple[Any, ...]:
    return parts, named


def explode(message: str) -> None:
    raise Boom(message)


def wait_for(path: str, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def block(started: str, release: str) -> str:
    """Announce the start, then wait (bounded) for the release."""
    Path(started).touch()
    return "released" if wait_for(release) else "never released"


def fail_after(path: str, message: str) -> None:
    """Fail once `path` exists (another task created it)."""
    wait_for(path)
    raise Boom(message)


def die(code: int) -> None:
    os._exit(code)


def pid() -> int:
    return os.getpid()


def type_name(value: Any) -> str:
    return type(value).__name__


def make_lock() -> Any:
    return threading.Lock()


def flaky(counter: str) -> int:
    """Fails on its first attempt, succeeds on the second (attempts counted in a file)."""
    attempts = len(Path(counter).read_text()) + 1 if os.path.exists(counter) else 1
    Path(counter).write_text("x" * attempts)
    if attempts == 1:
        raise Boom("first attempt")
    return attempts


def nested_graph() -> Any:
    graph = Graph()
    graph.add(square, 3, kind="io")
    return graph.run(workers=1)


def nested_parallel_map() -> Any:
    return parallel_map(square, [1, 2, 3], kind="io")


def nested_executor() -> Any:
    with Executor(workers=1) as pool:
        return pool.submit(square, 2).result()


# ---------------------------------------------------------------------------- executors


@dataclass
class Backend:
    name: str
    root: Path
    client: Any = None

    @property
    def kind(self) -> str:
        return "io" if self.name == "io" else "cpu"

    def add(self, graph: Graph, fn: Any, *args: Any, **options: Any) -> Handle[Any]:
        """A Python task for this executor (not for `command`)."""
        return graph.add(fn, *args, kind=self.kind, **options)

    def run(self, graph: Graph, workers: int = 2, **options: Any) -> Results:
        if self.name == "dask":
            options.update(backend="dask", client=self.client)
        return graph.run(workers=workers, io_workers=workers, root=self.root, **options)

    def failing(self, graph: Graph, name: str, **options: Any) -> Handle[Any]:
        """A task that fails with `self.failure`."""
        if self.name == "command":
            return graph.add("echo oops >&2; exit 3", name=name, **options)
        return self.add(graph, explode, "kaboom 42", name=name, **options)

    @property
    def failure(self) -> tuple[str, str]:
        """(kind, message) of the TaskFailed `failing` raises."""
        return ("Failed", "exit code 3") if self.name == "command" else ("Boom", "kaboom 42")

    def ok(self, graph: Graph, value: int, **options: Any) -> Handle[Any]:
        """A task that succeeds; its result is `self.value(value)`."""
        if self.name == "command":
            return graph.add("true", **options)
        return self.add(graph, square, value, **options)

    def value(self, value: int) -> Any:
        return None if self.name == "command" else value * value

    def blocking(self, graph: Graph, started: Path, release: Path,
                 **options: Any) -> Handle[Any]:
        if self.name == "command":
            return graph.add(f"touch {started}; i=0; while [ ! -e {release} ] && "
                             f"[ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done", **options)
        return self.add(graph, block, str(started), str(release), **options)


ALL = ["io", "cpu", "command", "dask"]
CALLABLES = ["io", "cpu", "dask"]


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed: pip install 'makespan[dask]'")
    import dask

    # A worker that dies fails its task at once instead of killing three more workers first.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0",
                                           silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    client = request.getfixturevalue("dask_client") if request.param == "dask" else None
    return Backend(request.param, tmp_path, client)


def rows(results: Results) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in results.record["tasks"]}


# ---------------------------------------------------------------------------- results and order


@pytest.mark.parametrize("backend", CALLABLES, indirect=True)
def test_results_pass_along_dependencies(backend: Backend) -> None:
    r"""
          a = square(3)
         /  \
    b = a + 1  \
         \     c = collect(a, [b], key={"b": b})
          \   /
    d = b + 10, after c (order only)
    """
    graph = Graph()
    a = backend.add(graph, square, 3)
    b = backend.add(graph, plus, a, 1)
    c = backend.add(graph, collect, a, [b], key={"b": b})
    d = backend.add(graph, plus, b, 10, deps=[c])
    results = backend.run(graph)
    assert (results[a], results[b], results[d]) == (9, 10, 20)
    assert results[c] == ((9, [10]), {"key": {"b": 10}})
    table = rows(results)
    for task, needs in {"plus": ["square"], "collect": ["square", "plus"],
                        "plus-2": ["plus", "collect"]}.items():
        for dep in needs:
            assert table[dep]["end"] <= table[task]["start"], (dep, task)
    assert results.status == "ok"


def test_commands_run_in_dependency_order(tmp_path: Path) -> None:
    graph = Graph()
    first = graph.add("printf 3 > a.txt", name="first")
    second = graph.add("cat a.txt a.txt > b.txt", name="second", deps=[first])
    graph.add("cat b.txt b.txt > c.txt", name="third", deps=[second])
    results = graph.run(workers=2, root=tmp_path)
    assert (tmp_path / "c.txt").read_text() == "3333"
    assert results[first] is None and results["third"] is None
    table = rows(results)
    assert table["first"]["end"] <= table["second"]["start"]
    assert table["second"]["end"] <= table["third"]["start"]


@pytest.mark.parametrize("backend", ALL, indirect=True)
def test_every_result_is_found_by_its_handle(backend: Backend) -> None:
    graph = Graph()
    handles = {n: backend.ok(graph, n) for n in range(1, 25)}
    results = backend.run(graph)
    assert {n: results[h] for n, h in handles.items()} == {
        n: backend.value(n) for n in handles}
    assert len(results) == 24 and len(set(results)) == 24


@pytest.mark.parametrize("backend", ALL, indirect=True)
def test_one_worker_takes_the_longest_work_first(backend: Backend) -> None:
    """With one slot, independent tasks start in critical-path order: longest estimate first."""
    graph = Graph()
    for n, estimate in ((1, "1s"), (2, "3s"), (3, "2s")):
        backend.ok(graph, n, name=f"t{n}", estimate=estimate)
    table = rows(backend.run(graph, workers=1))
    assert sorted(table, key=lambda name: table[name]["start"]) == ["t2", "t3", "t1"]


# ---------------------------------------------------------------------------- failures


@pytest.mark.parametrize("backend", ALL, indirect=True)
def test_a_failure_carries_type_message_and_traceback(backend: Backend) -> None:
    graph = Graph()
    backend.failing(graph, "bad")
    with pytest.raises(TaskFailed) as caught:
        backend.run(graph)
    failure = caught.value
    assert (failure.task, failure.kind, failure.message) == ("bad", *backend.failure)
    assert f"task 'bad' failed: {backend.failure[0]}: {backend.failure[1]}" in str(failure)
    if backend.name != "command":
        assert "in explode" in failure.traceback
        assert "raise Boom(message)" in failure.traceback
        assert "Traceback in the worker" in str(failure)
        assert isinstance(failure.original, Boom)
        assert failure.original.args == ("kaboom 42",)


@pytest.mark.parametrize("backend", ALL, indirect=True)
def test_fail_fast_starts_nothing_more(backend: Backend) -> None:
    """One slot; `bad` goes first (longest estimate), fails, and nothing else starts."""
    graph = Graph()
    bad = backend.failing(graph, "bad", estimate="10s")
    backend.ok(graph, 2, name="after", deps=[bad])
    backend.ok(graph, 3, name="other")
    with pytest.raises(TaskFailed) as caught:
        backend.run(graph, workers=1)
    assert caught.value.task == "bad"
    results = graph.last_results
    assert results is not None and results.status == "failed"
    table = rows(results)
    assert table["bad"]["status"] == "failed"
    assert table["other"]["status"] == "skipped"
    assert table["other"]["start"] is None
    assert table["other"]["reason"] == "not started: 'bad' failed"
    assert table["after"]["status"] == "skipped"


@pytest.mark.parametrize("backend", ALL, indirect=True)
def test_keep_going_skips_only_what_needs_the_failure(backend: Backend) -> None:
    graph = Graph()
    bad = backend.failing(graph, "bad")
    child = backend.ok(graph, 2, name="child", deps=[bad])
    backend.ok(graph, 3, name="grandchild", deps=[child])
    fine = backend.ok(graph, 4, name="fine")
    results = backend.run(graph, keep_going=True)
    table = rows(results)
    assert {name: row["status"] for name, row in table.items()} == {
        "bad": "failed", "child": "skipped", "grandchild": "skipped", "fine": "ok"}
    assert table["child"]["reason"] == table["grandchild"]["reason"] == (
        "needs 'bad', which failed")
    assert results[fine] == backend.value(4)
    assert results.status == "failed"
    assert set(results.failures) == {"bad", "child", "grandchild"}
    with pytest.raises(TaskFailed) as caught:
        results[child]
    assert caught.value.kind == "Skipped"


@pytest.mark.parametrize("backend", ALL, indirect=True)
def test_fail_fast_stops_a_running_sibling(backend: Backend, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    graph = Graph()
    backend.blocking(graph, started, release, name="sibling")
    if backend.name == "command":
        graph.add(f"i=0; while [ ! -e {started} ] && [ $i -lt 2000 ]; do sleep 0.01; "
                  "i=$((i+1)); done; exit 3", name="bad")
    else:
        backend.add(graph, fail_after, str(started), "kaboom 42", name="bad")
    try:
        with pytest.raises(TaskFailed) as caught:
            backend.run(graph, workers=2)
    finally:
        release.touch()  # lets an abandoned thread or a Dask worker's task end
    assert caught.value.task == "bad"  # the cause, not the sibling cancelled because of it
    results = graph.last_results
    assert results is not None
    table = rows(results)
    assert table["sibling"]["status"] == "cancelled"
    assert table["sibling"]["reason"] == "stopped: 'bad' failed"


@pytest.mark.parametrize("backend", ALL, indirect=True)
def test_a_task_past_its_timeout_is_stopped(backend: Backend, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    graph = Graph()
    slow = backend.blocking(graph, started, release, name="slow", timeout=0.3)
    fine = backend.ok(graph, 5, name="fine")
    try:
        results = backend.run(graph, keep_going=True)
    finally:
        release.touch()
    table = rows(results)
    assert (table["slow"]["status"], table["slow"]["reason"]) == ("timeout", "timed out")
    assert results[fine] == backend.value(5)
    with pytest.raises(TaskFailed) as caught:
        results[slow]
    assert (caught.value.kind, caught.value.message) == ("Timeout", "timed out")


@pytest.mark.parametrize("backend", ALL, indirect=True)
def test_retries_follow_the_same_rules(backend: Backend, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    graph = Graph()
    if backend.name == "command":
        task = graph.add(f"echo x >> {counter}; [ $(wc -l < {counter}) -ge 2 ]", retries=1)
    else:
        task = backend.add(graph, flaky, str(counter), retries=1)
    results = backend.run(graph)
    row = rows(results)[task.name]
    assert (row["status"], row["attempts"]) == ("ok", 2)
    assert results[task] == (None if backend.name == "command" else 2)


# ---------------------------------------------------------------------------- dying workers


@pytest.mark.parametrize("backend", ["cpu", "dask", "command"], indirect=True)
def test_a_dying_worker_fails_only_its_task(backend: Backend) -> None:
    """One slot, so the order is fixed by the estimates: before, dying, then the later ones,
    which must run on a worker that replaced the dead one."""
    graph = Graph()
    if backend.name == "command":
        graph.add("true", name="before", estimate="30s")
        graph.add("kill -9 $$", name="dying", estimate="20s")
        later = [graph.add("true", name=f"later{n}") for n in range(3)]
    else:
        backend.add(graph, pid, name="before", estimate="30s")
        backend.add(graph, die, 3, name="dying", estimate="20s")
        later = [backend.add(graph, pid, name=f"later{n}") for n in range(3)]
    results = backend.run(graph, workers=1, keep_going=True)
    table = rows(results)
    assert table["dying"]["status"] == "failed"
    assert [table[h.name]["status"] for h in later] == ["ok"] * 3
    with pytest.raises(TaskFailed) as caught:
        results["dying"]
    if backend.name == "cpu":
        assert caught.value.message == "the worker process died (exit code 3) while running it"
        pids = {results[h] for h in later}
        assert len(pids) == 1 and results["before"] not in pids
    elif backend.name == "dask":
        assert "died" in caught.value.message
    else:
        assert caught.value.message == "exit code -9"


# ---------------------------------------------------------------------------- shipping


@pytest.mark.parametrize("backend", CALLABLES, indirect=True)
@pytest.mark.parametrize("make", [threading.Lock, lambda: (n for n in range(3))],
                         ids=["lock", "generator"])
def test_an_argument_that_cannot_be_shipped(backend: Backend, make: Any) -> None:
    value = make()
    graph = Graph()
    task = backend.add(graph, type_name, value, name="ship")
    fine = backend.add(graph, square, 6, name="fine")
    results = backend.run(graph, keep_going=True)
    assert results[fine] == 36
    if backend.name == "io":  # threads share the caller's memory: nothing is shipped
        assert results[task] == type(value).__name__
        return
    with pytest.raises(TaskFailed) as caught:
        results[task]
    assert caught.value.kind == "TypeError"
    assert caught.value.message.startswith("cannot ship task 'ship' to ")
    assert "pickle" in caught.value.message and type(value).__name__ in caught.value.message


@pytest.mark.parametrize("backend", ["cpu", "dask"], indirect=True)
def test_fail_fast_starts_nothing_after_a_task_that_fails_as_it_starts(
        backend: Backend) -> None:
    """The scheduler hands out several starts at once; when the first cannot even be shipped,
    the others of that batch must not start."""
    graph = Graph()
    backend.add(graph, type_name, threading.Lock(), name="ship", estimate="10s")
    for i in range(3):
        backend.ok(graph, i, name=f"other{i}")
    with pytest.raises(TaskFailed) as caught:
        backend.run(graph, workers=4)
    assert caught.value.task == "ship"
    assert graph.last_results is not None
    table = rows(graph.last_results)
    for i in range(3):
        assert (table[f"other{i}"]["status"], table[f"other{i}"]["start"]) == ("skipped", None)
        assert table[f"other{i}"]["reason"] == "not started: 'ship' failed"


def test_a_result_that_cannot_come_back(tmp_path: Path) -> None:
    graph = Graph()
    task = graph.add(make_lock, name="lock", kind="cpu")
    results = graph.run(workers=1, root=tmp_path, keep_going=True)
    with pytest.raises(TaskFailed) as caught:
        results[task]
    assert caught.value.kind == "TypeError"
    assert "the result of 'lock' cannot be sent back from the worker" in caught.value.message


# ---------------------------------------------------------------------------- nested use


@pytest.mark.parametrize("backend", CALLABLES, indirect=True)
def test_nested_use_of_the_api_is_refused_clearly(backend: Backend) -> None:
    graph = Graph()
    for fn in (nested_graph, nested_parallel_map, nested_executor):
        backend.add(graph, fn, name=fn.__name__)
    results = backend.run(graph, keep_going=True)
    for name, what in (("nested_graph", "graph.run()"), ("nested_parallel_map", "parallel_map()"),
                       ("nested_executor", "makespan.Executor()")):
        with pytest.raises(TaskFailed) as caught:
            results[name]
        assert caught.value.kind == "MakespanError"
        assert caught.value.message.startswith(f"{what} was called inside task '{name}'")
        assert "CPU budget" in caught.value.message


def test_the_refusal_follows_the_task_not_the_thread() -> None:
    """Being inside a task is what counts: the same thread is free again once it returns."""
    from makespan.executors.calling import inside_task, invoke
    from makespan.model import Call

    assert inside_task() is None
    outcome = invoke("outer", Call(nested_graph), {})
    assert outcome.failure is not None and outcome.failure.kind == "MakespanError"
    assert inside_task() is None
    assert invoke("again", Call(square, (4,)), {}).value == 16


# ---------------------------------------------------------------------------- engine steps


def test_a_step_on_another_thread_runs_after_what_was_posted_before_it() -> None:
    from makespan.reactor import Reactor

    reactor = Reactor()
    order: list[str] = []
    reactor.after_step = lambda: order.append("after")
    try:
        reactor.post(lambda: order.append("posted"))
        worker = threading.Thread(target=reactor.run_here, args=(lambda: order.append("step"),))
        worker.start()
        worker.join(WAIT)
        assert order == ["posted", "step", "after"]
    finally:
        reactor.close()
    reactor.run_here(lambda: order.append("late"))  # after close: dropped, as posts are
    assert order == ["posted", "step", "after"]


def test_a_step_finding_the_lock_taken_goes_to_the_loop_without_waiting() -> None:
    """A worker thread does not wait for the engine's lock (slow to change hands on a busy
    host): it posts its step to the loop and goes back to work."""
    from makespan.reactor import Reactor

    reactor = Reactor()
    order: list[str] = []
    reactor.after_step = lambda: order.append("after")
    reactor.lock.acquire()  # as the engine's loop holds it
    try:
        worker = threading.Thread(target=reactor.run_here, args=(lambda: order.append("step"),))
        worker.start()
        worker.join(WAIT)
        assert not worker.is_alive() and order == []  # back at once, the lock still taken
        reactor.wait(WAIT)  # the loop is woken and runs it (its own step follows, not `after`)
        assert order == ["step"]
    finally:
        reactor.lock.release()
        reactor.close()


def test_an_error_in_a_step_on_another_thread_reaches_the_loop() -> None:
    """A bug in a step taken by a worker thread must fail the run, not hang it."""
    from makespan.reactor import Reactor

    def broken() -> None:
        raise RuntimeError("bug in a step")

    reactor = Reactor()
    reactor.lock.acquire()  # as the engine's loop holds it
    try:
        worker = threading.Thread(target=reactor.run_here, args=(broken,))
        worker.start()
        with pytest.raises(RuntimeError, match="bug in a step"):
            reactor.wait(WAIT)  # woken by the failed step, which it re-raises
        worker.join(WAIT)
    finally:
        reactor.lock.release()
        reactor.close()
