"""Benchmark: the HTML report, the history database and learned estimates (issue 7).

What is measured, and against what (each peer runs in the same run, on the same machine):

1. The HTML report of a real 5,000-task run (a layered DAG of `true` commands run with
   `makespan run`): its size, the time to render it, and the time Chromium takes to open it:
   inside a running headless browser, from asking for the page until it is loaded and laid out
   (`tests/browser.py: open_time`), and, for information, a whole `chromium --headless
   --dump-dom` process, browser start included. Peer: the same for a trivial page. Targets:
   under 5 MB, and open in under 2 s.
2. Writing the history of a 20,000-task run (`history.remember` from its record), into a new
   database and into one already holding ten runs of the same tasks (so old rows are pruned).
   Peer: writing the run record itself (`record.write_record`: JSON, temporary file, rename).
   Target: under 1 s.
3. Learned estimates on the example workflow: a copy of `examples/devflow` whose estimates
   are deliberately wrong (short tasks estimated 4x too long, long ones 4x too short, which
   also puts the wrong tasks on the critical path), run three times. Peer: the first run, which
   can only use the wrong estimates. Target: from the second run on, the predicted makespan is
   within 10 % of the real wall time.

    .venv/bin/python benchmarks/bench_reports.py [--skip-browser]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from makespan.cli import main
from makespan.history import DATABASE, KEEP, remember
from makespan.model import Task, TaskGraph
from makespan.record import LAST_RUN, write_record
from makespan.report_html import render

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser import CHROMIUM, dump_dom, open_time

SEED = 7
REPORT_TASKS = 5_000
LAYERS = 50
HISTORY_TASKS = 20_000
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "devflow"
MB = 10**6
REPEATS = 3


def best(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def quiet_main(*args: str) -> int:
    """`makespan ARGS` with its output thrown away."""
    with open(os.devnull, "w") as null:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = null
        try:
            return main(list(args))
        finally:
            sys.stdout, sys.stderr = saved


# ---------------------------------------------------------------- 1. the HTML report


def layered_toml(tasks: int, layers: int, seed: int) -> str:
    """`tasks` `true` commands in `layers` layers, each depending on two of the layer before."""
    rng = random.Random(seed)
    width = tasks // layers
    lines = ['[settings]\nmemory = "4GiB"\n']
    for layer in range(layers):
        for k in range(width):
            deps = (f'deps = ["t{layer - 1}-{rng.randrange(width)}", '
                    f'"t{layer - 1}-{rng.randrange(width)}"]\n' if layer else "")
            lines.append(f'[tasks."t{layer}-{k}"]\nrun = ["true"]\n'
                         f'estimate = "{rng.randint(5, 50)}ms"\n{deps}')
    return "".join(lines)


def report_figures(directory: Path, browser: bool) -> list[tuple[str, str, str, str, str]]:
    (directory / "makespan.toml").write_text(layered_toml(REPORT_TASKS, LAYERS, SEED))
    started = time.perf_counter()
    code = quiet_main("run", str(directory / "makespan.toml"), "-q", "--optimize", "0",
                      "--no-history")
    run_time = time.perf_counter() - started
    assert code == 0, "the 5,000-task run failed"
    document = json.loads((directory / LAST_RUN).read_text())
    assert len(document["tasks"]) == REPORT_TASKS
    page = directory / "report.html"
    render_time = best(REPEATS, lambda: page.write_text(render(document), encoding="utf-8"))
    size = page.stat().st_size
    rows = [
        ("5,000-task run (makespan run, `true` commands)", f"{run_time:.1f} s", "—", "—",
         "info"),
        ("HTML report size", f"{size / MB:.2f} MB", "—", "< 5 MB",
         "PASS" if size < 5 * MB else "FAIL"),
        ("render the HTML (report_html.render)", f"{render_time * 1000:.0f} ms", "—", "—",
         "info"),
    ]
    if not browser or CHROMIUM is None:
        rows.append(("open in Chromium", "not measured", "—", "< 2 s",
                     "skipped" if CHROMIUM else "no chromium"))
        return rows
    trivial = directory / "trivial.html"
    trivial.write_text("<!DOCTYPE html><title>t</title><p>hello</p>")
    dump_dom(trivial)  # the first start of a browser reads its files from disk: not counted
    opened = min(open_time(page) for _ in range(REPEATS))
    opened_peer = min(open_time(trivial) for _ in range(REPEATS))
    process = best(REPEATS, lambda: dump_dom(page))
    process_peer = best(REPEATS, lambda: dump_dom(trivial))
    bars = len(re.findall(r'<rect class="bar', dump_dom(page)))
    assert bars == REPORT_TASKS, f"Chromium shows {bars} bars"
    return [*rows,
            ("open in Chromium: load and lay out", f"{opened:.2f} s", f"{opened_peer:.2f} s",
             "< 2 s", "PASS" if opened < 2 else "FAIL"),
            ("chromium --headless --dump-dom, start to exit", f"{process:.2f} s",
             f"{process_peer:.2f} s", "—", "info")]


# ---------------------------------------------------------------- 2. writing the history


def big_run(tasks: int, seed: int) -> tuple[TaskGraph, dict[str, Any]]:
    """A graph of `tasks` commands and the record of a finished run of it (no real run)."""
    rng = random.Random(seed)
    graph = TaskGraph.build(Task(f"t{k}", run=f"./step {k}") for k in range(tasks))
    rows, now = [], 0.0
    for task in graph.tasks:
        took = rng.uniform(0.01, 2.0)
        rows.append({"name": task.name, "status": "ok", "start": now, "end": now + took,
                     "slot": "cpu-0", "exit_code": 0, "attempts": 1,
                     "peak_rss": rng.randint(10, 500) * 2**20, "reason": None, "log": None})
        now += took
    document = {"id": "bench", "status": "ok", "wall": now, "tasks": rows, "events": []}
    return graph, document


def history_figures(directory: Path) -> list[tuple[str, str, str, str, str]]:
    graph, document = big_run(HISTORY_TASKS, SEED)
    peer = best(REPEATS, lambda: write_record({**document, "id": "peer"}, directory / "peer"))

    def fresh() -> None:
        shutil.rmtree(directory / ".makespan", ignore_errors=True)
        warning = remember(graph, document, directory)
        assert warning is None, warning

    first = best(REPEATS, fresh)
    for _ in range(KEEP):
        remember(graph, document, directory)
    pruning = best(REPEATS, lambda: remember(graph, document, directory))
    size = (directory / DATABASE).stat().st_size
    return [
        ("history write, 20,000 tasks, new database", f"{first * 1000:.0f} ms",
         f"{peer * 1000:.0f} ms", "< 1 s", "PASS" if first < 1 else "FAIL"),
        (f"history write, 20,000 tasks, after {KEEP + 1} runs (pruning)",
         f"{pruning * 1000:.0f} ms", f"{peer * 1000:.0f} ms", "< 1 s",
         "PASS" if pruning < 1 else "FAIL"),
        (f"database size, {KEEP} rows kept for each of 20,000 tasks", f"{size / MB:.1f} MB",
         "—", "—", "info"),
    ]


# ---------------------------------------------------------------- 3. learned estimates


def wrong_estimates(text: str) -> str:
    """The task file with tasks under a second estimated 4x too long, the others 4x too short."""

    def skew(match: re.Match[str]) -> str:
        value, unit = float(match.group(1)), match.group(2)
        seconds = value / 1000 if unit == "ms" else value
        return f'estimate = "{seconds * (4 if seconds < 1 else 0.25):.3f}s"'

    return re.sub(r'estimate = "([\d.]+)(ms|s)"', skew, text)


def accuracy_figures(directory: Path) -> list[tuple[str, str, str, str, str]]:
    for name in ("makespan.toml", "standin.py"):
        shutil.copy(EXAMPLE / name, directory / name)
    toml = directory / "makespan.toml"
    toml.write_text(wrong_estimates(toml.read_text()))
    rows = []
    errors = []
    for k in range(1, 4):
        assert quiet_main("run", str(toml), "-q") == 0, "the example run failed"
        record = json.loads((directory / LAST_RUN).read_text())
        predicted, wall = record["predicted"]["makespan"], record["wall"]
        error = abs(predicted - wall) / wall
        source = ", ".join(f"{n} {s}" for s, n in record["estimates"]["duration"].items())
        if k > 1:
            errors.append(error)
        rows.append((f"example, run {k}: predicted / wall ({source})",
                     f"{predicted:.1f} s / {wall:.1f} s", f"error {error:.0%}",
                     "—" if k == 1 else "≤ 10 %",
                     "peer" if k == 1 else "PASS" if error <= 0.10 else "FAIL"))
        rows.append(("  median error of a task's predicted duration",
                     f"{task_error(record):.0%}", "—", "—", "info"))
    rows.append(("  median error from the second run on", f"{statistics.median(errors):.0%}",
                 "—", "≤ 10 %", "PASS" if max(errors) <= 0.10 else "FAIL"))
    return rows


def task_error(record: dict[str, Any]) -> float:
    """The median of |predicted - actual| / actual over the run's tasks."""
    predicted = record["predicted"]["duration"]
    return statistics.median(
        abs(predicted[row["name"]] - (row["end"] - row["start"])) / (row["end"] - row["start"])
        for row in record["tasks"])


def machine() -> str:
    cores = len(os.sched_getaffinity(0))
    memory = psutil.virtual_memory().total / 2**30
    return (f"{platform.system()} {platform.machine()}, {cores} cores, {memory:.0f} GiB RAM, "
            f"Python {platform.python_version()}")


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-browser", action="store_true",
                        help="do not open the report in Chromium")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name, figures in (
            ("report", lambda d: report_figures(d, not args.skip_browser)),
            ("history", history_figures),
            ("accuracy", accuracy_figures),
        ):
            (base / name).mkdir()
            rows += figures(base / name)
    print(f"Machine: {machine()}; Chromium: {CHROMIUM or 'none'}\n")
    header = ("measure", "ours", "peer", "target", "result")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
              + " |")


if __name__ == "__main__":
    main_()
