"""Finding the guide's parallelization anti-patterns before anything runs.

Each check reads the validated graph (and the budgets, the estimates and a simulated schedule)
and yields `Finding`s with a stable code, a message naming the tasks and fields, one sentence on
why it matters and a concrete fix. Codes are a public contract, documented in `docs/lint.md`:

    MS1xx races (errors)            MS101 overlapping outputs, MS102 read/write, MS103 database
    MS2xx resources (warnings)      MS201 memory, MS202 workers, MS203 nested parallelism,
                                    MS204 too many tiny tasks
    MS3xx task division (warnings)  MS301 too fine, MS302 too coarse, MS303 uneven, MS304 no gain
    MS4xx graph hygiene (notes)     MS401 redundant dependency, MS402 no estimate

Race checks never compare every pair of globs: patterns are sorted by their literal prefix and
only patterns whose prefixes nest (the only ones that can match a common path) are compared.
"""

from __future__ import annotations

import bisect
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from makespan.analysis import Analysis, analyze
from makespan.codes import CODES, Severity
from makespan.errors import InputError
from makespan.globs import literal_prefix, normalize, overlaps
from makespan.model import Call, TaskGraph
from makespan.reach import Reach
from makespan.resources import Resources, available_memory_budget, usable_cores
from makespan.simulate import simulate
from makespan.units import format_duration, format_size

SWEET_SPOT_MAX = 300.0
"""The guide's task-size sweet spot ends at 5 minutes."""
UNEVEN_FACTOR = 4.0
TINY_FACTOR = 10.0
"""MS301: a task shorter than this many times the per-task overhead is too fine."""
MANY_PER_SLOT = 50
IO_PER_CORE_LIMIT = 3
DATABASE = re.compile(r"\.(db|sqlite|sqlite3|db3|duckdb|mdb|accdb|lmdb|realm)$", re.IGNORECASE)
NESTED = re.compile(
    r"\bmake\b[^|;&]*\s(-j|--jobs)|\bpytest\b[^|;&]*\s(-n|--numprocesses)(?![A-Za-z_-])"
    r"|\bxargs\b[^|;&]*\s-P|(?:^|[|;&(]\s*)parallel\b"
    r"|\bcargo\s+(build|test|check)\b|\bninja\b|\bgo\s+(build|test)\b"
    r"|\bmvn\b[^|;&]*\s-T\b|\bctest\b[^|;&]*\s-j|\bcmake\s+--build\b[^|;&]*\s(-j|--parallel)"
    r"|\bsphinx-build\b[^|;&]*\s-j"
)


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    why: str
    fix: str
    tasks: tuple[str, ...] = ()
    field: str | None = None
    severity: Severity | None = None
    """Set only where a code's usual severity does not apply (MS201 when certain)."""

    @property
    def level(self) -> Severity:
        return self.severity or CODES[self.code][0]

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.level, "message": self.message,
                "why": self.why, "fix": self.fix, "tasks": list(self.tasks),
                "field": self.field}


@dataclass
class LintContext:
    """What the checks read: the graph, its estimates, the budgets and the machine."""

    graph: TaskGraph
    durations: Sequence[float]
    resources: Resources
    cores: int
    overhead: float
    """Measured seconds a task costs beyond its own work (process start, bookkeeping)."""
    memory_available: int | None = None
    """What the machine has, when the budget was set by hand (for MS201)."""
    io_set: bool = False
    """Whether the I/O slots were set by hand rather than derived from the CPU slots."""

    @cached_property
    def analysis(self) -> Analysis:
        return analyze(self.graph, self.durations)

    @cached_property
    def reach(self) -> Reach:
        return Reach(self.graph)

    def concurrent(self, u: int, v: int) -> bool:
        """Whether `u` and `v` can run at the same time: unordered and sharing no lock."""
        tasks = self.graph.tasks
        if set(tasks[u].locks) & set(tasks[v].locks):
            return False
        return not self.reach.ordered(u, v)

    def name(self, v: int) -> str:
        return self.graph.tasks[v].name


Check = Callable[[LintContext], Iterable[Finding]]


