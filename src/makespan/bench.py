"""`makespan bench`: run a graph at several worker counts and measure the speedup it reaches.

The guide's Speedup = Sequential Time / Parallel Time is measured here rather than estimated:
the graph first runs serially (every task in one slot, one at a time), then once per worker
count, each `repeat` times (the median wall time counts). Each run is a normal run with its own
record; the predicted makespans come from the same scheduler on the virtual clock, so the
table and the curve put what the plan promised next to what the machine did.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from makespan.engine import RunOptions
from makespan.errors import MakespanError
from makespan.executors import OnDone
from makespan.executors.commands import CommandExecutor
from makespan.model import TaskGraph
from makespan.plan import order_for_run
from makespan.reactor import Reactor
from makespan.resources import Resources, machine_memory_reserve
from makespan.run import RunResult, run_graph
from makespan.svg import Axis, Series, line_chart


class BenchError(MakespanError):
    """A bench run did not succeed; the speedup of a failed run means nothing."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class Measured:
    """The runs at one worker count (`None`: serial) and what the plan predicted for them."""

    workers: int | None
    walls: tuple[float, ...]
    predicted: float

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)


@dataclass(frozen=True, slots=True)
class Bench:
    serial: Measured
    points: tuple[Measured, ...]

    def speedup(self, point: Measured) -> float:
        return self.serial.wall / point.wall if point.wall > 0 else 0.0

    def predicted_speedup(self, point: Measured) -> float:
        return self.serial.predicted / point.predicted if point.predicted > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": {"wall": self.serial.wall, "walls": list(self.serial.walls),
                       "predicted": self.serial.predicted},
            "points": [
                {"workers": p.workers, "wall": p.wall, "walls": list(p.walls),
                 "speedup": self.speedup(p), "efficiency": self.speedup(p) / _n(p),
                 "predicted": p.predicted, "predicted_speedup": self.predicted_speedup(p),
                 "predicted_efficiency": self.predicted_speedup(p) / _n(p)}
                for p in self.points
            ],
        }


def _n(point: Measured) -> int:
    return point.workers or 1


def serial(graph: TaskGraph) -> TaskGraph:
    """The graph with every task in the CPU pool on one slot, so one slot runs one at a time."""
    return replace(graph, tasks=tuple(replace(t, kind="cpu", slots=1) for t in graph.tasks))


def bench(
    graph: TaskGraph,
    durations: Sequence[float],
    resources: Callable[[int], Resources],
    workers: Sequence[int],
    repeat: int,
    root: Path,
    optimize: float,
    after_run: Callable[[TaskGraph, RunResult], None],
) -> Bench:
    """Run `graph` serially, then at each count in `workers`, `repeat` times each.

    `resources(n)` gives the budgets for n CPU workers; `after_run` sees every finished run
    (to add it to the history). Raises `BenchError` when a run does not succeed.
    """
    options = RunOptions(memory_reserve=machine_memory_reserve())

    def make_executor(reactor: Reactor, on_done: OnDone) -> CommandExecutor:
        return CommandExecutor(reactor, root, on_done, None)

    def measure(graph: TaskGraph, budgets: Resources, count: int | None) -> Measured:
        prediction = order_for_run(graph, budgets, durations, optimize)
        walls = []
        for k in range(repeat):
            info = {"bench": {"workers": count or "serial", "repeat": k + 1}}
            result = run_graph(graph, budgets, list(durations), prediction, make_executor,
                               root, options, info=info)
            after_run(graph, result)
            if result.status != "ok":
                what = f"-j {count}" if count else "the serial run"
                raise BenchError(f"{what} ended {result.status}: see {result.path}",
                                 result.exit_code)
            walls.append(result.document["wall"])
        return Measured(count, tuple(walls), prediction.makespan)

    first = measure(serial(graph), replace(resources(1), cpu=1, io=1), None)
    return Bench(first, tuple(measure(graph, resources(n), n) for n in workers))


def speedup_svg(result: Bench) -> str:
    """The speedup curve: measured and predicted against the ideal (speedup = workers)."""
    counts = [_n(p) for p in result.points]
    top = max([*counts, *(result.speedup(p) for p in result.points),
               *(result.predicted_speedup(p) for p in result.points)])
    measured = [(float(_n(p)), result.speedup(p)) for p in result.points]
    predicted = [(float(_n(p)), result.predicted_speedup(p)) for p in result.points]
    tips = [f"-j {_n(p)}: measured {result.speedup(p):.2f}x, wall {p.wall:.2f}s"
            for p in result.points]
    return line_chart(
        [Series("measured", measured, "#1e88e5", markers=True, tips=tips),
         Series("predicted", predicted, "#fb8c00", dashed=True, markers=True),
         Series("ideal (speedup = workers)", [(1.0, 1.0), (max(counts), max(counts))],
                "#9e9e9e", dashed=True)],
        Axis("workers", max(counts), lambda v: f"{v:g}"),
        Axis("speedup (sequential time / parallel time)", top, lambda v: f"{v:g}x"),
        width=560, height=340, css_class="speedup")
