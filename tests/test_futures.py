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
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from makespan import Executor, InputError, MakespanError, TaskFailed

WAIT = 20.0


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
        started = time.monotonic()
        while not blocker.running() and time.monotonic() - started < WAIT:
            time.sleep(0.001)
        assert blocker.running()
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
    blocker = pool.submit(wait_for_file, str(release))
    started = time.monotonic()
    while not blocker.running() and time.monotonic() - started < WAIT:
        time.sleep(0.001)
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
