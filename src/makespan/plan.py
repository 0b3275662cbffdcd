"""The plan: everything makespan can say about a graph before running it.

It gathers the analysis (stages, critical path, bounds), the memory arithmetic of the guide
(Max_Parallel = Available_RAM / (Base + Data_Per_Task)) and the simulated makespan for each
worker count, and picks a recommended worker count. `Plan.to_json()` is the `plan --json`
contract of `docs/design.md`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from makespan.analysis import Analysis, analyze
from makespan.model import TaskGraph
from makespan.optimize import MAX_TASKS, improve
from makespan.priority import critical_path_first
from makespan.resources import Resources
from makespan.simulate import simulate

EFFICIENCY_TARGET = 0.70
RUN_SEARCH_SHARE = 0.05
MIN_SEARCH = 0.005
"""Seconds below which an order search is not worth starting."""
SPEEDUP_SHARE = 0.90
"""The recommended worker count reaches at least this share of the best predicted speedup."""


@dataclass(frozen=True, slots=True)
class Prediction:
    workers: int
    makespan: float
    speedup: float
    efficiency: float
    lower_bound: float
    upper_bound: float
    baseline: float
    """The makespan of plain critical-path-first list scheduling, before the search."""
    strict: bool = False
    """The best order found is a strict start sequence (it holds a slot idle on purpose)."""

    @property
    def gap(self) -> float:
        """How far the prediction is above the lower bound, as a fraction of it."""
        return self.makespan / self.lower_bound - 1 if self.lower_bound > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    graph: TaskGraph
    durations: tuple[float, ...]
    analysis: Analysis
    resources: Resources
    memory_fit: dict[str, int | None]
    """Per kind: how many of its tasks fit in the memory budget at once (None: no estimates)."""
    predictions: tuple[Prediction, ...]
    recommended_workers: int
    unestimated: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        graph, analysis = self.graph, self.analysis
        return {
            "tasks": len(graph),
            "edges": graph.edge_count,
            "work": analysis.work,
            "span": analysis.span,
            "max_speedup": analysis.max_speedup,
            "critical_path": graph.names(analysis.critical_path),
            "stages": [graph.names(stage) for stage in analysis.stages],
            "workers": {
                "cpu": self.resources.cpu,
                "io": self.resources.io,
                "memory": self.resources.memory,
            },
            "memory_fit": self.memory_fit,
            "predicted": [
                {
                    "workers": p.workers,
                    "makespan": p.makespan,
                    "speedup": p.speedup,
                    "efficiency": p.efficiency,
                    "lower_bound": p.lower_bound,
                    "upper_bound": p.upper_bound,
                    "list_schedule": p.baseline,
                    "gap": p.gap,
                    "order": order_kind(p.strict),
                }
                for p in self.predictions
            ],
            "recommended_workers": self.recommended_workers,
            "unestimated": graph.names(self.unestimated),
            "findings": [],
        }


def make_plan(
    graph: TaskGraph,
    resources: Resources,
    default_estimate: float,
    max_workers: int | None = None,
    optimize: float = 1.0,
) -> Plan:
    """Analyse `graph` and predict its makespan for 1..`max_workers` CPU workers.

    `optimize` is the whole plan's budget in seconds for the order search (0: plain list
    scheduling); it is shared among the worker counts.
    """
    durations = tuple(graph.estimates(default_estimate))
    analysis = analyze(graph, durations)
    top = max_workers or resources.cpu
    predictions = []
    search = optimize > 0 and len(graph) <= MAX_TASKS
    deadline = time.perf_counter() + optimize
    widest = max((t.slots for t in graph.tasks if t.kind == "cpu"), default=1)
    top = max(top, widest)
    for p in range(widest, top + 1):  # fewer CPU slots than a task needs cannot run it
        pool = replace(resources, cpu=p)  # -j varies the CPU slots; I/O stays as set
        lower = analysis.lower_bound(p, pool.io)
        strict = False
        if search:
            share = max(0.0, deadline - time.perf_counter()) / (top - p + 1)
            found = improve(graph, pool, durations, share, lower)
            makespan, baseline, strict = found.makespan, found.baseline, found.strict
        else:
            makespan = baseline = simulate(graph, pool, durations).makespan
        speedup = analysis.work / makespan if makespan > 0 else 1.0
        predictions.append(Prediction(
            p, makespan, speedup, analysis.efficiency(makespan, p, pool.io), lower,
            analysis.upper_bound(p, pool.io), baseline, strict,
        ))
    return Plan(
        graph=graph,
        durations=durations,
        analysis=analysis,
        resources=resources,
        memory_fit=memory_fit(graph, resources),
        predictions=tuple(predictions),
        recommended_workers=recommend(predictions),
        unestimated=tuple(i for i, t in enumerate(graph.tasks) if t.estimate is None),
    )


def recommend(predictions: list[Prediction]) -> int:
    """The smallest worker count with efficiency >= 70 % and >= 90 % of the best speedup.

    When no count meets the efficiency target, the smallest that reaches 90 % of the best
    speedup: more workers would only add idle slots.
    """
    best = max(p.speedup for p in predictions)
    good_enough = [p for p in predictions if p.speedup >= SPEEDUP_SHARE * best]
    efficient = [p for p in good_enough if p.efficiency >= EFFICIENCY_TARGET]
    return (efficient or good_enough)[0].workers


def memory_fit(graph: TaskGraph, resources: Resources, base: int = 0) -> dict[str, int | None]:
    """The guide's Max_Parallel = Available_RAM / (Base + Data_Per_Task), per kind of task.

    Data_Per_Task is the largest memory estimate among the kind's tasks, so the figure is how
    many are sure to fit together; `base` is a worker process's own footprint (0 for shell
    commands, whose estimate covers the whole process tree).
    """
    fit: dict[str, int | None] = {}
    for kind in ("cpu", "io"):
        estimates = [t.memory for t in graph.tasks if t.kind == kind and t.memory]
        fit[kind] = resources.memory // (base + max(estimates)) if estimates else None
    return fit


@dataclass(frozen=True, slots=True)
class Ordering:
    """The planner's order and what it predicts, computed before the run starts."""

    position: tuple[int, ...]
    durations: tuple[float, ...]
    makespan: float
    start: tuple[float, ...]
    critical_path: tuple[str, ...]
    strict: bool = False
    """`position` is a strict start sequence (`Scheduler(..., strict=True)`), not a priority."""


