"""Benchmark: `makespan lint` on a 10,000-task file with 10,000 output globs (issue 6).

What is measured, and against what (the peer runs on the same globs, in the same run):

1. `makespan.taskfile.load` of a generated `makespan.toml` that expands to 10,000 tasks, each
   with one output: `for_each` tables over 2,000 modules writing `build/{item}/**`,
   `reports/{item}-*.xml`, `site/{item}.html` and `dist/{item}.whl`, plus 2,000 plain tasks
   writing literal log paths, with inputs, dependencies, estimates and memory estimates, and a
   handful of deliberate races. Reported for information (issue 2 owns the load figure).
2. `makespan.lint.lint` with a context built as the CLI builds it (`machine_context`: cores,
   measured overhead, available memory), every check on. Target: under 2 s. The race checks
   (MS101-MS103) are also timed on their own.
3. Peer: the naive race check, `globs.overlaps` on every pair of output globs and every
   (input, output) pair. All 50 million pairs would take minutes, so it runs on a seeded sample
   of `--subset` outputs and inputs, and the per-pair time is extrapolated to the full count.
   On the sample the script also checks that the prefix index finds exactly the overlapping
   pairs the naive comparison finds.

Glob caches are cleared before every timed run, and every lint run gets a fresh context, so
no run reuses the work of another. Timings are the best of `--repeats`; "ours/peer" below 1
means we are faster.

    .venv/bin/python benchmarks/bench_lint.py [--repeats N] [--subset M]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from makespan import globs
from makespan.lint import (
    Finding,
    LintContext,
    _related_pairs,
    check_races,
    check_read_write,
    lint,
    machine_context,
)
from makespan.resources import detect
from makespan.taskfile import TaskFile, load

T = TypeVar("T")

SEED = 6
MODULES = 2_000
JOBS = 2_000
TASKS = 4 * MODULES + JOBS
RACES = 5  # deliberate races of each kind, so the checks have something to report
TARGET = 2.0  # seconds
MB = 10**6


# ---------------------------------------------------------------- input


def task_file_text(seed: int = SEED) -> str:
    """The task file: four `for_each` tables over the modules, then the plain jobs."""
    rng = random.Random(seed)
    modules = [f"m{i}" for i in range(MODULES)]
    items = json.dumps(modules)
    lines = ["[settings]", "workers = 2", 'memory = "16GiB"', ""]
    lines += [
        "[tasks.compile]", 'run = "make -C src/{item}"', f"for_each = {items}",
        'estimate = "40s"', 'memory = "400MB"',
        'inputs = ["src/{item}/**/*.c", "include/**/*.h"]', 'outputs = ["build/{item}/**"]', "",
        "[tasks.test]", 'run = ["pytest", "tests/{item}"]', f"for_each = {items}",
        'deps = ["compile[{item}]"]', 'estimate = "25s"', 'memory = "300MB"',
        'inputs = ["build/{item}/**"]', 'outputs = ["reports/{item}-*.xml"]', "",
        "[tasks.docs]", 'run = "render docs/{item}"', f"for_each = {items}", 'kind = "io"',
        'estimate = "3s"', 'inputs = ["docs/{item}/*.md"]', 'outputs = ["site/{item}.html"]', "",
        "[tasks.package]", 'run = "pack {item}"', f"for_each = {items}",
        'deps = ["test[{item}]"]', 'estimate = "5s"', 'outputs = ["dist/{item}.whl"]', "",
    ]
    for i in range(JOBS):
        module = rng.choice(modules)
        deps = sorted({f"job-{rng.randrange(i)}" for _ in range(rng.randint(0, 2)) if i})
        inputs = [f"reports/{module}-*.xml"]
        outputs = [f"logs/job-{i}.log"]
        if i < RACES:  # writes into a module's build directory, unordered with its compile
            outputs = [f"build/{module}/extra-{i}.o"]
        elif i < 2 * RACES:  # reads a module's build directory without depending on it
            inputs = [f"build/{module}/*.o"]
        else:
            deps.append(f"test[{module}]")
        lines += [
            f"[tasks.job-{i}]", f'run = "summarize {i}"', f"deps = {json.dumps(deps)}",
            f'estimate = "{rng.randint(2, 60)}s"', f'memory = "{rng.choice((50, 200))}MB"',
            f"inputs = {json.dumps(inputs)}", f"outputs = {json.dumps(outputs)}", "",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------- measuring


def clear_glob_caches() -> None:
    for cached in (globs._intersect_segments, globs._class_has, globs._class_has_any):
        cached.cache_clear()


def best_time(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """The shortest of `repeats` timed calls of `fn` (glob caches cleared before each)."""
    best = math.inf
    result: T | None = None
    for _ in range(repeats):
        result = None
        gc.collect()
        clear_glob_caches()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def context_for(task_file: TaskFile) -> LintContext:
    """What `makespan lint` builds: budgets from the settings, the machine for the rest."""
    settings = task_file.settings
    resources = detect(settings.workers, settings.io_workers, settings.memory)
    durations = task_file.graph.estimates(settings.default_estimate)
    return machine_context(task_file.graph, durations, resources,
                           settings.memory is not None, settings.io_workers is not None)


def race_findings(ctx: LintContext) -> list[Finding]:
    return [*check_races(ctx), *check_read_write(ctx)]


Pair = tuple[int, str, int, str]


def naive_pairs(outputs: Sequence[tuple[int, str]], inputs: Sequence[tuple[int, str]]
                ) -> set[Pair]:
    """The peer: `overlaps` on every output pair and every (input, output) pair."""
    found = set()
    for k, (u, a) in enumerate(outputs):
        for v, b in outputs[k + 1:]:
            if u != v and globs.overlaps(a, b):
                found.add((u, a, v, b))
    for u, a in inputs:
        for v, b in outputs:
            if u != v and globs.overlaps(a, b):
                found.add((u, a, v, b))
    return found


def indexed_pairs(outputs: Sequence[tuple[int, str]], inputs: Sequence[tuple[int, str]]
                  ) -> set[Pair]:
    """The same pairs found through lint's prefix index, in the peer's orientation."""
    rank = {entry: k for k, entry in enumerate(outputs)}
    found = set()
    for u, a, v, b in _related_pairs(outputs, outputs):
        if rank[(u, a)] < rank[(v, b)] and globs.overlaps(a, b):
            found.add((u, a, v, b))
    found.update(p for p in _related_pairs(inputs, outputs) if globs.overlaps(p[1], p[3]))
    return found


def globs_of(task_file: TaskFile, field: str) -> list[tuple[int, str]]:
    return [(v, globs.normalize(p)) for v, t in enumerate(task_file.graph.tasks)
            for p in getattr(t, field)]


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class Row:
    measure: str
    ours: str
    peer: str = "—"
    ratio: str = "—"
    target: str = "—"
    passed: bool | None = None

    def cells(self) -> list[str]:
        verdict = {None: "info", True: "PASS", False: "FAIL"}[self.passed]
        return [self.measure, self.ours, self.peer, self.ratio, self.target, verdict]


HEADER = ["measure", "ours", "peer", "ours/peer", "target", "result"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def markdown_table(rows: Iterable[Row]) -> str:
    table = [HEADER, [""] * len(HEADER), *(row.cells() for row in rows)]
    widths = [max(len(line[c]) for line in table) for c in range(len(HEADER))]
    table[1] = ["-" * w for w in widths]
    return "\n".join(
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |"
        for line in table
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            models = [line.split(":", 1)[1].strip() for line in info
                      if line.startswith("model name")]
        cpu = models[0] if models else cpu
    except OSError:
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"Python {platform.python_version()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the best is kept")
    parser.add_argument("--subset", type=int, default=1_000,
                        help="output (and input) globs the naive peer compares in full")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; best of {args.repeats}, seed {SEED}\n")

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "makespan.toml"
        path.write_text(task_file_text())
        load_time, task_file = best_time(lambda: load(path), args.repeats)

        def parse_only() -> dict[str, Any]:
            with path.open("rb") as f:
                return tomllib.load(f)

        toml_time, _ = best_time(parse_only, args.repeats)
        size = path.stat().st_size
    graph = task_file.graph
    outputs, inputs = globs_of(task_file, "outputs"), globs_of(task_file, "inputs")
    assert len(graph) == TASKS and len(outputs) == TASKS, (len(graph), len(outputs))

    lint_time, findings = best_time(lambda: lint(context_for(task_file)), args.repeats)
    races_time, races = best_time(lambda: race_findings(context_for(task_file)), args.repeats)
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.code] = counts.get(finding.code, 0) + 1
    assert counts.get("MS101", 0) >= RACES and counts.get("MS102", 0) >= RACES, counts

    rng = random.Random(SEED)
    sample_out = rng.sample(outputs, min(args.subset, len(outputs)))
    sample_in = rng.sample(inputs, min(args.subset, len(inputs)))
    sample_pairs = len(sample_out) * (len(sample_out) - 1) // 2 + len(sample_in) * len(sample_out)
    naive_time, naive = best_time(lambda: naive_pairs(sample_out, sample_in), 1)
    agree = naive == indexed_pairs(sample_out, sample_in)
    all_pairs = len(outputs) * (len(outputs) - 1) // 2 + len(inputs) * len(outputs)
    naive_full = naive_time / sample_pairs * all_pairs

    print(f"task file: {size / MB:.1f} MB, {len(graph):,} tasks, {graph.edge_count:,} edges, "
          f"{len(outputs):,} output and {len(inputs):,} input globs")
    print(f"findings: {', '.join(f'{c} x{n}' for c, n in sorted(counts.items()))} "
          f"({len(races)} from the race checks)")
    print(f"naive peer: {sample_pairs:,} pairs of a {len(sample_out):,}-output, "
          f"{len(sample_in):,}-input sample in {ms(naive_time)} "
          f"({naive_time / sample_pairs * 1e6:.2f} µs a pair), {len(naive)} overlapping; "
          f"prefix index finds the same pairs: {'yes' if agree else 'NO'}; "
          f"extrapolated to all {all_pairs:,} pairs\n")

    naive_label = f"naive all-pairs ~{naive_full:,.0f} s"
    rows = [
        Row("load 10k-task TOML (taskfile.load)", ms(load_time), f"tomllib.load {ms(toml_time)}",
            f"{load_time / toml_time:.2f}"),
        Row("lint, all checks (machine_context + lint)", ms(lint_time), naive_label,
            f"{lint_time / naive_full:.4f}", "< 2 s", lint_time < TARGET),
        Row("race checks only (MS101-MS103)", ms(races_time), naive_label,
            f"{races_time / naive_full:.4f}"),
        Row(f"naive pairs, measured on the sample ({sample_pairs:,} pairs)", ms(naive_time)),
        Row("load + lint", ms(load_time + lint_time)),
    ]
    print(markdown_table(rows))
    return 0 if agree and all(row.passed is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
