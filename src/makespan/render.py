"""Human-readable output for the terminal (rich); plain text when not on a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from makespan.plan import EFFICIENCY_TARGET, Plan
from makespan.units import format_duration, format_size

MAX_STAGE_ROWS = 20
MAX_NAMES = 6
CHART_WIDTH = 24


def print_plan(plan: Plan, console: Console) -> None:
    graph, analysis = plan.graph, plan.analysis
    console.print(
        f"[bold]{len(graph)}[/] tasks, [bold]{graph.edge_count}[/] edges   "
        f"work [bold]{format_duration(analysis.work)}[/]   "
        f"span [bold]{format_duration(analysis.span)}[/]   "
        f"max speedup [bold]{analysis.max_speedup:.2f}x[/]"
    )
    console.print()
    console.print("[bold]Critical path[/]")
    chain = Text("  ")
    for k, v in enumerate(analysis.critical_path):
        if k:
            chain.append(" → ", style="dim")
        chain.append(graph.tasks[v].name, style="cyan")
        chain.append(f" {format_duration(plan.durations[v])}", style="dim")
    console.print(chain)
    console.print()
    console.print(_stages_table(plan))
    console.print(_predictions_table(plan))
    _print_notes(plan, console)


def _stages_table(plan: Plan) -> Table:
    graph = plan.graph
    table = Table(title="Stages (tasks whose dependencies all lie in earlier stages)",
                  title_justify="left", title_style="bold")
    table.add_column("stage", justify="right")
    table.add_column("width", justify="right")
    table.add_column("longest", justify="right")
    table.add_column("tasks")
    stages = plan.analysis.stages
    for k, stage in enumerate(stages[:MAX_STAGE_ROWS]):
        longest = max(plan.durations[v] for v in stage)
        table.add_row(str(k + 1), str(len(stage)), format_duration(longest),
                      Text(_names(graph.names(stage))))
    if len(stages) > MAX_STAGE_ROWS:
        table.add_row("…", "", "", f"{len(stages) - MAX_STAGE_ROWS} more stages")
    return table


def _predictions_table(plan: Plan) -> Table:
    table = Table(title="Predicted (simulated schedule, critical path first)",
                  title_justify="left", title_style="bold")
    for column in ("workers", "makespan", "bound", "speedup", "efficiency"):
        table.add_column(column, justify="right")
    table.add_column("speedup curve")
    best = max(p.speedup for p in plan.predictions)
    for p in plan.predictions:
        low = p.efficiency < EFFICIENCY_TARGET
        bar = "█" * max(1, round(CHART_WIDTH * p.speedup / best))
        mark = "▶ " if p.workers == plan.recommended_workers else ""
        table.add_row(
            Text(mark + str(p.workers), style="bold" if mark else ""),
            format_duration(p.makespan),
            format_duration(p.lower_bound),
            f"{p.speedup:.2f}x",
            Text(f"{p.efficiency:.0%}" + (" <70%" if low else ""),
                 style="yellow" if low else "green"),
            Text(bar, style="yellow" if low else "green"),
        )
    return table


def _print_notes(plan: Plan, console: Console) -> None:
    resources = plan.resources
    console.print(
        f"Budgets: {resources.cpu} CPU slots, {resources.io} I/O slots, "
        f"{format_size(resources.memory)} memory."
    )
    for kind, fit in plan.memory_fit.items():
        if fit is not None:
            console.print(f"  memory: at most {fit} {kind} tasks fit at once "
                          "(Max_Parallel = memory budget / largest estimate)")
    console.print(f"Recommended: [bold]-j {plan.recommended_workers}[/] (▶)  "
                  "bound: no schedule can be shorter")
    if plan.unestimated:
        names = _names(plan.graph.names(plan.unestimated))
        console.print(Text(f"{len(plan.unestimated)} tasks have no estimate", style="yellow")
                      + Text(f" (the default is used): {names}"))


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    return shown + (f", … (+{len(names) - MAX_NAMES})" if len(names) > MAX_NAMES else "")
