"""The guide's performance metrics for a finished run, and why a target was missed.

    Speedup     = sequential time / parallel time   (work / wall: the sum of task durations
                                                       is what running them one by one costs)
    Efficiency  = speedup / workers                 (CPU work only, as in the plan)
    Utilization = busy slot-seconds / (slots x wall), per pool

Targets: efficiency > 70 %, utilization > 80 %, speedup > 2x "justifies the parallelism".
Everything here is computed from the record's task rows; nothing is measured twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from makespan.analysis import Analysis, analyze
from makespan.model import TaskGraph
from makespan.record import TaskResult
from makespan.resources import Resources
from makespan.units import format_duration

EFFICIENCY_TARGET = 0.70
UTILIZATION_TARGET = 0.80
SPEEDUP_TARGET = 2.0


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    value: float
    target: float
    met: bool
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "target": self.target,
                "met": self.met, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Metrics:
    wall: float
    work: float
    span: float
    speedup: float
    efficiency: float
    utilization: float
    pool_utilization: dict[str, float]
    critical_path: tuple[str, ...]
    targets: tuple[Target, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "wall": self.wall,
            "work": self.work,
            "span": self.span,
            "speedup": self.speedup,
            "efficiency": self.efficiency,
            "utilization": self.utilization,
            "pool_utilization": self.pool_utilization,
            "critical_path": list(self.critical_path),
            "targets": [t.to_json() for t in self.targets],
        }


def compute(
    graph: TaskGraph,
    rows: Sequence[TaskResult],
    resources: Resources,
    wall: float,
    paused: float = 0.0,
) -> Metrics:
    """Metrics of a run of `graph` whose task rows are `rows` (in task-id order)."""
    durations = [row.duration for row in rows]
    analysis = analyze(graph, durations)
    work = analysis.work
    busy = {"cpu": 0.0, "io": 0.0}
    for task, duration in zip(graph.tasks, durations, strict=True):
        busy[task.kind] += duration * task.slots
    utilization = {
        pool: busy[pool] / (resources.slots(pool) * wall) if wall > 0 else 0.0
        for pool in busy if busy[pool] > 0
    }
    main_pool = "cpu" if busy["cpu"] > 0 else "io"
    speedup = work / wall if wall > 0 else 1.0
    efficiency = analysis.efficiency(wall, resources.cpu, resources.io)
    path = tuple(graph.names(analysis.critical_path))
    why = _reason(graph, durations, analysis, wall, paused)
    overall = utilization.get(main_pool, 0.0)
    slots = resources.slots(main_pool)
    speedup_why = (f"with {slots} {main_pool} slots the speedup cannot exceed {slots}x: "
                   "add workers" if slots <= SPEEDUP_TARGET and efficiency > EFFICIENCY_TARGET
                   else why)
    targets = (
        _target("efficiency", efficiency, EFFICIENCY_TARGET, why),
        _target("utilization", overall, UTILIZATION_TARGET, why),
        _target("speedup", speedup, SPEEDUP_TARGET, speedup_why),
    )
    return Metrics(wall, work, analysis.span, speedup, efficiency, overall, utilization,
                   path, targets)


def _target(name: str, value: float, target: float, reason: str) -> Target:
    met = value > target
    return Target(name, value, target, met, None if met else reason)


def _reason(graph: TaskGraph, durations: Sequence[float], analysis: Analysis, wall: float,
            paused: float) -> str:
    """The one-line cause that best explains a run that did not parallelize well."""
    path = analysis.critical_path
    if wall <= 0 or not path:
        return "nothing ran"
    share = analysis.span / wall
    longest = max(path, key=lambda v: durations[v])
    name = graph.tasks[longest].name
    if share >= 0.6:
        chain = " → ".join(graph.names(path))
        return (f"the critical path {chain} is {share:.0%} of the wall time: "
                f"split {name} ({format_duration(durations[longest])})")
    if paused >= 0.1 * wall:
        return (f"new tasks were held back {paused / wall:.0%} of the time because available "
                "memory was low: lower memory use or the worker count")
    width = max(len(stage) for stage in analysis.stages)
    return (f"the graph is at most {width} tasks wide and the slots waited on dependencies: "
            "add independent work or split the longest tasks")
