"""Benchmark: scheduling quality against known optima and lower bounds (issues 5 and 6).

Three policies run on the same instances in the same run, all through `simulate`:

* FIFO: list scheduling in declaration order (`makespan.priority.fifo`);
* upward rank: plain critical-path-first list scheduling (`simulate`'s default);
* planner: `makespan.optimize.improve` with a budget per (graph, P) row (default 1 s), which
  stops early only at its own lower bound or when it has proven its makespan optimal: it is
  never told the optimum. Its order may be a strict start sequence, simulated as such.

Instances (`/work/shared/benchmarks`, loaded by `instances.py`): the STG graphs of 50 and 100
tasks on the 1,255 (graph, P) rows with a proven optimum, the ~83 of them where a critical-path
list scheduler with 200 random perturbations misses it ("hard"), the 300-task STG graphs with a
proven optimum, and the WfCommons and Pegasus traces, which have no known optimum and are
scored against max(span, work / P), and also against `makespan.optimize.shape_bound`, a
higher lower bound that shows where max(span, work / P) cannot be reached. Each row runs with
`Resources(cpu=P, io=P, memory=huge)`.

Every planner result is checked: its position reproduces its makespan through `simulate` (in
strict mode for a strict sequence), the schedule keeps every dependency and never runs more
than P tasks at once, and it is never shorter than a proven optimum or a lower bound (either
would be a simulator bug).

Also timed, first: simulating 100,000 tasks on 16 workers (target under 2 s), and the order
search of `make_plan` for 1..16 workers with the default budget of 1 s (target: within 10 %).

    .venv/bin/python benchmarks/bench_schedule.py [--quick] [--budget SECONDS]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import instances
from makespan.analysis import analyze
from makespan.model import Task, TaskGraph
from makespan.optimize import improve, shape_bound
from makespan.plan import make_plan
from makespan.priority import fifo
from makespan.resources import Resources
from makespan.simulate import Schedule, simulate

WORKERS = (2, 4, 8, 16)
HUGE = 1 << 60
EXACT = 1e-9
"""Relative tolerance for "equal" between float makespans (the STG ones are whole numbers)."""
BIG_TASKS = 100_000
BIG_WORKERS = 16
BUDGET_TRACE = "montage/montage-chameleon-2mass-01d-001"
"""A trace where no order reaches the bound at most worker counts: the search runs its budget."""
PLAN_TASKS = 5000
REPEATS = 3
SEED = 11


@dataclass(frozen=True)
class Row:
    group: str
    name: str
    workers: int
    reference: float
    """The proven optimum, or max(span, work / P) where none is known."""
    fifo: float
    rank: float
    planner: float
    shape: float
    """`shape_bound`: a lower bound at least as high as max(span, work / P)."""
    proven: bool
    """The planner proved its makespan optimal (no schedule at all is shorter)."""
    strict: bool
    """The planner's order is a strict start sequence (idle time on purpose)."""
    seconds: float
    hard: bool = False
    """STG: the upstream critical-path list schedule with 200 perturbations misses it."""


# ------------------------------------------------------------------------------ running


def run_row(group: str, inst: instances.Instance, workers: int, reference: float,
            budget: float) -> Row:
    """The three policies on one (graph, P); `reference` is the optimum or a lower bound."""
    graph, durations = inst.graph, inst.durations
    res = Resources(cpu=workers, io=workers, memory=HUGE)
    began = time.perf_counter()
    found = improve(graph, res, durations, budget)
    seconds = time.perf_counter() - began
    schedule = simulate(graph, res, durations, found.position, strict=found.strict)
    check(inst, workers, schedule, found.makespan, reference)
    return Row(
        group, inst.name, workers, reference,
        fifo=simulate(graph, res, durations, fifo(graph)).makespan,
        rank=found.baseline,
        planner=found.makespan,
        shape=shape_bound(graph, durations, workers),
        proven=found.proven,
        strict=found.strict,
        seconds=seconds,
        hard=inst.list_baseline.get(workers, reference) > reference,
    )


