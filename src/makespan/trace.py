"""A run record as Chrome trace-event JSON, which Perfetto and chrome://tracing open.

The JSON object format: `{"traceEvents": [...], "displayTimeUnit": "ms"}`. Each attempt is a
complete event (`"ph": "X"`, `ts` and `dur` in microseconds) on the track (`tid`) of the slot it
ran on; metadata events (`"ph": "M"`) name the process and each slot's track and keep the tracks
in slot order; the memory samples are a counter track (`"ph": "C"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from makespan import timeline

PID = 1
MICROSECONDS = 1_000_000


def trace(document: Mapping[str, Any]) -> dict[str, Any]:
    """The trace of the run `document` (a record)."""
    bars = timeline.bars(document)
    tid = {slot: k + 1 for k, slot in enumerate(timeline.slots(bars))}
    events: list[dict[str, Any]] = [
        _meta("process_name", 0, f"makespan run {document['id']}"),
    ]
    for slot, k in tid.items():
        events += [_meta("thread_name", k, slot),
                   _meta("thread_sort_index", k, k, key="sort_index")]
    critical = set(document["metrics"]["critical_path"])
    for bar in bars:
        events.append({
            "name": bar.task,
            "cat": bar.status,
            "ph": "X",
            "ts": _us(bar.start),
            "dur": _us(bar.end) - _us(bar.start),
            "pid": PID,
            "tid": tid[bar.slot],
            "args": {"status": bar.status, "attempt": bar.attempt, "exit_code": bar.exit_code,
                     "peak_rss": bar.peak_rss,
                     "critical_path": bar.task in critical and bar.status != timeline.RETRIED},
        })
    for time, used in timeline.memory_used(document):
        events.append({"name": "memory held by tasks (bytes)", "ph": "C", "ts": _us(time),
                       "pid": PID, "tid": 0, "args": {"rss": used}})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"run": document["id"], "status": document["status"]}}


def _meta(name: str, tid: int, value: object, key: str = "name") -> dict[str, Any]:
    return {"name": name, "ph": "M", "ts": 0, "pid": PID, "tid": tid, "args": {key: value}}


def _us(seconds: float) -> int:
    return round(seconds * MICROSECONDS)