def order_kind(strict: bool) -> str:
    """How a plan and a run record name the kind of order: `priority` or `strict sequence`."""
    return "strict sequence" if strict else "priority"


def order_for_run(graph: TaskGraph, resources: Resources, durations: Sequence[float],
                  optimize: float) -> Ordering:
    """The priority order (or strict sequence) to run with, and its predicted schedule.

    The order search gets `optimize` seconds, but a search must not cost more than it can
    save: never more than RUN_SEARCH_SHARE of the predicted makespan, nor than the gap between
    it and the lower bound (2,000 independent commands that all but meet the bound otherwise
    searched for a tenth of a second to save a millisecond).
    """
    analysis = analyze(graph, durations)
    position = critical_path_first(graph, durations)
    schedule = simulate(graph, resources, durations, position)
    lower = analysis.lower_bound(resources.cpu, resources.io)
    budget = min(optimize, RUN_SEARCH_SHARE * schedule.makespan, schedule.makespan - lower)
    strict = False
    if budget >= MIN_SEARCH and len(graph) <= MAX_TASKS:  # the bound is MIN_SEARCH away
        found = improve(graph, resources, durations, budget, lower)
        position, strict = list(found.position), found.strict
        schedule = simulate(graph, resources, durations, position, strict=strict)
    return Ordering(tuple(position), tuple(durations), schedule.makespan, schedule.start,
                    tuple(graph.names(analysis.critical_path)), strict)
