"""The run record: one append-only list of events that everything else reads.

The engine appends an `Event` for every observable thing (a task started, finished, was retried
or skipped, a resource sample, a pause for memory); the per-task table, the metrics, the summary,
the progress display and the reports are all computed from these events, so there is no second
source of truth. `write_record` stores the record as JSON atomically (write, then rename), in
`.makespan/runs/<id>.json` and `.makespan/last-run.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple

import orjson

EventKind = Literal[
    "started", "finished", "retrying", "skipped", "sample", "paused", "resumed", "interrupted",
    "ended",
]
Status = Literal["ok", "failed", "timeout", "skipped", "cancelled"]
RUNS_DIR = Path(".makespan") / "runs"
LAST_RUN = Path(".makespan") / "last-run.json"


class Event(NamedTuple):
    """One thing that happened, `time` seconds after the run started.

    A named tuple rather than a frozen dataclass: a run makes two per task, and a frozen
    dataclass costs four times as much to make (1.3 µs against 0.3)."""

    kind: EventKind
    time: float
    task: str | None
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        kind, time, task, data = self  # unpacked: cheaper than four attribute reads
        if task is None:
            return {"kind": kind, "time": time, **data}
        return {"kind": kind, "time": time, "task": task, **data}


@dataclass(slots=True)
class TaskResult:
    """A task's row in the record, folded from its events."""

    name: str
    status: Status | None = None
    start: float | None = None
    end: float | None = None
    slot: str | None = None
    exit_code: int | None = None
    attempts: int = 0
    peak_rss: int | None = None
    reason: str | None = None
    log: str | None = None

    @property
    def duration(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "start": self.start,
            "end": self.end,
            "slot": self.slot,
            "exit_code": self.exit_code,
            "attempts": self.attempts,
            "peak_rss": self.peak_rss,
            "reason": self.reason,
            "log": self.log,
        }


class RunRecord:
    """The events of one run, with listeners (display, progress) told of each as it happens."""

    def __init__(self, run_id: str, task_names: Iterable[str]) -> None:
        self.id = run_id
        self.task_names = list(task_names)
        self.events: list[Event] = []
        self.listeners: list[Callable[[Event], None]] = []
        self.info: dict[str, Any] = {}
        """Run-level facts the engine knows up front: workers, prediction, file, command."""

    def add(self, kind: EventKind, time: float, task: str | None = None, **data: Any) -> Event:
        event = Event(kind, time, task, data)
        self.events.append(event)
        for listener in self.listeners:
            listener(event)
        return event

    def tasks(self) -> list[TaskResult]:
        """Each task's outcome, folded from the events (tasks never started have no status)."""
        rows = {name: TaskResult(name) for name in self.task_names}
        for kind, time, task, data in self.events:
            if task is None:
                continue
            row = rows[task]
            if kind == "started":
                row.attempts = data["attempt"]
                row.slot = data["slot"]
                row.log = data.get("log")
                if row.start is None:
                    row.start = time
            elif kind == "finished":
                row.status = data["status"]
                row.end = time
                row.exit_code = data.get("exit_code")
                row.reason = data.get("reason")
                if data.get("peak_rss") is not None:
                    row.peak_rss = max(row.peak_rss or 0, data["peak_rss"])
            elif kind == "skipped":
                row.status = "skipped"
                row.reason = data.get("reason")
        return list(rows.values())


def write_record(document: dict[str, Any], root: Path) -> Path:
    """Write `document` as `.makespan/runs/<id>.json` and `.makespan/last-run.json` under `root`.

    Each file is written to a temporary name in the same directory and renamed into place, so
    a reader never sees half a record, even if the run is killed while writing. The JSON is
    encoded by orjson (a tenth of the standard encoder's time: for a no-op task, encoding its
    two events with `json` cost more than running it) and written piece by piece, so a long
    list is never one string in memory. The second file is a copy of the first.
    """
    runs = root / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    target = runs / f"{document['id']}.json"
    _atomic_write(target, lambda f: _dump(document, f))
    with target.open("rb") as source:
        _atomic_write(root / LAST_RUN, lambda f: shutil.copyfileobj(source, f))
    return target


_BATCH = 1000
"""Items of a long list encoded per `orjson.dumps` call."""
_OPTIONS = orjson.OPT_NON_STR_KEYS
"""Keys that are not strings become strings, as `json` does (a caller's `info` may have some)."""


def encode(value: Any) -> bytes:
    """`value` as it is written in a record (TypeError for what JSON cannot hold)."""
    return orjson.dumps(value, option=_OPTIONS)


def _dump(document: dict[str, Any], f: BinaryIO) -> None:
    """`f.write(orjson.dumps(document))` without the whole text at once."""
    f.write(b"{")
    for i, (key, value) in enumerate(document.items()):
        if i:
            f.write(b",")
        if not (isinstance(value, list) and len(value) > _BATCH):
            f.write(encode({key: value})[1:-1])
            continue
        f.write(orjson.dumps({key: []})[1:-2])  # '"key":['
        for start in range(0, len(value), _BATCH):
            if start:
                f.write(b",")
            f.write(encode(value[start:start + _BATCH])[1:-1])
        f.write(b"]")
    f.write(b"}")


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def read_record(path: Path) -> dict[str, Any]:
    with path.open() as f:
        document: dict[str, Any] = json.load(f)
    return document