def check(inst: instances.Instance, workers: int, schedule: Schedule, reported: float,
          reference: float) -> None:
    """The planner's schedule is real: reproduced, valid, and not under any lower bound."""
    graph = inst.graph
    where = f"{inst.name} P={workers}"
    if schedule.makespan != reported:
        raise AssertionError(f"{where}: reported {reported}, simulate gives {schedule.makespan}")
    for v, preds in enumerate(graph.preds):
        for u in preds:
            if schedule.end[u] > schedule.start[v]:
                raise AssertionError(f"{where}: {graph.tasks[v].name} starts before its deps")
    events = sorted([(e, -1) for e in schedule.end] + [(s, 1) for s in schedule.start])
    running = 0
    for _, step in events:  # ends before starts at the same instant
        running += step
        if running > workers:
            raise AssertionError(f"{where}: more than {workers} tasks at once")
    if reported < reference * (1 - EXACT):
        raise AssertionError(f"{where}: {reported} is below the bound or optimum {reference}")


def stg_rows(sizes: tuple[str, ...], group: str, every: int, budget: float) -> list[Row]:
    """Every `every`-th graph, on each P with a proven optimum."""
    rows: list[Row] = []
    for k, inst in enumerate(instances.stg(sizes)):
        if k % every == 0:
            rows.extend(run_row(group, inst, workers, optimum, budget)
                        for workers, optimum in sorted(inst.optimum.items()))
    return rows


def trace_rows(group: str, found: Iterable[instances.Instance], every: int,
               budget: float) -> list[Row]:
    rows = []
    for k, inst in enumerate(found):
        if k % every:
            continue
        analysis = analyze(inst.graph, inst.durations)
        for workers in WORKERS:
            bound = max(analysis.span, analysis.work / workers)
            rows.append(run_row(group, inst, workers, bound, budget))
    return rows


# ------------------------------------------------------------------------------ reporting


def equal(a: float, b: float) -> bool:
    return abs(a - b) <= EXACT * max(abs(a), abs(b), 1.0)


def summary(rows: Sequence[Row], policy: str) -> str:
    ratios = [getattr(r, policy) / r.reference for r in rows]
    hits = sum(equal(getattr(r, policy), r.reference) for r in rows)
    return f"{statistics.fmean(ratios):.4f} | {max(ratios):.4f} | {100 * hits / len(rows):.1f} %"


def table(title: str, rows: Sequence[Row], reference: str) -> None:
    print(f"\n{title}: ratio to {reference} (mean, worst, share of rows equal to it)\n")
    print("| P | rows | FIFO mean | worst | equal | upward rank mean | worst | equal "
          "| planner mean | worst | equal |")
    print("|---|---:" + "|---:" * 9 + "|")
    by_workers = [(str(p), [r for r in rows if r.workers == p]) for p in WORKERS]
    for label, chosen in [*by_workers, ("all", list(rows))]:
        if chosen:
            print(f"| {label} | {len(chosen)} | {summary(chosen, 'fifo')} | "
                  f"{summary(chosen, 'rank')} | {summary(chosen, 'planner')} |")
    spent = sum(r.seconds for r in rows)
    proven = sum(r.proven for r in rows)
    strict = sum(r.strict for r in rows)
    print(f"\nplanner: {spent:.1f} s in all, {proven} rows proven optimal (no schedule does "
          f"better), {strict} rows where a strict sequence beats every priority order found")


def bound_table(rows: Sequence[Row]) -> None:
    """How far the planner is from `shape_bound`, and how far that is from max(span, work/P)."""
    print("\nthe planner against `shape_bound` (mean, worst, share equal to it), and that bound "
          "against max(span, work / P) (mean, worst):\n")
    print("| P | rows | planner / shape bound | worst | equal | shape bound / max(span, "
          "work / P) | worst |")
    print("|---|---:" + "|---:" * 5 + "|")
    for label, chosen in [*((str(p), [r for r in rows if r.workers == p]) for p in WORKERS),
                          ("all", list(rows))]:
        if chosen:
            gaps = [r.planner / r.shape for r in chosen]
            hits = sum(equal(r.planner, r.shape) for r in chosen)
            weak = [r.shape / r.reference for r in chosen]
            print(f"| {label} | {len(chosen)} | {statistics.fmean(gaps):.4f} | {max(gaps):.4f} |"
                  f" {100 * hits / len(chosen):.1f} % | {statistics.fmean(weak):.4f} | "
                  f"{max(weak):.4f} |")


