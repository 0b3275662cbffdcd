"""Running a task graph from start to record: the library call behind `makespan run`.

It prepares the run (id, directories, resources, priorities from the planner), hands the graph
to the engine, and writes the record however the run ends: success, failure, timeout or
interruption all leave `.makespan/runs/<id>.json`, `.makespan/last-run.json` and every finished
task's log behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from makespan.engine import Engine, ExecutorFactory, RunOptions
from makespan.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, InputError, TaskFailed
from makespan.metrics import compute
from makespan.model import TaskGraph
from makespan.plan import Ordering, order_kind
from makespan.record import RUNS_DIR, RunRecord, TaskResult, encode, write_record
from makespan.resources import Resources


@dataclass(frozen=True, slots=True)
class RunResult:
    document: dict[str, Any]
    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    """Results of the Python tasks that succeeded, by task name."""
    failures: dict[str, TaskFailed] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.document["status"])

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(self.status, EXIT_FAILED)


def new_run_id() -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the garbage collector off what exists before a run (the graph, the caller's data)
    until it ends. A run makes and drops objects by the task; each full collection that this
    triggers would walk the whole graph again, which for a no-op task cost more than a tenth of
    its run. Garbage made during the run is still collected. A caller that froze the heap
    itself (a pre-fork server, say) keeps it frozen: nothing is done then."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_graph(
    graph: TaskGraph,
    resources: Resources,
    durations: list[float],
    prediction: Ordering,
    make_executor: ExecutorFactory,
    root: Path,
    options: RunOptions,
    listen: Callable[[RunRecord], None] | None = None,
    info: dict[str, Any] | None = None,
    on_engine: Callable[[Engine], None] | None = None,
) -> RunResult:
    """Run `graph` in `prediction`'s order and write its record under `root`.

    `listen` is called with the record before anything starts, to attach displays;
    `on_engine` with the engine, for callers that feed it work as it runs.
    """
    run_id = new_run_id()
    logs = root / RUNS_DIR / run_id / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    record = RunRecord(run_id, (t.name for t in graph.tasks))
    record.info.update(info or {})
    names = graph.names(range(len(graph)))
    record.info["predicted"] = {
        "makespan": prediction.makespan,
        "critical_path": list(prediction.critical_path),
        "start": dict(zip(names, prediction.start, strict=True)),
        "duration": dict(zip(names, prediction.durations, strict=True)),
        "order": order_kind(prediction.strict),
    }
    if listen is not None:
        listen(record)
    engine = Engine(graph, resources, durations, prediction.position, make_executor, record,
                    logs, options, prediction.strict)
    if on_engine is not None:
        on_engine(engine)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        engine.run()
    finally:
        wall = engine.now()
        status = "interrupted" if engine.interrupted else "failed" if engine.failed else "ok"
        document = _document(record, graph, resources, wall, status, started_at)
        document["record"] = str(root / RUNS_DIR / f"{record.id}.json")
        path = write_record(document, root)
    return RunResult(document, path, engine.values, engine.failures)


RECORD_FIELDS = frozenset({
    "id", "status", "started_at", "cwd", "wall", "workers", "metrics", "paused",
    "memory_overruns", "tasks", "events", "record", "predicted", "front_end", "backend",
    "scheduler", "file", "findings", "estimates", "after_run", "worker_base_rss", "memory_base",
})
"""The fields makespan writes in a run record: a caller's `info` may not replace them. (The
patterns add `chunking` through `info`, as a caller would.)"""


def check_info(info: dict[str, Any]) -> None:
    """Refuse, before anything runs, caller facts for the record that would replace one of its
    own fields, or that cannot be written as JSON (the run would end without a record)."""
    for key, value in info.items():
        if key in RECORD_FIELDS:
            raise InputError(f"'{key}' is a field of the run record itself: use another name",
                             field=f"info.{key}")
        try:
            encode({key: value})
        except TypeError as error:
            raise InputError(f"cannot be written in the run record (JSON): {error}",
                             field=f"info.{key}") from None


def _document(record: RunRecord, graph: TaskGraph, resources: Resources, wall: float,
              status: str, started_at: str) -> dict[str, Any]:
    rows = record.tasks()
    paused = _paused_seconds(record, wall)
    metrics = compute(graph, rows, resources, wall, paused)
    return {
        "id": record.id,
        "status": status,
        "started_at": started_at,
        "cwd": os.getcwd(),
        **record.info,
        "wall": wall,
        "workers": {"cpu": resources.cpu, "io": resources.io, "memory": resources.memory},
        "metrics": metrics.to_json(),
        "paused": paused,
        "memory_overruns": memory_overruns(graph, rows),
        "tasks": [row.to_json() for row in rows],
        "events": [event.to_json() for event in record.events],
    }


def _paused_seconds(record: RunRecord, wall: float) -> float:
    total, since = 0.0, None
    for event in record.events:
        if event.kind == "paused":
            since = event.time
        elif event.kind == "resumed" and since is not None:
            total += event.time - since
            since = None
    return total + (wall - since if since is not None else 0.0)


OVERRUN_FACTOR = 2.0
OVERRUN_MARGIN = 64 * 2**20


def memory_overruns(graph: TaskGraph, rows: list[TaskResult]) -> list[dict[str, Any]]:
    """Tasks whose peak memory went far past their estimate (twice it, and 64 MiB more)."""
    flags = []
    for task, row in zip(graph.tasks, rows, strict=True):
        if task.memory and row.peak_rss and row.peak_rss > max(
            OVERRUN_FACTOR * task.memory, task.memory + OVERRUN_MARGIN
        ):
            flags.append({"task": task.name, "peak_rss": row.peak_rss, "estimate": task.memory})
    return flags
