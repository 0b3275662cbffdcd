"""What only the Dask backend does (the behaviour shared by every executor is in
tests/test_executors_contract.py): annotations, commands on workers, faults, packaging.

Two module-scoped LocalClusters with worker processes, declaring makespan's resources:

    pair     two workers, each CPU=1, MEMORY=1 GiB, 2 threads (one for I/O tasks)
    single   one worker, CPU=1, 3 threads: Dask's own queue is observable

Tasks synchronise through files (one creates it, another waits for it with a bounded poll),
never through sleeps.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from makespan import Graph, InputError, MakespanError
from makespan.cli import main
from run_helpers import (
    alive_after,
    assert_no_process_left,
    kill_leftovers,
    read_run,
    tree,
    wait_for,
    write_tasks,
)

GIB = 2**30
WAIT = 20.0

# ---------------------------------------------------------------------------- task functions
# Module-level, so Dask workers import them by reference.


def wait_file(*paths: str, timeout: float = WAIT) -> bool:
    """Wait until one of `paths` exists (at most `timeout` seconds); whether one does."""
    deadline = time.monotonic() + timeout
    while not any(os.path.exists(path) for path in paths):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def where() -> int:
    return os.getpid()


def value(n: int) -> int:
    return n


def total(*parts: int) -> int:
    return sum(parts)


def victim(pid_file: str, release: str) -> int:
    """Note this worker's PID, then wait for the release: the test kills the worker meanwhile."""
    Path(pid_file).write_text(str(os.getpid()))
    wait_file(release)
    return os.getpid()


def placement(me: str, other: str) -> tuple[str, dict[str, float], bool]:
    """(worker address, this task's Dask resources, whether the other task started too)."""
    from distributed import get_worker

    worker = get_worker()
    restrictions = worker.state.tasks[worker.get_current_task()].resource_restrictions
    Path(me).touch()
    return worker.address, dict(restrictions), wait_file(other)


def note(log: str, name: str, release: str | None = None) -> None:
    """Append `name` to `log` (the order tasks really start on the worker), then maybe block."""
    with open(log, "a") as f:
        f.write(name + "\n")
    if release is not None:
        wait_file(release)


def block(started: str, release: str) -> None:
    Path(started).touch()
    wait_file(release)


def flaky(marker: str, n: int) -> int:
    """Fail on the first attempt, return `n` on the next."""
    if not os.path.exists(marker):
        Path(marker).touch()
        raise RuntimeError("first attempt fails")
    return n


def boom(*_: Any) -> None:
    raise RuntimeError("kaboom")


def touch(path: str, *_: Any) -> None:
    Path(path).touch()


def write(path: str, text: str) -> None:
    Path(path).write_text(text)


def read(path: str) -> str:
    return Path(path).read_text()


def known(prefixes: list[str], dask_scheduler: Any) -> list[str]:
    """The keys the scheduler holds that start with one of `prefixes`."""
    return sorted(str(key) for key in dask_scheduler.tasks if str(key).startswith(tuple(prefixes)))


def waiting(prefix: str, dask_worker: Any) -> bool:
    """Whether a task whose key starts with `prefix` waits in this worker's queue."""
    return any(str(key).startswith(prefix) and task.state == "constrained"
               for key, task in dask_worker.state.tasks.items())


def busy(dask_worker: Any) -> bool:
    """Whether this worker runs a task (cancelled or not) or has one waiting."""
    return any(task.state in ("executing", "cancelled", "constrained", "ready")
               for task in dask_worker.state.tasks.values())


def fail_once_waiting(prefix: str) -> None:
    """Fail as soon as a task whose key starts with `prefix` waits on this worker."""
    from distributed import get_worker

    deadline = time.monotonic() + WAIT
    while not waiting(prefix, get_worker()) and time.monotonic() < deadline:
        time.sleep(0.005)
    raise RuntimeError("kaboom")


# ---------------------------------------------------------------------------- clusters


