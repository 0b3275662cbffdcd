"""Benchmark: graph analysis, task-file loading and graph memory (issue 2).

What is measured, and against what (each peer runs on the same input, in the same run):

1. A random DAG of 100,000 tasks and exactly 300,000 edges, built through the API
   (`Task` values + `TaskGraph.build`), then `makespan.analysis.analyze` (stages, critical path,
   bounds) with the tasks' estimates. Build and analysis are timed separately and together.
   Peer: `networkx.dag_longest_path` on the same graph, each edge `u -> v` weighted by the
   estimate of `v`; the DiGraph is built outside the timed region. Target: analysis under 1 s
   and faster than the peer.
2. `makespan.taskfile.load` of a generated 10,000-task `makespan.toml` (deps, estimates, sizes,
   inputs, outputs, locks and `for_each` tables). Peer: `tomllib.load` of the same file, which
   is the floor that loading cannot beat. Target: under 1 s.
3. The resident memory the 100,000-task graph costs, measured in a fresh child process so
   nothing else this script does is counted. Target: under 200 MB (10^6 bytes).

Timings are the best of `--repeats` runs with the garbage collector on, as users run it.
The table is Markdown so it can be pasted into docs/benchmarks.md; "ours/peer" below 1 means
we are faster.

    .venv/bin/python benchmarks/bench_analysis.py [--repeats N]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from makespan.analysis import Analysis, analyze
from makespan.model import Task, TaskGraph
from makespan.taskfile import load

T = TypeVar("T")

SEED = 2
TASKS = 100_000
EDGES = 300_000
DEPS_PER_TASK = 3
WINDOW = 1_000
FILE_TASKS = 10_000
TIME_TARGET = 1.0  # seconds
MEMORY_TARGET = 200 * 10**6  # bytes
MB = 10**6
PROBE_FLAG = "--memory-probe"


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class GraphInputs:
    """A random DAG as plain data: what a front end would hand to the API."""

    names: list[str]
    deps: list[tuple[str, ...]]
    dep_ids: list[tuple[int, ...]]
    estimates: list[float]


def random_dag(tasks: int, edges: int, window: int, seed: int) -> list[tuple[int, ...]]:
    """Each task's dependencies: `DEPS_PER_TASK` distinct ids among the previous `window`.

    Tasks 1 and 2 have fewer earlier tasks to choose from, so the last few tasks get one more
    dependency each, to make the edge count exactly `edges`.
    """
    rng = random.Random(seed)
    deps = [
        tuple(rng.sample(range(max(0, i - window), i), min(DEPS_PER_TASK, i)))
        for i in range(tasks)
    ]
    missing = edges - sum(len(d) for d in deps)
    for i in range(tasks - missing, tasks):
        choices = [j for j in range(max(0, i - window), i) if j not in deps[i]]
        deps[i] = (*deps[i], rng.choice(choices))
    return deps


def graph_inputs(tasks: int = TASKS, edges: int = EDGES, seed: int = SEED) -> GraphInputs:
    dep_ids = random_dag(tasks, edges, WINDOW, seed)
    rng = random.Random(seed + 1)
    names = [f"t{i}" for i in range(tasks)]
    return GraphInputs(
        names=names,
        deps=[tuple(names[j] for j in d) for d in dep_ids],
        dep_ids=dep_ids,
        estimates=[round(rng.uniform(0.1, 120.0), 3) for _ in range(tasks)],
    )


def build_graph(inputs: GraphInputs) -> TaskGraph:
    """The timed part: `Task` values and `TaskGraph.build`, as an API user would do it."""
    tasks = [
        Task(
            name=name,
            run=f"make {name}",
            deps=deps,
            estimate=estimate,
            kind="io" if i % 10 == 0 else "cpu",
            locks=("db",) if i % 100 == 0 else (),
        )
        for i, (name, deps, estimate) in enumerate(
            zip(inputs.names, inputs.deps, inputs.estimates, strict=True)
        )
    ]
    return TaskGraph.build(tasks)


def run_analysis(graph: TaskGraph) -> Analysis:
    return analyze(graph, graph.estimates())


def task_file_text(tasks: int, seed: int) -> str:
    """A `makespan.toml` of `tasks` tasks after expansion, in blocks of ten per module:
    five compile tasks and one `for_each` test table of five items."""
    rng = random.Random(seed)
    lines = ["[settings]", "workers = 2", 'memory = "8GiB"', ""]
    names: list[str] = []  # tasks and for_each groups that later tasks may depend on
    for module in range(tasks // 10):
        for k in range(5):
            name = f"compile-{module}-{k}"
            deps = rng.sample(names[-200:], min(2, len(names)))
            lines += [
                f"[tasks.{name}]",
                f'run = "cc -c src/m{module}/f{k}.c -o build/m{module}/f{k}.o"',
                f"deps = {json.dumps(deps)}",
                f'estimate = "{rng.randint(1, 90)}s"',
                f'memory = "{rng.choice((100, 300, 800))}MB"',
                f'inputs = ["src/m{module}/f{k}.c", "include/**/*.h"]',
                f'outputs = ["build/m{module}/f{k}.o"]',
                "",
            ]
            names.append(name)
        group = f"test-{module}"
        lines += [
            f"[tasks.{group}]",
            f'run = ["pytest", "tests/m{module}/test_{{item}}.py"]',
            'for_each = ["a", "b", "c", "d", "e"]',
            f'deps = ["compile-{module}-0", "compile-{module}-4"]',
            'kind = "io"',
            f'estimate = "1m{rng.randint(0, 59)}s"',
            f'outputs = ["reports/m{module}/{{item}}.xml"]',
            'locks = ["db"]',
            'timeout = "10m"',
            "retries = 1",
            "",
        ]
        names.append(group)
    return "\n".join(lines)


# ---------------------------------------------------------------- measuring


def best_time(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """The shortest of `repeats` timed calls of `fn`, and the last result."""
    best = math.inf
    result: T | None = None
    for _ in range(repeats):
        result = None  # let the previous result go before the next run
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def networkx_peer(inputs: GraphInputs) -> tuple[Callable[[], list[int]], float]:
    """A timed `dag_longest_path` call on a prebuilt DiGraph, and how long building it took.

    Edge `u -> v` weighs the estimate of `v`. Task 0 is the only task without dependencies, so
    every longest path starts there and its length is our span minus task 0's estimate.
    """
    import networkx as nx  # imported here so the memory probe does not load it

    start = time.perf_counter()
    digraph = nx.DiGraph()
    digraph.add_nodes_from(range(len(inputs.names)))
    digraph.add_weighted_edges_from(
        (u, v, inputs.estimates[v]) for v, deps in enumerate(inputs.dep_ids) for u in deps
    )
    built = time.perf_counter() - start
    return (lambda: nx.dag_longest_path(digraph, weight="weight")), built


def memory_probe() -> dict[str, int]:
    """Run in a fresh process: RSS before and after building the graph (inputs included)."""
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    inputs = graph_inputs()
    graph = build_graph(inputs)
    del inputs
    gc.collect()
    after = process.memory_info().rss
    assert len(graph) == TASKS
    return {"before": before, "after": after, "peak": peak_rss()}


def peak_rss() -> int:
    """This process's peak RSS in bytes.

    On Linux, read `VmHWM`: `ru_maxrss` of a child started by fork and exec still counts the
    parent's peak, which here is the rest of this benchmark.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure_memory() -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, __file__, PROBE_FLAG], capture_output=True, text=True, check=True
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


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


