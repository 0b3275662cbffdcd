"""Checks of what really happened to the declared outputs, made while a run goes on.

Lint predicts races from the declarations; this watcher confirms them from the filesystem. At
each task's start and end it snapshots (size, mtime) of the files under its declared output
globs; a file changed by two tasks whose run intervals overlapped is an observed race, and a
declared output that matches nothing after its task succeeded was never produced. It listens to
the record's events like any other consumer and adds its findings to the record when the run
ends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from makespan.codes import AFTER_RUN_CODES
from makespan.globs import is_glob, normalize
from makespan.model import TaskGraph
from makespan.record import Event, RunRecord

Snapshot = dict[str, tuple[int, int]]


@dataclass(slots=True)
class _Observed:
    start: float
    before: Snapshot
    end: float | None = None
    changed: set[str] = field(default_factory=set)


class OutputWatcher:
    def __init__(self, graph: TaskGraph, root: Path) -> None:
        self._root = root
        self._outputs = {t.name: [normalize(p) for p in t.outputs] for t in graph.tasks
                         if t.outputs}
        self._observed: dict[str, _Observed] = {}
        self._missing: dict[str, list[str]] = {}
        self._record: RunRecord | None = None

    def attach(self, record: RunRecord) -> None:
        self._record = record
        record.listeners.append(self.on_event)

    def on_event(self, event: Event) -> None:
        name = event.task
        if event.kind == "ended":
            assert self._record is not None
            self._record.info["after_run"] = self.findings()
        if name is None or name not in self._outputs:
            return
        if event.kind == "started" and name not in self._observed:
            self._observed[name] = _Observed(event.time, self._snapshot(name))
        elif event.kind == "finished" and name in self._observed:
            seen = self._observed[name]
            after = self._snapshot(name)
            seen.end = event.time
            seen.changed = {p for p, stat in after.items() if seen.before.get(p) != stat}
            if event.data["status"] == "ok":
                self._missing[name] = [p for p in self._outputs[name] if not self._produced(p)]

    def findings(self) -> list[dict[str, Any]]:
        """Observed races and outputs never produced, as finding dictionaries."""
        found: list[dict[str, Any]] = []
        for name, patterns in self._missing.items():
            for pattern in patterns:
                found.append(_finding(
                    "MS501", f"'{name}' succeeded but did not produce its declared output "
                    f"{pattern}", "tasks that depend on it will not find it",
                    "fix the command or the declared outputs", [name]))
        tasks = sorted(self._observed.items(), key=lambda item: item[1].start)
        for i, (a, first) in enumerate(tasks):
            for b, second in tasks[i + 1:]:
                if first.end is None or second.start >= first.end:
                    break  # sorted by start: no later task overlaps `a` either
                both = sorted(first.changed & second.changed)
                if both:
                    found.append(_finding(
                        "MS502", f"'{a}' and '{b}' ran at the same time and both changed "
                        f"{', '.join(both[:3])}", "one task's result was overwritten by the "
                        "other's: a race", f"make '{b}' depend on '{a}', or give each its own "
                        "output", [a, b]))
        return found

    def _snapshot(self, name: str) -> Snapshot:
        snapshot: Snapshot = {}
        for pattern in self._outputs[name]:
            for path in self._matches(pattern):
                try:
                    stat = path.stat()
                except OSError:
                    continue
                snapshot[str(path.relative_to(self._root))] = (stat.st_size, stat.st_mtime_ns)
        return snapshot

    def _matches(self, pattern: str) -> list[Path]:
        """Files matching `pattern`, or under it when it names a directory."""
        found = list(self._root.glob(pattern)) if is_glob(pattern) else [self._root / pattern]
        files: list[Path] = []
        for path in found:
            if path.is_dir():
                files.extend(Path(d) / f for d, _, names in os.walk(path) for f in names)
            elif path.exists():
                files.append(path)
        return files

    def _produced(self, pattern: str) -> bool:
        if is_glob(pattern):
            return any(True for _ in self._root.glob(pattern))
        return (self._root / pattern).exists()


def _finding(code: str, message: str, why: str, fix: str, tasks: list[str]) -> dict[str, Any]:
    return {"code": code, "severity": AFTER_RUN_CODES[code][0],
            "message": message, "why": why, "fix": fix, "tasks": tasks, "field": "outputs"}