def _cluster(workers: int, threads: int, **resources: float) -> Iterator[Any]:
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed: pip install 'makespan[dask]'")
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=threads,
                                       processes=True,
                                       dashboard_address=":0", silence_logs=logging.CRITICAL,
                                       resources=resources)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def pair() -> Iterator[Any]:
    yield from _cluster(2, 2, CPU=1, MEMORY=GIB)


@pytest.fixture(scope="module")
def single() -> Iterator[Any]:
    yield from _cluster(1, 3, CPU=1)


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    kill_leftovers(tmp_path)


def worker_pids(client: Any) -> set[int]:
    return set(client.run(os.getpid).values())


# ---------------------------------------------------------------------------- where tasks run


def test_commands_and_callables_run_on_the_workers(pair: Any, root: Path) -> None:
    graph = Graph()
    here = graph.add(where, name="callable")
    graph.add("echo $PPID > command.ppid", name="command")
    results = graph.run(backend="dask", client=pair, root=root)
    pids = worker_pids(pair)
    assert results[here] in pids
    assert int((root / "command.ppid").read_text()) in pids  # started by a worker process
    assert os.getpid() not in pids
    record = read_run(root)  # the record contract holds, metrics included
    assert (record["backend"], record["scheduler"]) == ("dask", pair.scheduler.address)
    assert {row["status"] for row in record["tasks"].values()} == {"ok"}
    assert record["workers"] == {"cpu": 2, "io": 2, "memory": 2 * GIB}  # the declared resources


