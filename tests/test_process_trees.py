"""CPU tasks that start processes of their own: nothing of them outlives the run.

A task runs in a persistent worker process, so stopping it (a timeout, fail-fast) must reach the
worker's whole tree, a worker that dies must be reported even while a descendant holds its
socket, and whatever a task left running is killed when the run ends. Each task writes the PIDs
of what it starts to `*.pid` files; once `run()` returns, none of them may be running.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from makespan import Graph, Results, TaskFailed
from run_helpers import alive_after, kill_leftovers, tree

WAIT = 20.0
"""Seconds a task waits for another's file before giving up (only if the engine misbehaves)."""

# ---------------------------------------------------------------------------- task functions
# Module-level, so worker processes import them by reference.


def start_tree(directory: str, name: str) -> None:
    """Start a child that leaves the worker's group for its own session, and a shell that starts
    a grandchild (both in the group); record their PIDs; then wait for the shell, for ever."""
    stray = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    Path(directory, f"{name}.stray.pid").write_text(str(stray.pid))
    subprocess.run(["/bin/sh", "-c", tree(name)], cwd=directory, check=False)


def fail_once_started(directory: str, name: str) -> None:
    """Fail once the task `name` of `start_tree` has started its whole tree."""
    deadline = time.monotonic() + WAIT
    while not Path(directory, f"{name}.started").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    raise RuntimeError("boom")


def leave_running(directory: str) -> str:
    """Start a process in the worker's group and one in a session of its own, then return."""
    for name, own_session in (("background", False), ("daemon", True)):
        child = subprocess.Popen(["sleep", "1000"], start_new_session=own_session)
        Path(directory, f"{name}.pid").write_text(str(child.pid))
    return "left"


def die_leaving_a_child(directory: str) -> None:
    """Fork a child that keeps the worker's socket open for 30 s, then end the worker."""
    child = os.fork()
    if child == 0:
        time.sleep(30)  # its lifetime, not a wait for anything
        os._exit(0)
    Path(directory, "forked.pid").write_text(str(child))
    Path(directory, "worker").write_text(str(os.getpid()))
    os._exit(3)


# ---------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    yield
    kill_leftovers(tmp_path)  # only what a failed test left: a passing one left nothing


def assert_gone(root: Path, count: int) -> None:
    """The tasks recorded `count` PIDs (`*.pid` files), and none of them is running."""
    recorded = [int(path.read_text()) for path in root.glob("*.pid")]
    assert len(recorded) == count, "a task did not record its PIDs"
    assert alive_after(recorded) == []


def rows(results: Results | None) -> dict[str, dict[str, Any]]:
    assert results is not None
    return {row["name"]: row for row in results.record["tasks"]}


# ---------------------------------------------------------------------------- tests


def test_a_timed_out_cpu_task_leaves_no_process(tmp_path: Path) -> None:
    graph = Graph()
    graph.add(start_tree, str(tmp_path), "slow", name="slow", kind="cpu", timeout="3s")
    with pytest.raises(TaskFailed) as caught:
        graph.run(workers=1, root=tmp_path)
    assert (caught.value.task, caught.value.kind) == ("slow", "Timeout")
    assert_gone(tmp_path, 3)


def test_fail_fast_leaves_no_process_of_a_cancelled_cpu_task(tmp_path: Path) -> None:
    graph = Graph()
    graph.add(start_tree, str(tmp_path), "victim", name="victim", kind="cpu")
    graph.add(fail_once_started, str(tmp_path), "victim", name="bad", kind="cpu")
    with pytest.raises(TaskFailed) as caught:
        graph.run(workers=2, root=tmp_path)
    assert caught.value.task == "bad"
    assert rows(graph.last_results)["victim"]["status"] == "cancelled"
    assert_gone(tmp_path, 3)


def test_what_a_cpu_task_left_running_does_not_outlive_the_run(tmp_path: Path) -> None:
    graph = Graph()
    task = graph.add(leave_running, str(tmp_path), kind="cpu")
    results = graph.run(workers=1, root=tmp_path)
    assert results[task] == "left"
    assert_gone(tmp_path, 2)


def _has_pidfd() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


@pytest.mark.skipif(not _has_pidfd(), reason="needs pidfd_open (Linux 5.3+): without it a "
                    "worker's death is seen when its socket closes, which the child delays")
def test_a_dying_worker_is_reported_while_its_child_holds_the_socket(tmp_path: Path) -> None:
    """One slot, so the estimates fix the order: `dying`, then `later` on a new worker."""
    graph = Graph()
    graph.add(die_leaving_a_child, str(tmp_path), name="dying", kind="cpu", estimate="20s")
    later = graph.add(os.getpid, name="later", kind="cpu")
    results = graph.run(workers=1, keep_going=True, root=tmp_path)
    table = rows(results)
    dying = table["dying"]
    assert (dying["status"], dying["exit_code"]) == ("failed", 3)
    assert dying["end"] - dying["start"] < 10  # not when the child, which lives 30 s, exits
    assert table["later"]["status"] == "ok" and table["later"]["start"] >= dying["end"]
    assert results[later] != int((tmp_path / "worker").read_text())
    assert_gone(tmp_path, 1)  # the child the dead worker left behind
