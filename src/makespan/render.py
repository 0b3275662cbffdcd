"""Human-readable output for the terminal (rich); plain text when not on a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from makespan.lint import Finding
from makespan.model import TaskGraph
from makespan.plan import EFFICIENCY_TARGET, Ordering, Plan
from makespan.units import format_duration, format_size

if TYPE_CHECKING:
    from makespan.bench import Bench
    from makespan.history import Estimates, Result, Summary

MAX_STAGE_ROWS = 20
MAX_NAMES = 6
CHART_WIDTH = 16


def print_plan(plan: Plan, findings: Sequence[Finding], console: Console,
               estimates: Estimates | None = None) -> None:
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
    if estimates is not None:
        _print_sources(estimates, console)
    if findings:
        counts = ", ".join(f"{f.code}" for f in findings)
        console.print(Text(f"Lint: {len(findings)} findings ({counts}); "
                           "`makespan lint` explains them", style="yellow"))


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
    table = Table(title="Predicted (simulated schedule, in the best order found)",
                  title_justify="left", title_style="bold")
    for column in ("workers", "makespan", "bound", "gap", "speedup", "efficiency"):
        table.add_column(column, justify="right")
    table.add_column("speedup curve")
    best = max(p.speedup for p in plan.predictions)
    for p in plan.predictions:
        low = p.efficiency < EFFICIENCY_TARGET
        bar = "█" * max(1, round(CHART_WIDTH * p.speedup / best))
        mark = "▶ " if p.workers == plan.recommended_workers else ""
        table.add_row(
            Text(mark + str(p.workers), style="bold" if mark else ""),
            format_duration(p.makespan) + (" *" if p.strict else ""),
            format_duration(p.lower_bound),
            f"{p.gap:.1%}",
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
    for p in plan.predictions:
        if p.strict:
            console.print(f"  * -j {p.workers}: a strict start sequence holds a slot idle on "
                          f"purpose (else {format_duration(p.baseline)})")
    if plan.unestimated:
        names = _names(plan.graph.names(plan.unestimated))
        console.print(Text(f"{len(plan.unestimated)} tasks have no estimate", style="yellow")
                      + Text(f" (the default is used): {names}"))


SOURCE_WORDS = {"history": "learned from history", "file": "from the task file",
                "default": "the default"}


def _print_sources(estimates: Estimates, console: Console) -> None:
    """Where the estimates came from: learned from past runs, the task file, or the default."""
    from makespan.history import DATABASE, RECENT

    counts = estimates.counts()
    durations = ", ".join(f"{n} {SOURCE_WORDS[s]}" for s, n in counts["duration"].items())
    line = f"Estimates: {durations}"
    if counts["memory"]:
        line += "; peak memory: " + ", ".join(f"{n} {SOURCE_WORDS[s]}"
                                              for s, n in counts["memory"].items())
    console.print(Text(line + "."))
    if "history" in counts["duration"]:
        console.print(Text(f"  learned: the median duration and the largest peak memory of the "
                           f"last {RECENT} successful runs ({DATABASE}; --no-history ignores it)",
                           style="dim"))
        fresh = [t.name for t, s in zip(estimates.graph.tasks, estimates.duration_source,
                                        strict=True) if s != "history"]
        if fresh:
            console.print(Text(f"  not learned yet: {_names(fresh)}", style="dim"))


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    return shown + (f", … (+{len(names) - MAX_NAMES})" if len(names) > MAX_NAMES else "")


LOG_TAIL_LINES = 12


def print_run_summary(document: dict[str, Any], console: Console) -> None:
    """The end-of-run summary: outcome, metrics against the guide's targets, and failures."""
    tasks = document["tasks"]
    metrics = document["metrics"]
    counts: dict[str, int] = {}
    for row in tasks:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    status = document["status"]
    style = {"ok": "green", "failed": "red"}.get(status, "yellow")
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    console.print()
    console.print(Text(f"Run {document['id']}: {status}", style=f"bold {style}")
                  + Text(f"  ({tally})"))
    workers = document["workers"]
    # Efficiency is measured on the CPU slots, or on the I/O slots when only I/O tasks ran.
    io_only = "cpu" not in metrics["pool_utilization"] and "io" in metrics["pool_utilization"]
    slots = f"{workers['io']} I/O slots" if io_only else f"{workers['cpu']} CPU slots"
    console.print(
        f"wall {format_duration(document['wall'])}   work {format_duration(metrics['work'])}   "
        f"speedup {metrics['speedup']:.2f}x   efficiency {metrics['efficiency']:.0%} "
        f"on {slots}   utilization "
        + ", ".join(f"{pool} {u:.0%}" for pool, u in metrics["pool_utilization"].items())
    )
    predicted = document.get("predicted", {})
    console.print(Text("critical path  ", style="bold")
                  + Text(" → ".join(metrics["critical_path"]))
                  + Text(f"  ({format_duration(metrics['span'])})", style="dim"))
    if predicted:
        console.print(Text("predicted      ", style="bold")
                      + Text(" → ".join(predicted["critical_path"]))
                      + Text(f"  (makespan {format_duration(predicted['makespan'])})",
                             style="dim"))
    for target in metrics["targets"]:
        mark = Text("  ✓ ", style="green") if target["met"] else Text("  ✗ ", style="yellow")
        line = mark + Text(f"{target['name']} {_figure(target)} (target > {_goal(target)})")
        if target["reason"]:
            line.append(f": {target['reason']}", style="yellow")
        console.print(line)
    for flag in document.get("memory_overruns", []):
        console.print(Text(
            f"  ! {flag['task']} used {format_size(flag['peak_rss'])} of memory, "
            f"estimated {format_size(flag['estimate'])}: raise its memory estimate",
            style="yellow"))
    for finding in document.get("after_run", []):
        style = "red" if finding["severity"] == "error" else "yellow"
        console.print(Text(f"  ! {finding['code']} {finding['message']}: {finding['fix']}",
                           style=style))
    if document.get("paused"):
        console.print(Text(f"  new tasks were held {format_duration(document['paused'])} "
                           "for low memory", style="yellow"))
    _print_failures(tasks, console)
    console.print(Text(f"record: {document.get('record', '')}", style="dim"))


