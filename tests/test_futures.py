"""`makespan.Executor` against what the stdlib executors promise (concurrent.futures docs):
map keeps input order (with or without chunksize), result() re-raises the call's exception,
cancel() works on pending futures only and a cancelled call never runs, shutdown(wait=False)
returns at once, shutdown(cancel_futures=True) cancels what has not started, the context
manager waits, and submit after shutdown raises RuntimeError. Plus what makespan adds: kind,
memory and estimate per submit, and the run's record.

Blocking tasks wait on a threading.Event (io tasks share this process) or on a file (cpu tasks
run in worker processes), never on a sleep.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from makespan import Executor, InputError, MakespanError, TaskFailed
from makespan.executors.processes import worker_base_rss

WAIT = 20.0
R = TypeVar("R")


class Boom(Exception):
    pass


def square(x: int) -> int:
    return x * x


def power(x: int, y: int) -> int:
    return int(x**y)


def explode(message: str) -> None:
    raise Boom(message)


def die() -> None:
    os._exit(5)


def pid() -> int:
    return os.getpid()


def wait_for_file(path: str) -> str:
    deadline = time.monotonic() + WAIT
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return "never released"
        time.sleep(0.005)
    return "released"


def spans(path: str) -> tuple[float, float]:
    """Start and end (monotonic) of a short task that waits for nothing but a file check."""
    began = time.monotonic()
    wait_for_file(path)
    return began, time.monotonic()


def _running(future: concurrent.futures.Future[R]) -> concurrent.futures.Future[R]:
    """`future`, once its call has started (failing the test if it does not start in time)."""
    deadline = time.monotonic() + WAIT
    while not future.running() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert future.running()
    return future


@pytest.fixture
def io_pool(tmp_path: Path) -> Iterator[Executor]:
    pool = Executor(workers=2, io_workers=2, kind="io", root=tmp_path)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------- map and results


@pytest.mark.parametrize("kind", ["io", "cpu"])
@pytest.mark.parametrize("chunksize", [1, 7])
def test_map_keeps_the_input_order(kind: Any, chunksize: int, tmp_path: Path) -> None:
    with Executor(workers=2, kind=kind, root=tmp_path) as pool:
        assert list(pool.map(power, range(40), [2] * 40, chunksize=chunksize)) == [
            x * x for x in range(40)]
        assert list(pool.map(square, [])) == []


def test_map_rejects_a_chunksize_under_one(io_pool: Executor) -> None:
    with pytest.raises(ValueError):
        io_pool.map(square, [1], chunksize=0)


def test_map_reraises_at_the_failing_item(io_pool: Executor) -> None:
    results = io_pool.map(lambda x: 1 // x, [1, 0, 2])
    assert next(results) == 1
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_map_times_out_on_a_result_not_ready(io_pool: Executor) -> None:
    release = threading.Event()
    results = io_pool.map(lambda _: release.wait(WAIT), [1], timeout=0.05)
    try:
        with pytest.raises(TimeoutError):
            next(results)
    finally:
        release.set()


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_result_reraises_the_calls_own_exception(kind: Any, tmp_path: Path) -> None:
    with Executor(workers=1, kind=kind, root=tmp_path) as pool:
        future = pool.submit(explode, "kaboom")
        with pytest.raises(Boom, match="kaboom") as caught:
            future.result(timeout=WAIT)
        assert isinstance(future.exception(), Boom)
        if kind == "cpu":  # from a worker process: its traceback comes along as the cause
            cause = caught.value.__cause__
            assert isinstance(cause, TaskFailed) and "in explode" in cause.traceback
        else:
            assert caught.value.__traceback__ is not None
        assert pool.submit(square, 3).result(timeout=WAIT) == 9  # the pool goes on


def test_a_dead_worker_fails_its_future_and_the_pool_goes_on(tmp_path: Path) -> None:
    with Executor(workers=1, root=tmp_path) as pool:
        before = pool.submit(pid).result(timeout=WAIT)
        with pytest.raises(TaskFailed, match="worker process died"):
            pool.submit(die).result(timeout=WAIT)
        after = pool.submit(pid).result(timeout=WAIT)
    assert after != before


def test_futures_work_with_wait_and_as_completed(io_pool: Executor) -> None:
    futures = [io_pool.submit(square, n) for n in range(10)]
    done, pending = concurrent.futures.wait(futures, timeout=WAIT)
    assert (len(done), pending) == (10, set())
    assert sorted(f.result() for f in concurrent.futures.as_completed(futures)) == [
        n * n for n in range(10)]


# ---------------------------------------------------------------------------- cancellation


def test_cancel_works_on_pending_futures_only_and_they_never_run(tmp_path: Path) -> None:
    release = threading.Event()
    ran: list[int] = []
    pool = Executor(workers=1, io_workers=1, kind="io", root=tmp_path)
    try:
        blocker = pool.submit(release.wait, WAIT)
        pending = [pool.submit(ran.append, n) for n in range(5)]
        _running(blocker)
        assert not blocker.cancel()  # running: too late
        assert [f.cancel() for f in pending[1:4]] == [True] * 3
        release.set()
        assert blocker.result(timeout=WAIT) is True
        assert pending[0].result(timeout=WAIT) is None
        assert pending[4].result(timeout=WAIT) is None
        assert all(f.cancelled() for f in pending[1:4])
        with pytest.raises(concurrent.futures.CancelledError):
            pending[2].result()
    finally:
        release.set()
        pool.shutdown()
    assert ran == [0, 4]
    assert pool.record is not None
    rows = {row["name"]: row for row in pool.record["tasks"]}
    assert rows["append#1"]["status"] == rows["append#5"]["status"] == "ok"
    for name in ("append#2", "append#3", "append#4"):  # withdrawn, or never added at all
        assert name not in rows or rows[name]["status"] == "skipped"


def test_shutdown_with_cancel_futures_runs_only_what_started(tmp_path: Path) -> None:
    release = tmp_path / "release"
    pool = Executor(workers=1, kind="cpu", root=tmp_path)
    blocker = _running(pool.submit(wait_for_file, str(release)))
    pending = [pool.submit(square, n) for n in range(4)]
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in pending)
    assert not blocker.cancelled()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(square, 1)
    release.touch()
    pool.shutdown(wait=True)
    assert blocker.result() == "released"
    assert pool.record is not None
    assert [row["status"] for row in pool.record["tasks"] if row["status"] == "ok"] == ["ok"]


def test_shutdown_without_waiting_returns_while_work_goes_on(tmp_path: Path) -> None:
    release = threading.Event()
    pool = Executor(workers=1, io_workers=1, kind="io", root=tmp_path)
    blocked = pool.submit(release.wait, WAIT)
    queued = pool.submit(square, 4)
    closer = threading.Thread(target=pool.shutdown, kwargs={"wait": False})
    closer.start()
    closer.join(WAIT)
    assert not closer.is_alive()  # returned although a task is still blocked
    assert not blocked.done()
    with pytest.raises(RuntimeError):
        pool.submit(square, 1)
    release.set()
    assert blocked.result(timeout=WAIT) is True
    assert queued.result(timeout=WAIT) == 16  # submitted before shutdown: still runs
    pool.shutdown(wait=True)
    assert pool.record is not None and pool.record["status"] == "ok"


# ---------------------------------------------------------------------------- lifecycle


def test_the_context_manager_waits_and_writes_the_record(tmp_path: Path) -> None:
    with Executor(workers=2, root=tmp_path) as pool:
        futures = [pool.submit(square, n) for n in range(6)]
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == [n * n for n in range(6)]
    assert pool.record is not None
    written = json.loads((tmp_path / ".makespan" / "last-run.json").read_text())
    assert written["id"] == pool.record["id"]
    assert written["front_end"] == "executor"
    assert {"work", "span", "speedup", "efficiency", "utilization"} <= written["metrics"].keys()
    assert [row["status"] for row in written["tasks"]] == ["ok"] * 6
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(square, 1)


def test_kind_per_submit_chooses_thread_or_process(tmp_path: Path) -> None:
    with Executor(workers=1, root=tmp_path) as pool:
        here = pool.submit(pid, kind="io").result(timeout=WAIT)
        there = pool.submit(pid, kind="cpu").result(timeout=WAIT)
    assert here == os.getpid() != there
    rows = {row["name"]: row for row in pool.record["tasks"]} if pool.record else {}
    assert rows["pid#0"]["slot"].startswith("io-") and rows["pid#1"]["slot"].startswith("cpu-")


def test_memory_per_submit_keeps_tasks_apart(tmp_path: Path) -> None:
    """Two slots, but a budget that fits one of the two tasks at a time: they never overlap."""
    marker = tmp_path / "nothing"
    with Executor(workers=2, io_workers=2, kind="io", memory="100MB", root=tmp_path) as pool:
        first = pool.submit(spans, str(marker), memory="80MB", estimate="1s")
        second = pool.submit(spans, str(marker), memory="80MB", estimate="1s")
        marker.touch()
        (a0, a1), (b0, b1) = first.result(timeout=WAIT), second.result(timeout=WAIT)
    assert a1 <= b0 or b1 <= a0
    rows = {row["name"]: row for row in pool.record["tasks"]} if pool.record else {}
    one, two = rows["spans#0"], rows["spans#1"]
    assert one["end"] <= two["start"] or two["end"] <= one["start"]


def test_a_cpu_submits_memory_counts_its_workers_base(tmp_path: Path) -> None:
    """Data that fits the budget twice, but not with a worker's base memory each (the guide's
    Base + Data_Per_Task): the two cpu tasks never overlap."""
    data, base = 20 * 2**20, worker_base_rss()
    with Executor(workers=2, memory=2 * data + base, root=tmp_path) as pool:
        for _ in range(2):
            pool.submit(time.sleep, 0.3, memory=data)
    assert pool.record is not None
    one, two = sorted(pool.record["tasks"], key=lambda row: row["start"])
    assert two["start"] >= one["end"]
    assert pool.record["memory_base"] == base


def test_bad_options_per_submit(io_pool: Executor) -> None:
    with pytest.raises(InputError) as caught:
        io_pool.submit(square, 1, memory="plenty")
    assert caught.value.field == "memory"
    with pytest.raises(InputError) as caught:
        io_pool.submit(square, 1, estimate="later")
    assert caught.value.field == "estimate"
    with pytest.raises(InputError) as caught:
        io_pool.submit(square, 1, kind="gpu")
    assert caught.value.field == "kind"
    too_big = io_pool.submit(square, 1, memory="1000TB")  # over the budget: the future says so
    with pytest.raises(InputError, match="budget"):
        too_big.result(timeout=WAIT)
    assert io_pool.submit(square, 5, estimate="2s").result(timeout=WAIT) == 25


def test_an_executor_inside_a_task_is_refused(io_pool: Executor) -> None:
    def nested() -> None:
        Executor(workers=1)

    with pytest.raises(MakespanError, match="inside task"):
        io_pool.submit(nested).result(timeout=WAIT)


# ---------------------------------------------------------------------------- at exit

EXIT_SCRIPT = '''
import os, sys, time
from makespan import Executor

def work(folder, name):
    """Ends only after the script has: its own end is the one thing it waits for."""
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(folder, "ended")) and time.monotonic() < deadline:
        time.sleep(0.005)
    with open(os.path.join(folder, name), "w") as out:
        out.write(str(os.getpid()))

folder, how = sys.argv[1], sys.argv[2]
print(os.getpid())
pool = Executor(workers=1, io_workers=1, root=folder)
pool.submit(work, folder, "io", kind="io")
pool.submit(work, folder, "cpu", kind="cpu")
if how == "shutdown(wait=False)":
    pool.shutdown(wait=False)
open(os.path.join(folder, "ended"), "w").close()
'''


def _left_behind(marker: str) -> list[psutil.Process]:
    """Running processes whose environment holds `marker` (those a script started, and theirs)."""
    left = []
    for process in psutil.process_iter(["environ", "status"]):
        environ = process.info["environ"] or {}
        if environ.get("MAKESPAN_EXIT_TEST") == marker and (
                process.info["status"] != psutil.STATUS_ZOMBIE):
            left.append(process)
    return left


@pytest.mark.parametrize("how", ["no shutdown", "shutdown(wait=False)"])
def test_work_submitted_before_exit_completes_like_the_stdlib(how: str, tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(EXIT_SCRIPT)
    marker = str(tmp_path)
    ended = subprocess.run([sys.executable, str(script), str(tmp_path), how],
                           env={**os.environ, "MAKESPAN_EXIT_TEST": marker},
                           capture_output=True, text=True, timeout=3 * WAIT)
    assert (ended.returncode, ended.stderr) == (0, "")
    script_pid = int(ended.stdout)
    assert int((tmp_path / "io").read_text()) == script_pid  # io: a thread of the script
    worker = int((tmp_path / "cpu").read_text())
    assert worker != script_pid
    record = json.loads((tmp_path / ".makespan" / "last-run.json").read_text())
    assert record["status"] == "ok"
    assert sorted(row["status"] for row in record["tasks"]) == ["ok", "ok"]
    assert _left_behind(marker) == []
    assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == (
        psutil.STATUS_ZOMBIE)


INTERRUPT_SCRIPT = '''
import os, signal, subprocess, sys, threading, time
from makespan import Executor

def work(folder):
    """Starts a child, says so, and would run for a minute."""
    subprocess.Popen(["sleep", "1000"])
    open(os.path.join(folder, "started"), "w").close()
    time.sleep(60)

def interrupt(times):
    for _ in range(times):
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

folder, times = sys.argv[1], int(sys.argv[2])
try:
    with Executor(workers=1, root=folder) as pool:
        pool.submit(work, folder)
        while not os.path.exists(os.path.join(folder, "started")):
            time.sleep(0.01)
        threading.Thread(target=interrupt, args=(times,), daemon=True).start()
except KeyboardInterrupt:
    sys.exit(130)
'''


@pytest.mark.parametrize("times", [1, 2])
def test_ctrl_c_while_the_executor_waits_stops_its_run_and_leaves_nothing(
        times: int, tmp_path: Path) -> None:
    """Interrupted while `with Executor()` waits for its work: the running task is stopped
    with its process tree, the record says so, and the interrupt reaches the program."""
    script = tmp_path / "script.py"
    script.write_text(INTERRUPT_SCRIPT)
    marker = str(tmp_path)
    began = time.monotonic()
    ended = subprocess.run([sys.executable, str(script), str(tmp_path), str(times)],
                           env={**os.environ, "MAKESPAN_EXIT_TEST": marker},
                           capture_output=True, text=True, timeout=3 * WAIT)
    left = _left_behind(marker)
    for process in left:  # only if the test fails: nothing may outlive it
        process.kill()
    assert ended.returncode == 130, ended.stderr
    assert time.monotonic() - began < 30  # not when the task would have ended (60 s)
    record = json.loads((tmp_path / ".makespan" / "last-run.json").read_text())
    assert record["status"] == "interrupted"
    assert [row["status"] for row in record["tasks"]] == ["cancelled"]
    assert left == []


# ---------------------------------------------------------------------------- nested use


def test_a_task_submitting_into_its_own_executor_gets_a_clear_error(tmp_path: Path) -> None:
    """With every slot busy, the inner task would wait for the outer one's slot: refused."""
    pool = Executor(workers=1, io_workers=1, kind="io", root=tmp_path)

    def outer() -> int:
        return pool.submit(square, 5).result()

    def mapper() -> list[int]:
        return list(pool.map(square, [1, 2]))

    try:
        for task, name in ((outer, "outer#0"), (mapper, "mapper#1")):
            with pytest.raises(MakespanError, match=f"inside task '{name}' of this same Exec"):
                pool.submit(task).result(timeout=WAIT)
        assert pool.submit(square, 3).result(timeout=WAIT) == 9  # the pool goes on
    finally:
        _shut_down_within(pool, WAIT)


