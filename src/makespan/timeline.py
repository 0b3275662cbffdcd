"""A run record as intervals and time series: what the HTML report and the trace draw.

Everything here is folded from the record's events, the one source of truth: a bar per attempt
(from its `started` event to the `retrying` or `finished` event that ended it, so a retried task
shows each try on the slot it used), how many slots of each pool were busy over time, and the
memory the running tasks held at each sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RETRIED = "retried"
"""The status of a bar for an attempt that failed and was tried again."""


@dataclass(frozen=True, slots=True)
class Bar:
    task: str
    slot: str
    start: float
    end: float
    status: str
    attempt: int
    exit_code: int | None
    peak_rss: int | None

    @property
    def duration(self) -> float:
        return self.end - self.start


def bars(document: Mapping[str, Any]) -> list[Bar]:
    """One bar per attempt, in the order the attempts ended."""
    running: dict[str, Mapping[str, Any]] = {}
    out = []
    for event in document["events"]:
        kind, task = event["kind"], event.get("task")
        if kind == "started":
            running[task] = event
        elif kind in ("retrying", "finished") and task in running:
            began = running.pop(task)
            status = RETRIED if kind == "retrying" else event["status"]
            out.append(Bar(task, began["slot"], began["time"], event["time"], status,
                           began["attempt"], event.get("exit_code"), event.get("peak_rss")))
    return out


def slot_order(slot: str) -> tuple[str, int, str]:
    """Sorts `cpu-2` before `cpu-10`, and pools by name."""
    pool, _, index = slot.rpartition("-")
    return (pool, int(index), "") if index.isdigit() else (slot, 0, slot)


def slots(bars: Sequence[Bar]) -> list[str]:
    return sorted({bar.slot for bar in bars}, key=slot_order)


def pool_of(slot: str) -> str:
    return slot_order(slot)[0]


def busy(bars: Sequence[Bar], pool: str) -> list[tuple[float, int]]:
    """(time, slots of `pool` busy from then on), one point per change, starting at 0."""
    changes: list[tuple[float, int]] = []
    for bar in bars:
        if pool_of(bar.slot) == pool:
            changes += [(bar.start, 1), (bar.end, -1)]
    changes.sort(key=lambda c: (c[0], c[1]))  # at a tie, ends before starts
    points = [(0.0, 0)]
    level = 0
    for time, step in changes:
        level += step
        if points[-1][0] == time:
            points[-1] = (time, level)
        else:
            points.append((time, level))
    return points


def utilization(bars: Sequence[Bar], pool: str, slots: int, wall: float,
                buckets: int) -> list[tuple[float, float]]:
    """(bucket start, share of `pool`'s `slots` busy during the bucket), over `wall` seconds,
    and a last point at `wall` that repeats the last share (where a step line ends).

    Averaging over buckets shows how busy the pool was, where the instantaneous level would
    flicker down at every gap of a few milliseconds between one task and the next.
    """
    if wall <= 0 or slots <= 0:
        return []
    width = wall / buckets
    totals = [0.0] * buckets
    levels = busy(bars, pool)
    for (t0, level), (t1, _) in zip(levels, [*levels[1:], (wall, 0)], strict=True):
        k = int(t0 / width)
        while level and t0 < t1 and k < buckets:
            edge = max(t0, min(t1, (k + 1) * width))
            totals[k] += level * (edge - t0)
            t0, k = edge, k + 1
    shares = [(k * width, total / (width * slots)) for k, total in enumerate(totals)]
    return [*shares, (wall, shares[-1][1])]


def memory_used(document: Mapping[str, Any]) -> list[tuple[float, int]]:
    """(time, bytes held by the running tasks) at each memory sample."""
    return [(event["time"], sum(event["rss"].values()))
            for event in document["events"] if event["kind"] == "sample"]