def lint(ctx: LintContext, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> list[Finding]:
    """All findings, minus those deselected or ignored (per task with `ignore = [...]`).

    A finding is dropped when any task it names ignores its code. Checks whose one finding
    lists many independent tasks (MS301, MS402) leave ignoring tasks out themselves, so one
    task's `ignore` does not hide the others.
    """
    tasks = {t.name: t for t in ctx.graph.tasks}
    found = []
    for check in CHECKS:
        for finding in check(ctx):
            if select and not finding.code.startswith(tuple(select)):
                continue
            if ignore and finding.code.startswith(tuple(ignore)):
                continue
            if any(finding.code in tasks[name].ignore for name in finding.tasks if name in tasks):
                continue
            found.append(finding)
    return found


def measure_overhead(repeats: int = 3) -> float:
    """Seconds to start and reap a no-op process: the least any command task costs."""
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run(["true"], check=False)
        best = min(best, time.perf_counter() - began)
    return best


# ---------------------------------------------------------------------------- races (MS1xx)


def _related_pairs(
    left: Sequence[tuple[int, str]], right: Sequence[tuple[int, str]]
) -> Iterator[tuple[int, str, int, str]]:
    """Pairs (task, pattern) x (task, pattern) whose literal prefixes nest, other tasks only.

    Only such pairs can match a common path: every match of a pattern starts with its literal
    prefix. `right` is sorted by prefix so each pattern finds its candidates by bisection.
    """
    keyed = sorted((literal_prefix(p), v, p) for v, p in right)
    prefixes = [k for k, _, _ in keyed]
    exact: dict[str, list[int]] = {}
    for i, key in enumerate(prefixes):
        exact.setdefault(key, []).append(i)
    for u, pattern in left:
        key = literal_prefix(pattern)
        lo = bisect.bisect_left(prefixes, key)
        hi = bisect.bisect_left(prefixes, key + "\U0010ffff")
        candidates = list(range(lo, hi))
        for k in range(len(key)):
            candidates.extend(exact.get(key[:k], ()))
        for i in candidates:
            _, v, other = keyed[i]
            if v != u:
                yield u, pattern, v, other


def _outputs(graph: TaskGraph) -> list[tuple[int, str]]:
    return [(v, normalize(p)) for v, t in enumerate(graph.tasks) for p in t.outputs]


def check_races(ctx: LintContext) -> Iterator[Finding]:
    """MS101 and MS103: concurrent tasks whose outputs overlap.

    Once per pair and code: a pair that shares both a database and another file gets both
    findings, whichever overlap comes first.
    """
    reported: set[tuple[int, int, bool]] = set()
    outputs = _outputs(ctx.graph)
    for u, a, v, b in _related_pairs(outputs, outputs):
        pair = (min(u, v), max(u, v))
        is_database = bool(DATABASE.search(a) or DATABASE.search(b))
        if (*pair, is_database) in reported or not overlaps(a, b) or not ctx.concurrent(u, v):
            continue
        reported.add((*pair, is_database))
        first, second = ctx.name(pair[0]), ctx.name(pair[1])
        if is_database:
            database = a if DATABASE.search(a) else b
            yield Finding(
                "MS103",
                f"'{first}' and '{second}' both write the database {database} and can run at "
                "the same time without a shared lock",
                "a single-writer file written by two processes at once gets locked out or "
                "corrupted writes",
                f"add locks = [\"{database}\"] to both tasks, or make one depend on the other",
                (first, second), "outputs")
        else:
            yield Finding(
                "MS101",
                f"'{first}' and '{second}' can run at the same time and both write "
                f"{a if a == b else f'{a} / {b}'}",
                "when both write the same file, the last one to finish silently wins",
                f"give each task its own output path, or add deps = [\"{first}\"] to "
                f"'{second}'",
                (first, second), "outputs")


def check_read_write(ctx: LintContext) -> Iterator[Finding]:
    """MS102: a task reads what a concurrent task writes."""
    inputs = [(v, normalize(p)) for v, t in enumerate(ctx.graph.tasks) for p in t.inputs]
    reported: set[tuple[int, int]] = set()
    for u, read, v, written in _related_pairs(inputs, _outputs(ctx.graph)):
        if (u, v) in reported or not overlaps(read, written) or not ctx.concurrent(u, v):
            continue
        reported.add((u, v))
        reader, writer = ctx.name(u), ctx.name(v)
        yield Finding(
            "MS102",
            f"'{reader}' reads {read}, which '{writer}' writes, and neither depends on the "
            "other",
            "the reader sees the old file, the new one or half of it, depending on timing",
            f"add deps = [\"{writer}\"] to '{reader}' if it needs the new file",
            (reader, writer), "inputs")


# ---------------------------------------------------------------------------- resources (MS2xx)


def check_memory(ctx: LintContext) -> Iterator[Finding]:
    """MS201: one task larger than the budget (error), or concurrent ones exceeding it."""
    budget = ctx.resources.memory
    too_big = [t for t in ctx.graph.tasks if t.memory and t.memory > budget]
    for task in too_big:
        yield Finding(
            "MS201",
            f"'{task.name}' estimates {format_size(task.memory or 0)} of memory, more than "
            f"the whole budget of {format_size(budget)}",
            "it can never start: no amount of waiting frees enough memory",
            "raise settings.memory, or lower the task's memory estimate if it is too high",
            (task.name,), "memory", severity="error")
    if ctx.memory_available is not None and budget > ctx.memory_available:
        yield Finding(
            "MS201",
            f"settings.memory is {format_size(budget)} but the machine has "
            f"{format_size(ctx.memory_available)} available",
            "tasks admitted against a budget the machine does not have can exhaust its memory",
            f"set settings.memory to at most {format_size(ctx.memory_available)}",
            (), "settings.memory")
    if too_big or not any(t.memory for t in ctx.graph.tasks):
        return
    unlimited = replace(ctx.resources, memory=sum(t.memory or 0 for t in ctx.graph.tasks) + 1)
    schedule = simulate(ctx.graph, unlimited, ctx.durations)
    peak, together = _peak_memory(ctx, schedule.start, schedule.end)
    if peak > budget:
        names = tuple(ctx.name(v) for v in together)
        yield Finding(
            "MS201",
            f"{len(names)} tasks that the schedule runs together ({_list(names)}) estimate "
            f"{format_size(peak)} of memory, over the budget of {format_size(budget)}",
            "the run will hold tasks back for memory, so fewer run in parallel than the "
            "workers allow",
            "lower the memory estimates, raise settings.memory, or accept the lower parallelism",
            names, "memory")


def _peak_memory(ctx: LintContext, start: Sequence[float], end: Sequence[float]
                 ) -> tuple[int, list[int]]:
    """The largest sum of memory estimates of tasks running at one moment, and those tasks."""
    events = sorted(
        [(end[v], 0, v) for v in range(len(start)) if end[v] > start[v]]
        + [(start[v], 1, v) for v in range(len(start)) if end[v] > start[v]]
    )
    running: set[int] = set()
    total = peak = 0
    peak_set: list[int] = []
    for _, kind, v in events:
        memory = ctx.graph.tasks[v].memory or 0
        if kind == 0:
            running.discard(v)
            total -= memory
        else:
            running.add(v)
            total += memory
            if total > peak:
                peak, peak_set = total, sorted(running)
    return peak, peak_set


def check_workers(ctx: LintContext) -> Iterator[Finding]:
    """MS202: more CPU slots than cores, or I/O slots far beyond the cores."""
    if ctx.resources.cpu > ctx.cores:
        yield Finding(
            "MS202",
            f"{ctx.resources.cpu} CPU workers on a machine with {ctx.cores} usable cores",
            "CPU-bound tasks beyond the cores only take turns, adding switching and memory",
            f"set settings.workers (or -j) to at most {ctx.cores}",
            (), "settings.workers")
    if ctx.io_set and ctx.resources.io > IO_PER_CORE_LIMIT * ctx.cores:
        yield Finding(
            "MS202",
            f"{ctx.resources.io} I/O workers is more than {IO_PER_CORE_LIMIT}x the "
            f"{ctx.cores} cores",
            "I/O-bound work gains up to 2-3x the cores; beyond that it contends for the disk "
            "or network it waits on",
            f"set settings.io_workers to at most {IO_PER_CORE_LIMIT * ctx.cores}",
            (), "settings.io_workers")


def check_nested(ctx: LintContext) -> Iterator[Finding]:
    """MS203: a one-slot CPU task whose command starts its own parallel workers."""
    for task in ctx.graph.tasks:
        if isinstance(task.run, Call):
            continue
        command = task.run if isinstance(task.run, str) else " ".join(task.run)
        match = NESTED.search(command)
        if task.kind == "cpu" and task.slots == 1 and match:
            # The count follows the flag the match ends on (not xargs -n, a batch size);
            # none, or 0 (xargs -P0: as many as possible), means every core; 1 is serial.
            jobs = re.match(r"[= ]?\s*(\d+)", command[match.end():])
            if jobs and int(jobs.group(1)) == 1:
                continue
            slots = min(int(jobs.group(1)) or ctx.cores, ctx.cores) if jobs else ctx.cores
            yield Finding(
                "MS203",
                f"'{task.name}' runs '{match.group(0).lstrip('|;&( ')}', which starts its own "
                "parallel workers, while holding one CPU slot",
                "its workers compete with every other task for the same cores "
                "(oversubscription)",
                f"give it the slots it uses (slots = {slots}), or make it serial",
                (task.name,), "run")


def check_many_tiny(ctx: LintContext) -> Iterator[Finding]:
    """MS204: far more tasks than slots, each tiny next to the guide's sweet spot."""
    slots = ctx.resources.cpu + ctx.resources.io
    for label, members in _groups(ctx.graph):
        sizes = [ctx.durations[v] for v in members]
        if len(members) >= MANY_PER_SLOT * slots and statistics.median(sizes) < 1.0:
            yield Finding(
                "MS204",
                f"{label} has {len(members)} tasks of about "
                f"{format_duration(statistics.median(sizes))} for {slots} slots",
                f"each task pays start-up and bookkeeping; {len(members)} of them add "
                f"{format_duration(len(members) * ctx.overhead)} of pure overhead",
                "batch items into fewer tasks (for example one task per directory)",
                tuple(ctx.name(v) for v in members[:3]), "for_each")


# ---------------------------------------------------------------------------- division (MS3xx)


def check_too_fine(ctx: LintContext) -> Iterator[Finding]:
    """MS301: estimates within a few multiples of the per-task overhead."""
    limit = TINY_FACTOR * ctx.overhead
    for label, members in _groups(ctx.graph):
        fine = [v for v in members
                if ctx.graph.tasks[v].estimate is not None and ctx.durations[v] < limit
                and "MS301" not in ctx.graph.tasks[v].ignore]
        if fine:
            names = tuple(ctx.name(v) for v in fine)
            yield Finding(
                "MS301",
                f"{label}: {len(fine)} tasks estimated under {format_duration(limit)} "
                f"({_list(names)}), against a measured overhead of "
                f"{format_duration(ctx.overhead)} per task",
                "when a task is this small, starting it costs as much as its work",
                "batch them: one for_each task per group of items, or fewer, larger tasks",
                names, "estimate")


def check_too_coarse(ctx: LintContext) -> Iterator[Finding]:
    """MS302: a task over 5 minutes that is most of the critical path."""
    span = ctx.analysis.span
    for v in ctx.analysis.critical_path:
        d = ctx.durations[v]
        if d > SWEET_SPOT_MAX and span > 0 and d >= 0.5 * span:
            yield Finding(
                "MS302",
                f"'{ctx.name(v)}' is estimated at {format_duration(d)}, {d / span:.0%} of "
                "the critical path",
                "no number of workers makes the run shorter than its longest chain, and this "
                "task is most of it",
                "split it into parallel parts (for example with for_each over its inputs)",
                (ctx.name(v),), "estimate")


def check_uneven(ctx: LintContext) -> Iterator[Finding]:
    """MS303: within a for_each group or a stage, the largest is over 4x the median.

    A task is reported once, for its for_each group if that is uneven, else for its stage.
    """
    stages = [(f"stage {k + 1}", list(s)) for k, s in enumerate(ctx.analysis.stages)]
    groups = [(f"for_each '{g}'", list(m)) for g, m in ctx.graph.groups.items()]
    reported: set[int] = set()
    for label, group in groups + stages:
        members = [v for v in group if ctx.graph.tasks[v].estimate is not None]
        if len(members) < 3:
            continue
        sizes = [ctx.durations[v] for v in members]
        median = statistics.median(sizes)
        largest = max(members, key=lambda v: ctx.durations[v])
        if (median > 0 and ctx.durations[largest] > UNEVEN_FACTOR * median
                and largest not in reported):
            reported.add(largest)
            yield Finding(
                "MS303",
                f"in {label}, '{ctx.name(largest)}' is estimated at "
                f"{format_duration(ctx.durations[largest])}, "
                f"{ctx.durations[largest] / median:.1f}x the median of "
                f"{format_duration(median)}",
                "the other workers go idle while the largest task finishes (poor load "
                "balancing)",
                f"split '{ctx.name(largest)}' into pieces of about {format_duration(median)}",
                (ctx.name(largest),), "estimate")


def check_no_gain(ctx: LintContext) -> Iterator[Finding]:
    """MS304: the predicted speedup at the configured workers is under 2x."""
    analysis = ctx.analysis
    if not ctx.graph.tasks or analysis.work <= 0:
        return
    try:
        makespan = simulate(ctx.graph, ctx.resources, ctx.durations).makespan
    except InputError:  # a task that can never fit is MS201's to report
        return
    speedup = analysis.work / makespan if makespan > 0 else 1.0
    if speedup >= 2.0:
        return
    if analysis.max_speedup < 2.0:
        chain = " → ".join(ctx.graph.names(analysis.critical_path))
        reason = (f"the critical path {chain} is {analysis.span / analysis.work:.0%} of all "
                  "the work")
        fix = "split the tasks on the critical path, or run the work serially"
    elif len(ctx.graph) < 2 * ctx.resources.cpu:
        reason = f"only {len(ctx.graph)} tasks for {ctx.resources.cpu} workers"
        fix = "split the work into more independent tasks, or run it serially"
    elif ctx.resources.cpu < 2:
        reason = "only one CPU worker is configured"
        fix = "raise settings.workers (or -j)"
    else:
        reason = "memory estimates or locks keep tasks from running together"
        fix = "review the memory budget and the locks"
    yield Finding(
        "MS304",
        f"predicted speedup at {ctx.resources.cpu} workers is {speedup:.2f}x: {reason}",
        "under 2x, parallelism rarely justifies its complexity",
        fix, (), "settings.workers")


# ---------------------------------------------------------------------------- hygiene (MS4xx)


def check_redundant(ctx: LintContext) -> Iterator[Finding]:
    """MS401: a dependency already implied through another dependency."""
    if not ctx.reach.exact_for_all:
        return
    graph = ctx.graph
    for task in graph.tasks:
        if len(task.deps) < 2:
            continue
        entries = {dep: _dep_ids(graph, dep) for dep in task.deps}
        for dep, ids in entries.items():
            others = [u for d, us in entries.items() if d != dep for u in us]
            via = next((u for u in others if all(ctx.reach.reaches(i, u) for i in ids)), None)
            if via is not None:
                yield Finding(
                    "MS401",
                    f"'{task.name}' depends on '{dep}', which '{graph.tasks[via].name}' "
                    "already depends on",
                    "redundant edges hide the real structure of the graph",
                    f"remove '{dep}' from the deps of '{task.name}'",
                    (task.name,), "deps")


def _dep_ids(graph: TaskGraph, dep: str) -> Sequence[int]:
    return (graph.index[dep],) if dep in graph.index else graph.groups.get(dep, ())


def check_unestimated(ctx: LintContext) -> Iterator[Finding]:
    """MS402: tasks without an estimate (the plan uses the default for them)."""
    missing = tuple(t.name for t in ctx.graph.tasks
                    if t.estimate is None and "MS402" not in t.ignore)
    if missing:
        yield Finding(
            "MS402",
            f"{len(missing)} tasks have no estimate: {_list(missing)}",
            "the plan and the critical path use the default estimate for them, which may be "
            "far off",
            "add estimate = \"...\" (or let history learn it from a run)",
            missing, "estimate")


# ---------------------------------------------------------------------------- helpers


def _groups(graph: TaskGraph) -> list[tuple[str, list[int]]]:
    """Each for_each group, and the tasks outside any group as one set."""
    groups = [(f"for_each '{g}'", list(m)) for g, m in graph.groups.items()]
    loose = [v for v, t in enumerate(graph.tasks) if t.group is None]
    return groups + ([("the graph", loose)] if loose else [])


def _list(names: Sequence[str], most: int = 4) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


CHECKS: tuple[Check, ...] = (
    check_races, check_read_write, check_memory, check_workers, check_nested, check_many_tiny,
    check_too_fine, check_too_coarse, check_uneven, check_no_gain, check_redundant,
    check_unestimated,
)


def machine_context(graph: TaskGraph, durations: Sequence[float], resources: Resources,
                    memory_set: bool, io_set: bool, overhead: float | None = None
                    ) -> LintContext:
    """A context for this machine: its cores, measured overhead and available memory."""
    return LintContext(
        graph, durations, resources, usable_cores(),
        measure_overhead() if overhead is None else overhead,
        available_memory_budget() if memory_set else None,
        io_set,
    )