def test_a_task_may_submit_work_for_the_other_pool(tmp_path: Path) -> None:
    """An io task holds an io slot; the cpu task it waits for needs a cpu slot: no deadlock."""
    pool = Executor(workers=1, io_workers=1, kind="io", root=tmp_path)

    def outer() -> int:
        return pool.submit(square, 4, kind="cpu").result(timeout=WAIT)

    try:
        assert pool.submit(outer).result(timeout=WAIT) == 16
    finally:
        _shut_down_within(pool, WAIT)


def test_a_task_waiting_for_its_own_executors_shutdown_gets_a_clear_error(
        tmp_path: Path) -> None:
    pool = Executor(workers=1, io_workers=1, kind="io", root=tmp_path)
    try:
        with pytest.raises(MakespanError, match=r"shutdown\(wait=True\) was called inside task"):
            pool.submit(pool.shutdown).result(timeout=WAIT)
        with pytest.raises(MakespanError, match="inside task"):
            pool.submit(lambda: pool.__exit__(None, None, None)).result(timeout=WAIT)
        assert pool.submit(square, 2).result(timeout=WAIT) == 4  # refused: nothing shut down
    finally:
        _shut_down_within(pool, WAIT)


def test_a_task_of_one_executor_may_use_another(tmp_path: Path) -> None:
    """Only submitting into one's own executor is refused: another has slots of its own. Task
    names are no identity: each executor here runs a task named `relay#0` at the same time."""
    release = threading.Event()

    def relay(x: int) -> Any:
        return inner.submit(square, x).result(timeout=WAIT) if x else release.wait(WAIT)

    with Executor(workers=1, io_workers=2, kind="io", root=tmp_path / "a") as inner, \
            Executor(workers=1, io_workers=1, kind="io", root=tmp_path / "b") as outer:
        waiting = _running(inner.submit(relay, 0))
        try:
            assert outer.submit(relay, 6).result(timeout=WAIT) == 36
        finally:
            release.set()
        assert waiting.result(timeout=WAIT) is True


