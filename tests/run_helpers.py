"""Shared by the `makespan run` tests: task files, shell snippets, record and process checks."""

from __future__ import annotations

import contextlib
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil

STATUSES = {"ok", "failed", "timeout", "skipped", "cancelled"}
TASK_FIELDS = {"name", "status", "start", "end", "slot", "exit_code", "attempts", "peak_rss"}
METRIC_FIELDS = {"work", "span", "speedup", "efficiency", "utilization", "critical_path"}


def write_tasks(directory: Path, text: str) -> Path:
    path = directory / "makespan.toml"
    path.write_text(textwrap.dedent(text))
    return path


IDLE_ON_PURPOSE = (("a", 1, ()), ("b", 2, ()), ("c", 1, ("a",)), ("d", 1, ("a",)),
                   ("e", 2, ("c", "d")))
"""(name, estimate in seconds, deps) of the graph where only a strict start sequence reaches
the optimum on 2 workers: 4, holding b back; starting whatever is ready takes 5
(tests/test_optimize.py draws it)."""


def idle_on_purpose_tasks(command: Any) -> str:
    """IDLE_ON_PURPOSE as a task file; `command(estimate)` gives each task's command."""
    lines = []
    for name, estimate, deps in IDLE_ON_PURPOSE:
        lines += [f"[tasks.{name}]", f"run = {json.dumps(command(estimate))}",
                  f'estimate = "{estimate}s"', f"deps = {json.dumps(list(deps))}"]
    return "\n".join(lines) + "\n"


def wait_for(path: str) -> str:
    """A shell snippet that waits (at most about 10 s) for `path`, and fails if it never shows."""
    return (f"i=0; while [ ! -e {path} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; "
            f"[ -e {path} ]")


def tree(name: str) -> str:
    """A shell script for a task that never ends on its own: it starts a grandchild and waits.

    It writes its own PID to `<name>.pid`, the grandchild's to `<name>.grandchild.pid`, then
    creates `<name>.started`.
    """
    return (f"echo $$ > {name}.pid; sleep 1000 & echo $! > {name}.grandchild.pid; "
            f"touch {name}.started; wait")


def read_run(root: Path) -> dict[str, Any]:
    """The run's record, checked: both copies whole and identical, no temporary file left over,
    every contract field present. Its `tasks` are returned keyed by name."""
    last = json.loads((root / ".makespan" / "last-run.json").read_text())
    by_id = json.loads((root / ".makespan" / "runs" / f"{last['id']}.json").read_text())
    assert by_id == last
    leftovers = [p.name for d in (root / ".makespan", root / ".makespan" / "runs")
                 for p in d.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert {"status", "wall", "workers", "metrics", "tasks"} <= last.keys()
    assert last["metrics"].keys() >= METRIC_FIELDS
    for row in last["tasks"]:
        assert row.keys() >= TASK_FIELDS
        assert row["status"] in STATUSES
    return {**last, "tasks": {row["name"]: row for row in last["tasks"]}}


def events(document: dict[str, Any], kind: str, task: str | None = None) -> list[dict[str, Any]]:
    return [e for e in document["events"]
            if e["kind"] == kind and (task is None or e.get("task") == task)]


def pids(root: Path, *names: str) -> list[int]:
    """The PIDs the tasks wrote to `<name>.pid` and `<name>.grandchild.pid`."""
    found = []
    for name in names:
        for file in (f"{name}.pid", f"{name}.grandchild.pid"):
            path = root / file
            if path.exists():
                found.append(int(path.read_text()))
    return found


def _alive(process: psutil.Process) -> bool:
    # A killed grandchild is re-parented to PID 1, which may never reap it: a zombie is dead.
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def alive_after(pid_list: list[int], timeout: float = 10.0) -> list[int]:
    """The PIDs still running once `timeout` has passed (returns early when none is)."""
    procs = []
    for pid in pid_list:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        psutil.wait_procs(alive, timeout=0.05)
        alive = [p for p in alive if _alive(p)]
    return [p.pid for p in alive]


def assert_no_process_left(root: Path, *names: str) -> None:
    found = pids(root, *names)
    assert len(found) == 2 * len(names), "a task did not record its PIDs"
    assert alive_after(found) == []


def kill_leftovers(root: Path) -> None:
    """Clean-up after a failed test: SIGKILL what our tasks recorded and is still running."""
    for path in root.glob("*.pid"):
        try:
            process = psutil.Process(int(path.read_text()))
            # Only a process that existed when the file was written (not a reused PID).
            if _alive(process) and process.create_time() <= path.stat().st_mtime + 1:
                process.kill()
        except (psutil.Error, ValueError):
            pass