def misses(rows: Sequence[Row], what: str, above: float = 1.0) -> None:
    """Rows where the planner is more than `above` times the reference, worst first."""
    missed = sorted((r for r in rows if r.planner > above * r.reference
                     and not equal(r.planner, r.reference)),
                    key=lambda r: -r.planner / r.reference)
    print(f"\n{len(missed)} rows above {what} (planner / it, shape bound / it, and whether the "
          "planner proved its makespan optimal):")
    for r in missed:
        print(f"  {r.name:55} P={r.workers:<2} {r.planner:>10.2f} / {r.reference:<10.2f} "
              f"= {r.planner / r.reference:.4f}   shape {r.shape / r.reference:.4f}"
              f"{'   proven' if r.proven else ''}")


# ------------------------------------------------------------------------------ timings


def big_graph(n: int) -> TaskGraph:
    """A random DAG: each task depends on up to 3 of the 2,000 tasks before it."""
    rng = random.Random(SEED)
    tasks = []
    for i in range(n):
        picks = {rng.randrange(max(0, i - 2000), i) for _ in range(rng.randint(0, 3))} if i else ()
        tasks.append(Task(f"t{i}", run="true", estimate=float(rng.randint(1, 100)),
                          deps=tuple(f"t{p}" for p in sorted(picks))))
    return TaskGraph.build(tasks)


def time_simulation() -> None:
    """Best of `REPEATS`, first thing in the process (a heap full of benchmark instances
    would make every garbage collection inside the simulation slower)."""
    graph = big_graph(BIG_TASKS)
    res = Resources(cpu=BIG_WORKERS, io=BIG_WORKERS, memory=HUGE)
    took = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        schedule = simulate(graph, res)
        took.append(time.perf_counter() - began)
    print(f"simulate: {BIG_TASKS:,} tasks, {graph.edge_count:,} edges on {BIG_WORKERS} "
          f"workers: {min(took):.2f} s, best of {REPEATS} (target < 2 s; "
          f"makespan {schedule.makespan:,.0f})")


def time_plan_budget(name: str, graph: TaskGraph) -> None:
    """`make_plan` for 1..16 workers with the default 1 s search, minus the same without."""
    res = Resources(cpu=16, io=16, memory=HUGE)
    took = []
    for optimize in (0.0, 1.0):
        began = time.perf_counter()
        make_plan(graph, res, 1.0, max_workers=16, optimize=optimize)
        took.append(time.perf_counter() - began)
    print(f"plan {name} ({len(graph):,} tasks) for 1..16 workers: {took[0]:.2f} s without "
          f"the search, {took[1]:.2f} s with the default --optimize 1: the search took "
          f"{took[1] - took[0]:.2f} s (target 1 s within 10 %)")


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="every 10th STG graph and every 4th trace")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds of search per (graph, P) row (default 1)")
    args = parser.parse_args()
    every_graph, every_trace = (10, 4) if args.quick else (1, 1)
    began = time.perf_counter()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; budget {args.budget:g} s per row"
          f"{'; --quick' if args.quick else ''}")

    time_simulation()
    trace = next(i for i in instances.wfcommons() if i.name == BUDGET_TRACE)
    time_plan_budget(trace.name, trace.graph)
    time_plan_budget("a random DAG", big_graph(PLAN_TASKS))

    stg = stg_rows(("50", "100"), "stg", every_graph, args.budget)
    table("STG 50 + 100 tasks, rows with a proven optimum", stg, "the optimum")
    table("STG hard rows: the 200-perturbation list schedule misses the optimum",
          [r for r in stg if r.hard], "the optimum")
    misses(stg, "the optimum")
    stg300 = stg_rows(("300",), "stg300", every_graph, args.budget)
    table("STG 300 tasks, rows with a proven optimum", stg300, "the optimum")
    misses(stg300, "the optimum")
    for group, found in (("wfcommons", instances.wfcommons()), ("pegasus", instances.pegasus())):
        rows = trace_rows(group, found, every_trace, args.budget)
        table(f"{group} traces", rows, "max(span, work / P)")
        bound_table(rows)
        misses(rows, "max(span, work / P) by more than 2 %", above=1.02)

    print(f"\ntotal wall time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