def _shut_down_within(pool: Executor, seconds: float) -> None:
    """Shut `pool` down, failing (rather than hanging the suite) if that takes too long."""
    closer = threading.Thread(target=pool.shutdown, daemon=True)
    closer.start()
    closer.join(seconds)
    assert not closer.is_alive(), "shutdown hung"


# ---------------------------------------------------------------------------- pool sizes


@pytest.mark.parametrize(("options", "field"), [
    ({"workers": 0}, "workers"),
    ({"workers": -1}, "workers"),
    ({"workers": "4"}, "workers"),
    ({"io_workers": 0}, "io_workers"),
    ({"max_workers": 0}, "max_workers"),
    ({"max_workers": 2, "workers": 2}, "max_workers"),
    ({"max_workers": 2, "io_workers": 2, "kind": "io"}, "max_workers"),
    ({"kind": "gpu"}, "kind"),
])
def test_bad_pool_options_are_refused_before_anything_starts(
        options: dict[str, Any], field: str, tmp_path: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    engines = _engine_threads()
    with pytest.raises(InputError) as caught:
        Executor(root=tmp_path, **options)
    assert caught.value.field == field
    assert _engine_threads() == engines
    assert capfd.readouterr().err == ""  # no traceback from another thread


def _engine_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "makespan-executor")