def test_the_cli_runs_a_task_file_on_a_running_cluster(pair: Any, root: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    write_tasks(root, """
        [tasks.first]
        run = "echo hello from $PPID > first.out; echo logged"
        [tasks.second]
        run = "cat first.out > second.out"
        deps = ["first"]
    """)
    monkeypatch.chdir(root)
    code = main(["run", "--backend", "dask", "--scheduler", pair.scheduler.address,
                 "--no-history", "--json"])
    assert code == 0, capsys.readouterr().err
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "ok" and document["backend"] == "dask"
    assert (root / "second.out").read_text() == (root / "first.out").read_text()
    rows = {row["name"]: row for row in document["tasks"]}
    assert Path(rows["first"]["log"]).read_text() == "logged\n"  # output comes back to the log
    assert rows["first"]["end"] <= rows["second"]["start"]


def test_a_command_ends_with_its_own_process_and_leaves_nothing_behind(pair: Any,
                                                                       root: Path) -> None:
    """As locally: a background child still holding the output does not keep the task going,
    and is killed once the command has exited."""
    graph = Graph()
    graph.add("sleep 1000 & echo $! > bg.pid; echo done", name="leaves")
    results = graph.run(backend="dask", client=pair, root=root)
    row = {r["name"]: r for r in results.record["tasks"]}["leaves"]
    assert row["status"] == "ok"
    assert Path(row["log"]).read_text() == "done\n"
    assert alive_after([int((root / "bg.pid").read_text())]) == []


def test_values_stay_on_the_workers_until_the_end(pair: Any, root: Path) -> None:
    """Dependents get their inputs from the cluster; the caller gets plain values."""
    graph = Graph()
    parts = [graph.add(value, n) for n in range(5)]
    whole = graph.add(total, *parts)
    results = graph.run(backend="dask", client=pair, root=root)
    assert results[whole] == 10
    assert [results[p] for p in parts] == list(range(5))


def test_the_callers_client_is_left_as_it_was(pair: Any, root: Path) -> None:
    """makespan shortens the client's message batching while it runs, and only then."""
    before = pair.scheduler_comm.interval
    graph = Graph()
    graph.add(value, 1)
    graph.run(backend="dask", client=pair, root=root)
    assert pair.scheduler_comm.interval == before
    assert pair.submit(value, 2).result() == 2


# ---------------------------------------------------------------------------- annotations


def test_memory_estimates_become_dask_resources(pair: Any, root: Path) -> None:
    """Two tasks of 0.6 GiB fit makespan's budget (2 GiB) together, but not one worker (1 GiB):
    Dask must run them on different workers, which it knows from their MEMORY resource."""
    graph = Graph()
    a = graph.add(placement, str(root / "a"), str(root / "b"), name="a", memory=int(0.6 * GIB))
    b = graph.add(placement, str(root / "b"), str(root / "a"), name="b", memory=int(0.6 * GIB))
    results = graph.run(backend="dask", client=pair, root=root)
    (worker_a, wants_a, both_a), (worker_b, wants_b, both_b) = results[a], results[b]
    assert wants_a == wants_b == {"CPU": 1, "MEMORY": int(0.6 * GIB)}
    assert worker_a != worker_b and both_a and both_b


def test_a_task_no_worker_can_hold_is_refused_before_anything_runs(pair: Any,
                                                                   root: Path) -> None:
    graph = Graph()
    graph.add("touch ran", name="small")
    graph.add("touch ran", name="huge", memory=int(1.5 * GIB))  # under the total, over any one
    with pytest.raises(InputError) as caught:
        graph.run(backend="dask", client=pair, root=root)
    assert (caught.value.task, caught.value.field) == ("huge", "memory")
    assert "the most any worker offers is 1.0GiB" in caught.value.message
    assert not (root / "ran").exists()


def test_dask_runs_what_makespan_handed_ahead_in_makespan_order(single: Any,
                                                                root: Path) -> None:
    r"""makespan may admit more than the cluster runs at once (here -j 5 on one CPU): then
    Dask's queue must follow makespan's priorities, not the order tasks were submitted.

        gate (10 s)          cpu: holds the worker's only CPU until released
        pre (1 s, io) -> hi (8 s)   hi is submitted last, once pre is done, yet goes next
        low1 (3 s), low2 (2 s), low3 (1 s)
    """
    log, release = str(root / "order"), root / "release"
    graph = Graph()
    graph.add(note, log, "gate", str(release), name="gate", estimate="10s")
    pre = graph.add(note, log, "pre", name="pre", kind="io", estimate="1s")
    graph.add(note, log, "hi", name="hi", deps=[pre], estimate="8s")
    for n, estimate in ((1, "3s"), (2, "2s"), (3, "1s")):
        graph.add(note, log, f"low{n}", name=f"low{n}", estimate=estimate)

    def release_once_hi_waits() -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not any(single.run(waiting, "hi-").values()):
            time.sleep(0.01)
        release.touch()

    releaser = threading.Thread(target=release_once_hi_waits)
    releaser.start()
    try:
        results = graph.run(backend="dask", client=single, root=root, workers=5)
    finally:
        releaser.join()
    assert results.status == "ok"
    order = Path(log).read_text().split()
    assert [name for name in order if name != "pre"] == ["gate", "hi", "low1", "low2", "low3"]


# ---------------------------------------------------------------------------- staging ahead


def run_and_look(client: Any, graph: Graph, root: Path, started: list[Path],
                 prefixes: list[str], at_least: int = 0, **options: Any) -> list[str]:
    """Run `graph`; once a task has made one of `started`, note which keys starting with
    `prefixes` the scheduler holds (waiting up to WAIT for `at_least` of them: messages sent
    in one step may reach it a few milliseconds apart), then touch root/release. Returns
    those keys' task names."""
    seen: list[str] = []

    def look_then_release() -> None:
        assert wait_file(*map(str, started)), "no task started"
        deadline = time.monotonic() + WAIT
        keys = client.run_on_scheduler(known, prefixes)
        while len(keys) < at_least and time.monotonic() < deadline:
            time.sleep(0.01)
            keys = client.run_on_scheduler(known, prefixes)
        seen.extend(key.split("-")[0] for key in keys)
        (root / "release").touch()

    looker = threading.Thread(target=look_then_release)
    looker.start()
    try:
        results = graph.run(backend="dask", client=client, root=root, **options)
    finally:
        (root / "release").touch()
        looker.join()
    assert results.status == "ok"
    return seen


def test_python_tasks_are_handed_over_before_their_dependencies_end(pair: Any,
                                                                      root: Path) -> None:
    """A short task reaches the scheduler while the task it needs still runs, so Dask starts it
    with no round trip through makespan; a task estimated longer (or not at all) waits for
    makespan's admission."""
    graph = Graph()
    first = graph.add(block, str(root / "first.started"), str(root / "release"), name="chain0")
    second = graph.add(value, 2, deps=[first], name="chain1", estimate="1ms")
    third = graph.add(total, second, 1, name="chain2", estimate="1ms")
    graph.add(total, third, 1, name="chain3")
    seen = run_and_look(pair, graph, root, [root / "first.started"],
                        ["chain1-", "chain2-", "chain3-"], at_least=2)
    assert seen == ["chain1", "chain2"]


def test_a_budget_tighter_than_the_cluster_still_holds(pair: Any, root: Path) -> None:
    """-j 1 on a cluster of 2 CPUs: Dask would run two CPU tasks at once, so nothing is handed
    over ahead of makespan's admission; the second task reaches Dask once the first ended."""
    graph = Graph()
    started = [root / "one.started", root / "two.started"]
    for n, path in enumerate(started, start=1):
        graph.add(block, str(path), str(root / "release"), name=f"solo{n}", estimate="1ms")
    seen = run_and_look(pair, graph, root, started, ["solo1-", "solo2-"], workers=1)
    assert len(seen) == 1


def test_staged_dependents_follow_a_retried_dependency(pair: Any, root: Path) -> None:
    graph = Graph()
    first = graph.add(flaky, str(root / "tried"), 5, retries=1, name="flaky", estimate="1ms")
    after = graph.add(total, first, 1, name="after", estimate="1ms")
    results = graph.run(backend="dask", client=pair, root=root)
    assert results[after] == 6
    rows = {r["name"]: r for r in results.record["tasks"]}
    assert (rows["flaky"]["attempts"], rows["after"]["attempts"]) == (2, 1)


def test_nothing_staged_after_a_failure_runs(pair: Any, root: Path) -> None:
    """Keep going: the dependents of a failed call and of a failed command are skipped, and
    none of them ran on the cluster, even though Dask held some of them already."""
    graph = Graph()
    bad = graph.add(boom, name="bad", estimate="1ms")
    graph.add(touch, str(root / "data.ran"), bad, name="data", estimate="1ms")
    graph.add(touch, str(root / "order.ran"), deps=[bad], name="order", estimate="1ms")
    command = graph.add("exit 3", name="command")
    graph.add(touch, str(root / "command.ran"), deps=[command], name="after-command",
              estimate="1ms")
    results = graph.run(backend="dask", client=pair, root=root, keep_going=True)
    rows = {r["name"]: r["status"] for r in results.record["tasks"]}
    assert rows == {"bad": "failed", "data": "skipped", "order": "skipped",
                    "command": "failed", "after-command": "skipped"}
    assert not [p.name for p in root.glob("*.ran")]


def test_what_a_timeout_took_back_is_handed_over_again_and_runs(pair: Any, root: Path) -> None:
    """`slow` times out while `x` and `y` wait on the cluster behind `gate`: makespan takes them
    back, and once `gate` ends it hands them over again and they run."""
    release = root / "release"
    graph = Graph()
    graph.add(block, str(root / "slow.started"), str(release), name="slow", kind="io",
              timeout="0.3s", estimate="10s")
    gate = graph.add(block, str(root / "gate.started"), str(release), name="gate",
                     estimate="10s")
    x = graph.add(value, 1, deps=[gate], name="x", estimate="1ms")
    y = graph.add(total, x, 1, name="y", estimate="1ms")
    taken_back: list[bool] = []

    def release_once_taken_back() -> None:
        wait_file(str(root / "slow.started"))
        deadline = time.monotonic() + WAIT
        while pair.run_on_scheduler(known, ["x-", "y-"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        taken_back.append(not pair.run_on_scheduler(known, ["x-", "y-"]))
        release.touch()

    releaser = threading.Thread(target=release_once_taken_back)
    releaser.start()
    try:
        results = graph.run(backend="dask", client=pair, root=root, keep_going=True)
    finally:
        release.touch()
        releaser.join()
    rows = {r["name"]: r["status"] for r in results.record["tasks"]}
    assert taken_back == [True]
    assert rows == {"slow": "timeout", "gate": "ok", "x": "ok", "y": "ok"}
    assert results[y] == 2


def test_an_order_only_dependency_is_waited_for(pair: Any, root: Path) -> None:
    graph = Graph()
    writer = graph.add(write, str(root / "note"), "hello", name="writer", estimate="1ms")
    reader = graph.add(read, str(root / "note"), deps=[writer], name="reader", estimate="1ms")
    results = graph.run(backend="dask", client=pair, root=root)
    assert results[reader] == "hello"


# ---------------------------------------------------------------------------- faults


def test_a_killed_worker_has_its_task_rerun_elsewhere_and_nothing_is_lost(pair: Any,
                                                                          root: Path) -> None:
    pid_file, release = root / "victim.pid", root / "release"
    graph = Graph()
    early = [graph.add(value, n, name=f"early{n}") for n in range(4)]
    doomed = graph.add(victim, str(pid_file), str(release), name="victim", deps=early)
    after = graph.add(total, doomed, *early, name="after")
    killed: list[int] = []

    def kill_the_worker() -> None:
        assert wait_file(str(pid_file))
        killed.append(int(pid_file.read_text()))
        pid_file.unlink()
        os.kill(killed[0], signal.SIGKILL)
        wait_file(str(pid_file))  # the task again, on another worker
        release.touch()

    killer = concurrent.futures.ThreadPoolExecutor(1).submit(kill_the_worker)
    try:
        results = graph.run(backend="dask", client=pair, root=root, keep_going=True)
    finally:
        release.touch()
        killer.result(timeout=WAIT)
    assert results.status == "ok"
    rerun = results[doomed]
    assert rerun != killed[0] and rerun in worker_pids(pair)
    assert [results[h] for h in early] == [0, 1, 2, 3]
    assert results[after] == rerun + 6
    row = {r["name"]: r for r in results.record["tasks"]}["victim"]
    assert (row["status"], row["attempts"]) == ("ok", 1)  # Dask re-ran it, not a retry
    pair.wait_for_workers(2, timeout=WAIT)  # the nanny replaced the dead worker


def test_an_unreachable_scheduler_is_a_clear_error(root: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_tasks(root, '[tasks.a]\nrun = "touch ran"\n')
    monkeypatch.chdir(root)
    args = ["run", "--backend", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        code = pool.submit(main, args).result(timeout=60)  # only so a hang cannot stall the suite
    assert code == 1
    err = capsys.readouterr().err
    assert f"makespan: error: cannot connect to the Dask scheduler at tcp://127.0.0.1:{port}" in err
    assert "Traceback" not in err
    assert not (root / "ran").exists()


def test_a_cluster_without_workers_is_a_clear_error(root: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0",
                                  silence_logs=logging.CRITICAL) as cluster, \
            distributed.Client(cluster) as client:
        graph = Graph()
        graph.add("touch ran")
        with pytest.raises(MakespanError, match="has no workers: start some with `dask worker"):
            graph.run(backend="dask", client=client, root=root)
    assert not (root / "ran").exists()


def test_a_command_past_its_timeout_is_killed_on_its_worker(pair: Any, root: Path) -> None:
    graph = Graph()
    graph.add(["sh", "-c", tree("slow")], name="slow", timeout=0.5)
    results = graph.run(backend="dask", client=pair, root=root, keep_going=True)
    row = {r["name"]: r for r in results.record["tasks"]}["slow"]
    assert (row["status"], row["reason"]) == ("timeout", "timed out")
    assert_no_process_left(root, "slow")


def test_a_command_stopped_while_queued_on_its_worker_never_starts(single: Any,
                                                                   root: Path) -> None:
    """-j 2 on one CPU: `queued` (admitted once `running` has started) waits on the worker
    behind it when `bad` (an I/O task) fails; fail-fast stops both, and `queued` must not start
    once `running` is gone."""
    graph = Graph()
    graph.add(["sh", "-c", tree("running")], name="running")
    pre = graph.add(wait_for("running.started"), name="pre", kind="io")
    graph.add("echo $$ > queued.pid", name="queued", deps=[pre])
    graph.add(fail_once_waiting, "queued-", name="bad", kind="io")
    with pytest.raises(Exception, match="'bad' failed"):
        graph.run(backend="dask", client=single, root=root, workers=2)
    results = graph.last_results
    assert results is not None
    rows = {r["name"]: r for r in results.record["tasks"]}
    assert rows["running"]["status"] == rows["queued"]["status"] == "cancelled"
    assert not (root / "queued.pid").exists()
    assert alive_after([int((root / "running.pid").read_text())]) == []


def test_a_stopped_run_cancels_its_futures(single: Any, root: Path) -> None:
    """-j 2 on one CPU: `later` waits on the worker behind `gate` when `bad` fails, and so does
    `staged`, handed over ahead. A Python call cannot be stopped inside its thread, but neither
    must run, even once `gate` ends."""
    release = root / "release"
    graph = Graph()
    graph.add(block, str(root / "gate.started"), str(release), name="gate", estimate="10s")
    graph.add(block, str(root / "later.ran"), str(release), name="later", estimate="5s")
    graph.add(block, str(root / "staged.ran"), str(release), name="staged", estimate="1ms")
    graph.add(fail_once_waiting, "later-", name="bad", kind="io")
    try:
        with pytest.raises(Exception, match="'bad' failed"):
            graph.run(backend="dask", client=single, root=root, workers=2)
        deadline = time.monotonic() + WAIT  # the cancellation reaches the worker soon after
        while any(single.run(waiting, "later-").values()) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        release.touch()
    deadline = time.monotonic() + WAIT
    while any(single.run(busy).values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(single.run(busy).values())
    assert (root / "gate.started").exists()
    assert not (root / "later.ran").exists() and not (root / "staged.ran").exists()
    results = graph.last_results
    assert results is not None
    rows = {r["name"]: r for r in results.record["tasks"]}
    assert rows["gate"]["status"] == rows["later"]["status"] == "cancelled"


def test_ctrl_c_stops_the_run_and_its_commands_on_the_cluster(root: Path) -> None:
    """`makespan run --backend dask` with its own LocalCluster, interrupted as a terminal does
    (SIGINT to the whole process group, the cluster's worker processes included)."""
    pytest.importorskip("distributed")
    write_tasks(root, f"""
        [tasks.long]
        run = ["sh", "-c", {json.dumps(tree("long") + "; touch long.finished")}]
        [tasks.after]
        run = "touch after.ran"
        deps = ["long"]
    """)
    process = subprocess.Popen(
        [sys.executable, "-m", "makespan", "run", "--backend", "dask", "--no-history"],
        cwd=root, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (root / "long.started").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    record = read_run(root)
    assert record["status"] == "interrupted"
    assert record["tasks"]["long"]["status"] == "cancelled"
    assert record["tasks"]["after"]["status"] == "skipped"
    assert_no_process_left(root, "long")
    assert not (root / "long.finished").exists()
    assert "interrupted" in out  # the summary was printed
    assert "Traceback" not in err


# ---------------------------------------------------------------------------- packaging


def test_without_dask_the_backend_says_how_to_install_it(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    write_tasks(root, '[tasks.a]\nrun = "touch ran"\n')
    monkeypatch.chdir(root)
    assert main(["run", "--backend", "dask"]) == 2
    assert "pip install 'makespan[dask]'" in capsys.readouterr().err
    graph = Graph()
    graph.add("touch ran")
    with pytest.raises(InputError, match=r"pip install 'makespan\[dask\]'"):
        graph.run(backend="dask", root=root)
    assert not (root / "ran").exists()