def _figure(target: dict[str, Any]) -> str:
    return f"{target['value']:.2f}x" if target["name"] == "speedup" else f"{target['value']:.0%}"


def _goal(target: dict[str, Any]) -> str:
    return f"{target['target']:g}x" if target["name"] == "speedup" else f"{target['target']:.0%}"


def _print_failures(tasks: list[dict[str, Any]], console: Console) -> None:
    skipped = [row for row in tasks if row["status"] == "skipped"]
    for row in tasks:
        if row["status"] not in ("failed", "timeout"):
            continue
        console.print()
        console.print(Text(f"{row['status']}: {row['name']}", style="bold red")
                      + Text(f"  ({row['reason']}, {row['attempts']} attempt(s))"))
        if row.get("log"):
            console.print(Text(f"  log: {row['log']}", style="dim"))
            for line in _tail(row["log"]):
                console.print(Text(f"  | {line}"), soft_wrap=True)
    if skipped:
        reasons: dict[str, int] = {}
        for row in skipped:
            reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
        console.print()
        for reason, n in reasons.items():
            console.print(Text(f"skipped {n}: {reason}", style="dim"))


def _tail(path: str) -> list[str]:
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return []


def print_dry_run(graph: TaskGraph, prediction: Ordering, console: Console) -> None:
    """The order tasks would start in, with predicted start times; nothing runs."""
    table = Table(title=f"Dry run: predicted makespan {format_duration(prediction.makespan)}",
                  title_justify="left", title_style="bold")
    for column in ("#", "start", "task", "estimate"):
        table.add_column(column, justify="right" if column != "task" else "left")
    order = sorted(range(len(graph)), key=lambda v: (prediction.start[v], prediction.position[v]))
    for k, v in enumerate(order, 1):
        table.add_row(str(k), format_duration(prediction.start[v]), Text(graph.tasks[v].name),
                      format_duration(prediction.durations[v]))
    console.print(table)


SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan"}


def print_findings(findings: Sequence[Finding], file: str, console: Console) -> None:
    """Findings in the style of ruff and mypy: location, code, message, then why and fix."""
    for f in findings:
        where = f"{file}: " + (f"{f.field}: " if f.field else "")
        console.print(Text(where, style="bold") + Text(f"{f.code} ", style="bold")
                      + Text(f"{f.level}: ", style=SEVERITY_STYLE[f.level]) + Text(f.message))
        console.print(Text(f"    why: {f.why}", style="dim"))
        console.print(Text(f"    fix: {f.fix}", style="green"))
    counts = {level: sum(f.level == level for f in findings) for level in SEVERITY_STYLE}
    summary = ", ".join(f"{n} {level}{'s' if n != 1 else ''}" for level, n in counts.items())
    console.print(Text(f"{len(findings)} findings: {summary}" if findings else "No findings.",
                       style="bold"))


def print_history(summaries: Sequence[Summary], console: Console) -> None:
    """`makespan history`: each task and command, with what its runs taught."""
    if not summaries:
        console.print("No runs recorded yet.")
        return
    table = Table(title="History: what the last successful runs taught (median duration, "
                  "largest peak memory)", title_justify="left", title_style="bold")
    table.add_column("task", overflow="fold")
    table.add_column("command", no_wrap=True)
    for column in ("ok/runs", "duration", "memory", "last run"):
        table.add_column(column, justify="right", no_wrap=True)
    for s in summaries:
        learned = s.learned
        table.add_row(Text(s.name), s.command[:8], f"{s.ok}/{s.runs}",
                      format_duration(learned.duration) if learned else "—",
                      format_size(learned.peak_rss) if learned and learned.peak_rss else "—",
                      f"{s.last_status} {_when(s.last_at)}")
    console.print(table)


def print_task_history(name: str, results: Sequence[Result], console: Console) -> None:
    """`makespan history TASK`: every stored run of one task, newest first."""
    from makespan.display import STATUS_STYLE

    if not results:
        console.print(Text(f"No history for '{name}'."))
        return
    table = Table(title=Text(f"History of {name}"), title_justify="left", title_style="bold")
    for column in ("run", "command", "outcome"):
        table.add_column(column, no_wrap=True)
    for column in ("took", "memory", "attempts"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(r.run_id, r.command[:8], Text(r.status, style=style),
                      format_duration(r.duration),
                      format_size(r.peak_rss) if r.peak_rss else "—", str(r.attempts))
    console.print(table)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def print_bench(result: Bench, console: Console) -> None:
    """`makespan bench`: measured speedup and efficiency next to the predicted ones."""
    table = Table(title="Speedup = sequential time / parallel time (measured; median wall time)",
                  title_justify="left", title_style="bold")
    for column in ("workers", "wall", "speedup", "eff.", "predicted", "pred. speedup",
                   "pred. eff."):
        table.add_column(column, justify="right")
    serial = result.serial
    table.add_row("serial", format_duration(serial.wall), "1.00x", "",
                  format_duration(serial.predicted), "1.00x", "")
    for p in result.points:
        n = p.workers or 1
        speedup, predicted = result.speedup(p), result.predicted_speedup(p)
        low = speedup / n < EFFICIENCY_TARGET
        table.add_row(str(n), format_duration(p.wall), f"{speedup:.2f}x",
                      Text(f"{speedup / n:.0%}", style="yellow" if low else "green"),
                      format_duration(p.predicted), f"{predicted:.2f}x", f"{predicted / n:.0%}")
    console.print(table)