@pytest.mark.parametrize(("kind", "sizes"), [("cpu", {"cpu": 3}), ("io", {"io": 3})])
def test_max_workers_sizes_the_pool_of_the_default_kind(
        kind: Any, sizes: dict[str, int], tmp_path: Path) -> None:
    with Executor(max_workers=3, kind=kind, root=tmp_path) as pool:
        assert pool.submit(square, 2).result(timeout=WAIT) == 4
    assert pool.record is not None
    assert pool.record["workers"].items() >= sizes.items()


def test_max_workers_goes_with_the_other_kinds_size(tmp_path: Path) -> None:
    with Executor(max_workers=3, workers=2, kind="io", root=tmp_path) as pool:
        pass
    assert pool.record is not None
    assert (pool.record["workers"]["cpu"], pool.record["workers"]["io"]) == (2, 3)


def test_a_cancelled_future_is_done_for_wait_and_as_completed(tmp_path: Path) -> None:
    """As with the stdlib: `wait` and `as_completed` see a cancelled future as done."""
    marker = tmp_path / "go"
    with Executor(workers=1, io_workers=1, kind="io", root=tmp_path) as pool:
        blocker = _running(pool.submit(wait_for_file, str(marker)))
        queued = [pool.submit(square, n) for n in range(20)]
        cancelled = [f for f in queued[::2] if f.cancel()]
        assert cancelled
        marker.touch()
        done, not_done = concurrent.futures.wait(queued, timeout=WAIT)
        assert not not_done
        assert sorted(f.result() for f in done if not f.cancelled()) == sorted(
            n * n for n, f in enumerate(queued) if not f.cancelled())
        assert set(concurrent.futures.as_completed(cancelled, timeout=WAIT)) == set(cancelled)
        blocker.result(timeout=WAIT)
