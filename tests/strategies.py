"""Hypothesis strategies shared by the scheduler and simulator tests: random DAGs in budgets.

Graphs are small (the properties are about interleavings, not size) and their numbers are
chosen to collide: durations are a few multiples of 0.5 (exact in binary, zero included), so
completions tie often; memory budgets are a handful of bytes, so memory is contended; most tasks
hold one or two of three locks; multi-slot tasks ask for up to their whole pool. Up to 20 tasks
per graph: below that, the interleavings that break a reservation turn up too rarely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from makespan.model import KINDS, Kind, Task, TaskGraph
from makespan.priority import positions
from makespan.resources import Resources

DURATIONS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
LOCK_SETS = ((), ("db",), ("gpu",), ("db", "gpu"), ("net",))


@dataclass(frozen=True)
class Case:
    """A graph and the budgets to schedule it in."""

    graph: TaskGraph
    resources: Resources

    @property
    def durations(self) -> list[float]:
        return self.graph.estimates()

    def __repr__(self) -> str:
        """One line per task, so a falsifying example can be read (and drawn) at a glance."""
        lines = [f"Case({self.resources}"]
        for i, t in enumerate(self.graph.tasks):
            deps = ",".join(str(p) for p in self.graph.preds[i])
            lines.append(f"  {i}: {t.kind} x{t.slots} est={t.estimate} mem={t.memory} "
                         f"locks={','.join(t.locks)} deps={deps}")
        return "\n".join([*lines, ")"])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # how Hypothesis prints a falsifying example


@st.composite
def budgets(draw: st.DrawFn, max_slots: int = 4, max_memory: int = 10) -> Resources:
    return Resources(
        cpu=draw(st.integers(1, max_slots)),
        io=draw(st.integers(1, max_slots)),
        memory=draw(st.integers(1, max_memory)),
    )


@st.composite
def cases(
    draw: st.DrawFn,
    max_tasks: int = 20,
    kinds: tuple[Kind, ...] = KINDS,
    memory: bool = True,
    locks: bool = True,
    multi_slot: bool = True,
    resources: st.SearchStrategy[Resources] | None = None,
) -> Case:
    """A random DAG of up to `max_tasks` tasks that all fit in random budgets.

    Tasks are generated in a topological order (each may depend on up to three earlier ones)
    and then given ids by a random permutation, so dependencies point both ways in id order.
    """
    res = draw(resources if resources is not None else budgets())
    n = draw(st.integers(0, max_tasks))
    ids = draw(st.permutations(range(n)))
    by_id: list[Task | None] = [None] * n
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        kind = draw(st.sampled_from(kinds))
        pool = res.slots(kind)
        by_id[ids[i]] = Task(
            name=f"t{i}",
            run="true",
            deps=tuple(f"t{d}" for d in deps),
            kind=kind,
            slots=draw(st.just(1) | st.integers(1, pool)) if multi_slot else 1,
            memory=draw(st.none() | st.integers(0, res.memory)) if memory else None,
            estimate=draw(st.none() | st.sampled_from(DURATIONS)),
            locks=draw(st.sampled_from(LOCK_SETS)) if locks else (),
        )
    tasks = [t for t in by_id if t is not None]
    return Case(TaskGraph.build(tasks), res)


def single_pool_cases(max_tasks: int = 12) -> st.SearchStrategy[Case]:
    """One CPU pool of single-slot tasks, no memory estimates, no locks: plain list scheduling."""
    return cases(max_tasks=max_tasks, kinds=("cpu",), memory=False, locks=False,
                 multi_slot=False)


def durations_for(case: Case) -> st.SearchStrategy[list[float]]:
    """Actual durations for `case`'s tasks, independent of their estimates."""
    n = len(case.graph)
    return st.lists(st.sampled_from(DURATIONS), min_size=n, max_size=n)


@st.composite
def topological_sequences(draw: st.DrawFn, graph: TaskGraph) -> list[int]:
    """A random strict start sequence (a position per task): each task after its
    dependencies."""
    order: list[int] = []
    while len(order) < len(graph):
        placed = set(order)
        eligible = [v for v in range(len(graph))
                    if v not in placed and all(u in placed for u in graph.preds[v])]
        order.append(draw(st.sampled_from(eligible)))
    return positions(order)