def markdown_table(rows: Sequence[Row]) -> str:
    table = [HEADER, [""] * len(HEADER), *(row.cells() for row in rows)]
    widths = [max(len(line[c]) for line in table) for c in range(len(HEADER))]
    table[1] = ["-" * w for w in widths]
    return "\n".join(
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |"
        for line in table
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:  # Linux; the platform module only gives the arch
        models = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    if models:
        cpu = models[0]
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}"
    )


# ---------------------------------------------------------------- the three figures


def graph_rows(repeats: int) -> list[Row]:
    inputs = graph_inputs()
    build, graph = best_time(lambda: build_graph(inputs), repeats)
    assert (len(graph), graph.edge_count) == (TASKS, EDGES), (len(graph), graph.edge_count)
    analysis_time, analysis = best_time(lambda: run_analysis(graph), repeats)
    longest_path, nx_build = networkx_peer(inputs)
    peer, path = best_time(longest_path, repeats)
    agree = math.isclose(sum(inputs.estimates[i] for i in path), analysis.span)
    print(f"graph: {len(graph):,} tasks, {graph.edge_count:,} edges, "
          f"{len(analysis.stages):,} stages, critical path of {len(analysis.critical_path):,} "
          f"tasks, span {analysis.span:,.1f} s; networkx agrees: {'yes' if agree else 'NO'} "
          f"(its DiGraph took {ms(nx_build)} to build, untimed)")
    total = build + analysis_time
    return [
        Row("build 100k tasks / 300k edges (Task + TaskGraph.build)", ms(build)),
        Row("analyze (estimates + analyze)", ms(analysis_time),
            f"nx.dag_longest_path {ms(peer)}", f"{analysis_time / peer:.2f}",
            "< 1 s and faster than peer", analysis_time < TIME_TARGET and analysis_time < peer),
        Row("build + analyze", ms(total), target="< 1 s", passed=total < TIME_TARGET),
    ]


def task_file_rows(repeats: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "makespan.toml"
        path.write_text(task_file_text(FILE_TASKS, SEED))
        ours, task_file = best_time(lambda: load(path), repeats)
        assert len(task_file.graph) == FILE_TASKS, len(task_file.graph)

        def parse_only() -> dict[str, Any]:
            with path.open("rb") as f:
                return tomllib.load(f)

        peer, _ = best_time(parse_only, repeats)
        size = path.stat().st_size
    print(f"task file: {FILE_TASKS:,} tasks ({FILE_TASKS // 10 * 6:,} tables), "
          f"{task_file.graph.edge_count:,} edges, {size / MB:.1f} MB")
    return [
        Row("load + validate 10k-task TOML (taskfile.load)", ms(ours),
            f"tomllib.load {ms(peer)}", f"{ours / peer:.2f}", "< 1 s", ours < TIME_TARGET),
    ]


def memory_rows() -> list[Row]:
    rss = measure_memory()
    growth = rss["after"] - rss["before"]
    return [
        Row("RSS growth, 100k-task graph (fresh process)", f"{growth / MB:.0f} MB",
            target="< 200 MB", passed=growth < MEMORY_TARGET),
        Row("peak RSS growth while building", f"{(rss['peak'] - rss['before']) / MB:.0f} MB"),
        Row("process RSS after build (total)", f"{rss['after'] / MB:.0f} MB"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the best is kept")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; best of {args.repeats}, seed {SEED}\n")
    rows = [*graph_rows(args.repeats), *task_file_rows(args.repeats), *memory_rows()]
    print()
    print(markdown_table(rows))
    return 0 if all(row.passed is not False for row in rows) else 1


if __name__ == "__main__":
    if sys.argv[1:] == [PROBE_FLAG]:
        print(json.dumps(memory_probe()))
    else:
        sys.exit(main())
