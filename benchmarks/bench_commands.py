"""Benchmark: running commands with `makespan run` (issue 4).

What is measured, and against what (peers run on the same input, in the same run, alternated):

1. Throughput: 2,000 independent `true` commands at `-j 2`, each tool timed as a whole process
   (`time.perf_counter` around `subprocess.run`, output to /dev/null). Peers: `xargs -P 2`,
   `make -j 2` (a Makefile of 2,000 phony targets), GNU `parallel -j 2` and a bare Python
   thread pool of 2 threads around `subprocess.Popen`. Every peer runs the same command string
   `true`. Each tool also runs a single `true`, which gives its start-up cost; the cost per
   command is (t(2000) - t(1)) / 1999, and the CPU per command the same for the user + system
   CPU of the whole process tree. Targets: makespan (`--quiet`, tasks with `estimate = "1ms"`)
   at most 1.25x xargs, at most 1.5x make and under half of parallel. Extra rows: makespan
   with `--no-history`, without estimates, and in its default (non-quiet) output mode, each in
   its own folder (their histories stay apart); then each makespan process split into the run
   itself (the record's `wall`) and everything around it.
2. Order: a chain of 10 x `sleep 0.2` declared after 40 independent `sleep 0.1`, 2 workers.
   The optimum is 3.0 s (the chain on one worker, the 0.1 s tasks around it); first come,
   first served takes 4.0 s. Target: makespan's run (the record's own `wall`) within 2 % of
   the optimum, and the whole `makespan run` process shorter than `make -j 2` on a Makefile
   with the same dependencies. Peers: make, a first-come-first-served thread pool, and, when
   installed, Dask's threaded and distributed schedulers and Ray (graph execution only: their
   import and cluster start are not counted).
3. Scale: a 20,000-task graph of `true` (each task depends on 0-2 of the 50 tasks before it).
   The peak RSS of the `makespan run` process itself, not its children: the process runs
   `makespan.cli.main` under a small wrapper that reads `getrusage(RUSAGE_SELF).ru_maxrss` and
   `VmHWM` from /proc/self/status when it ends; both count this process only (children have
   their own counters), and as high-water marks they miss no short peak, unlike polling.
   `/usr/bin/time -v` around the plain console script is printed as a cross-check (its
   figure is the largest of the process and its children, which are `true`). Target: under
   150 MB (10^6 bytes). And scheduling time for n = 5k, 10k, 20k on the same graph family:
   the simulator (the scheduler on a virtual clock), and the `Scheduler.start` / `finish`
   calls made by the real engine loop (with a no-op executor, so no process is started).
   Target: growth like n log n, not n^2: t(20k) / t(5k) at most 1.5x the n log n ratio (4.65),
   where n^2 would give 16.

Timings are the best and the median of `--repeats` runs; the machine may be shared, so the
ratios compare peers measured within the same run. makespan's bytecode is compiled before the
timed runs (as an installed package has it): this environment sets PYTHONDONTWRITEBYTECODE.

    .venv/bin/python benchmarks/bench_commands.py [--repeats N] [--only throughput,order,scale]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import gc
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

import makespan
from makespan.engine import Engine, RunOptions
from makespan.executors import Job, OnDone, Outcome
from makespan.model import Task, TaskGraph
from makespan.priority import critical_path_first
from makespan.reactor import Reactor
from makespan.record import RunRecord
from makespan.resources import Resources
from makespan.simulate import simulate

THROUGHPUT_TASKS = 2_000
WORKERS = 2
SCALE_SIZES = (5_000, 10_000, 20_000)
RSS_TASKS = 20_000
RSS_TARGET = 150 * 10**6
OPTIMUM = 3.0
ORDER_TOLERANCE = 0.02
SEED = 4
MB = 10**6
BIN = Path(sys.executable).parent
MAKESPAN = str(BIN / "makespan")
SHORT = 40, 0.1
CHAIN = 10, 0.2


# ---------------------------------------------------------------- inputs


def throughput_toml(n: int, estimates: bool) -> str:
    lines = ["[settings]", f"workers = {WORKERS}", ""]
    for i in range(n):
        lines += [f"[tasks.t{i}]", 'run = "true"']
        if estimates:
            lines.append('estimate = "1ms"')
        lines.append("")
    return "\n".join(lines)


def throughput_makefile(n: int) -> str:
    names = " ".join(f"t{i}" for i in range(n))
    rules = "".join(f"t{i}:\n\ttrue\n" for i in range(n))
    return f".PHONY: all {names}\nall: {names}\n{rules}"


POOL_SCRIPT = """\
import subprocess, sys
from concurrent.futures import ThreadPoolExecutor

def one(_):
    return subprocess.Popen(["true"], stdin=subprocess.DEVNULL).wait()

with ThreadPoolExecutor(int(sys.argv[2])) as pool:
    list(pool.map(one, range(int(sys.argv[1]))))
"""


@dataclass(frozen=True)
class Spec:
    """A task of the order graph: name, seconds of `sleep`, dependencies."""

    name: str
    seconds: float
    deps: tuple[str, ...] = ()


def order_graph() -> list[Spec]:
    """40 independent 0.1 s tasks, then a chain of 10 x 0.2 s, in that declaration order."""
    count, short = SHORT
    links, long = CHAIN
    specs = [Spec(f"t{i}", short) for i in range(count)]
    specs += [Spec(f"c{i}", long, (f"c{i - 1}",) if i else ()) for i in range(links)]
    return specs


def order_toml(specs: Sequence[Spec]) -> str:
    lines = ["[settings]", f"workers = {WORKERS}", ""]
    for s in specs:
        lines += [f"[tasks.{s.name}]", f'run = "sleep {s.seconds}"', f'estimate = "{s.seconds}s"']
        if s.deps:
            lines.append(f"deps = {json.dumps(list(s.deps))}")
        lines.append("")
    return "\n".join(lines)


def order_makefile(specs: Sequence[Spec]) -> str:
    names = " ".join(s.name for s in specs)
    heads = " ".join(s.name for s in specs if not any(s.name in o.deps for o in specs))
    rules = "".join(f"{s.name}: {' '.join(s.deps)}\n\tsleep {s.seconds}\n" for s in specs)
    return f".PHONY: all {names}\nall: {heads}\n{rules}"


def scale_deps(n: int, seed: int = SEED) -> list[tuple[int, ...]]:
    """Each task depends on 0, 1 or 2 distinct tasks among the 50 before it."""
    rng = random.Random(seed)
    return [tuple(rng.sample(range(max(0, i - 50), i), min(i, rng.randint(0, 2))))
            for i in range(n)]


def scale_graph(n: int) -> TaskGraph:
    return TaskGraph.build(
        Task(f"t{i}", "true", deps=tuple(f"t{j}" for j in deps), estimate=0.001)
        for i, deps in enumerate(scale_deps(n))
    )


def scale_toml(n: int) -> str:
    lines = ["[settings]", f"workers = {WORKERS}", ""]
    for i, deps in enumerate(scale_deps(n)):
        lines += [f"[tasks.t{i}]", 'run = "true"', 'estimate = "1ms"']
        if deps:
            lines.append(f"deps = {json.dumps([f't{j}' for j in deps])}")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- measuring


@dataclass
class Timings:
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """CPU seconds (user + system) of the whole process tree, per sample."""

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


LAST_CPU = [0.0]
"""CPU seconds of the process tree timed last by `timed_process`."""


def timed_process(argv: Sequence[str], cwd: Path, stdin: Path | None = None) -> float:
    """Wall seconds of one whole process; raises if it fails. Its CPU goes to `LAST_CPU`."""
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, stdin=source, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def alternate(peers: dict[str, Callable[[], float]], repeats: int) -> dict[str, Timings]:
    """Each repeat runs every peer once, starting one further along the list each time."""
    names = list(peers)
    out = {name: Timings() for name in names}
    for r in range(repeats):
        compile_makespan()  # others may edit the sources between repeats
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            LAST_CPU[0] = math.nan
            out[name].samples.append(peers[name]())
            out[name].cpu.append(LAST_CPU[0])
    return out


def compile_makespan() -> None:
    compileall.compile_dir(str(Path(makespan.__file__).parent), quiet=1)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms" if seconds < 10 else f"{seconds:.2f} s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.system()} {platform.machine()}, {psutil.cpu_count()} cores, "
            f"{memory:.0f} GiB RAM, Python {platform.python_version()}; "
            f"load average {load} at the end")


# ---------------------------------------------------------------- 1. throughput


OURS = "makespan run --quiet"
MAKESPAN_VARIANTS = {
    # name: (task file, extra arguments); each in its own folder, so histories stay apart
    OURS: ("est.toml", ["--quiet"]),
    "makespan run --quiet --no-history": ("est.toml", ["--quiet", "--no-history"]),
    "makespan run --quiet, no estimates": ("noest.toml", ["--quiet"]),
    "makespan run (default output)": ("est.toml", []),
}


def throughput(repeats: int, work: Path) -> list[str]:
    n = THROUGHPUT_TASKS
    inputs: dict[tuple[int, str], Path] = {}
    for count in (1, n):
        for variant in ("peers", *MAKESPAN_VARIANTS):
            folder = work / f"throughput-{count}" / str(len(inputs))
            folder.mkdir(parents=True)
            (folder / "est.toml").write_text(throughput_toml(count, estimates=True))
            (folder / "noest.toml").write_text(throughput_toml(count, estimates=False))
            (folder / "Makefile").write_text(throughput_makefile(count))
            (folder / "lines").write_text("true\n" * count)
            (folder / "pool.py").write_text(POOL_SCRIPT)
            inputs[count, variant] = folder
    parallel = shutil.which("parallel")
    j = str(WORKERS)
    record_walls: dict[tuple[int, str], list[float]] = {}

    def ours(count: int, variant: str) -> Callable[[], float]:
        folder = inputs[count, variant]
        file, extra = MAKESPAN_VARIANTS[variant]

        def run() -> float:
            elapsed = timed_process([MAKESPAN, "run", file, "-j", j, *extra], folder)
            record = json.loads((folder / ".makespan" / "last-run.json").read_text())
            record_walls.setdefault((count, variant), []).append(record["wall"])
            return elapsed

        return run

    def peers(count: int) -> dict[str, Callable[[], float]]:
        d = inputs[count, "peers"]
        lines = d / "lines"
        table = {variant: ours(count, variant) for variant in MAKESPAN_VARIANTS}
        table.update({
            "xargs -P 2": lambda: timed_process(["xargs", "-P", j, "-I", "{}", "true"], d, lines),
            "make -j 2": lambda: timed_process(["make", "-s", "-j", j], d),
            "Python thread pool + Popen": lambda: timed_process(
                [sys.executable, "pool.py", str(count), j], d),
        })
        if parallel:
            table["GNU parallel -j 2"] = lambda: timed_process(
                [parallel, "--will-cite", "-j", j], d, lines)
        return table

    compile_makespan()
    timed_process([MAKESPAN, "run", "est.toml", "-j", j, "--quiet"], inputs[1, "peers"])  # warm
    many = alternate(peers(n), repeats)
    one = alternate(peers(1), repeats)
    header = ["command (same `true` each)", f"{n} cmds best", "median", "1 cmd best",
              "per command", "CPU per command", "ours/peer (best)", "ours/peer (median)"]
    mine = many[OURS]
    rows = []
    for name, t in many.items():
        per = (t.best - one[name].best) / (n - 1)
        cpu = (min(t.cpu) - min(one[name].cpu)) / (n - 1)
        ratio = "—" if name.startswith("makespan") else f"{mine.best / t.best:.2f}"
        ratio_median = "—" if name.startswith("makespan") else f"{mine.median / t.median:.2f}"
        rows.append([name, fmt_ms(t.best), fmt_ms(t.median), fmt_ms(one[name].best),
                     f"{per * 1e3:.2f} ms", f"{cpu * 1e3:.2f} ms", ratio, ratio_median])
    if not parallel:
        rows.append(["GNU parallel -j 2", "not installed (apt-get install parallel)",
                     "", "", "", "", "", ""])
    out = [markdown_table(header, rows), ""]
    checks = [("xargs -P 2", 1.25, "at most"), ("make -j 2", 1.5, "at most")]
    if parallel:
        checks.append(("GNU parallel -j 2", 0.5, "under"))
    for peer, limit, how in checks:
        best = mine.best / many[peer].best
        median = mine.median / many[peer].median
        out.append(f"- makespan / {peer}: {best:.2f} best, {median:.2f} median "
                   f"(target: {how} {limit}) {verdict(best <= limit)}")
    out += ["", "Where makespan's time goes: the run itself (the record's `wall`, from the first "
            "start to the last exit) and everything around it (interpreter and imports, loading, "
            "history, lint, planning, writing the record and the history, the summary).", ""]
    split = []
    pool = many["Python thread pool + Popen"]
    for variant in MAKESPAN_VARIANTS:
        walls = Timings(record_walls[n, variant])
        whole = many[variant]
        split.append([variant, fmt_ms(walls.best), fmt_ms(walls.median),
                      fmt_ms(min(w - r for w, r in zip(whole.samples, walls.samples,
                                                        strict=True))),
                      fmt_ms(one[variant].best),
                      f"{walls.best / pool.best:.2f}"])
    out.append(markdown_table(
        ["", "run (record wall) best", "median", "around the run (best)",
         "whole process, 1 task", "run / thread pool process (best)"], split))
    return out


# ---------------------------------------------------------------- 2. order


def sleep_task(seconds: float, *_deps: Any) -> None:
    subprocess.run(["sleep", str(seconds)], check=True)


def fifo_run(specs: Sequence[Spec], workers: int) -> float:
    """First come, first served: ready tasks start in declaration order on `workers` threads."""
    lock = threading.Condition()
    waiting = {s.name: len(s.deps) for s in specs}
    ready = [s for s in specs if not s.deps]
    left = len(specs)

    def worker() -> None:
        nonlocal left
        while True:
            with lock:
                while not ready and left:
                    lock.wait()
                if not left:
                    return
                spec = ready.pop(0)
            sleep_task(spec.seconds)
            with lock:
                left -= 1
                for other in specs:
                    if spec.name in other.deps:
                        waiting[other.name] -= 1
                        if waiting[other.name] == 0:
                            ready.append(other)
                ready.sort(key=specs.index)
                lock.notify_all()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def dask_graph(specs: Sequence[Spec]) -> dict[str, Any]:
    return {s.name: (sleep_task, s.seconds, *s.deps) for s in specs}


def dask_threaded(specs: Sequence[Spec]) -> float:
    import dask.threaded

    graph = dask_graph(specs)
    start = time.perf_counter()
    dask.threaded.get(graph, list(graph), num_workers=WORKERS)
    return time.perf_counter() - start


class DaskDistributed:
    """An in-process LocalCluster of one worker with 2 threads, started once."""

    def __init__(self) -> None:
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(n_workers=1, threads_per_worker=WORKERS, processes=False,
                                    dashboard_address=":0")
        self.client = Client(self.cluster)

    def __call__(self, specs: Sequence[Spec]) -> float:
        graph = dask_graph(specs)
        start = time.perf_counter()
        self.client.get(graph, list(graph))
        return time.perf_counter() - start

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


class RayPeer:
    def __init__(self) -> None:
        import ray

        ray.init(num_cpus=WORKERS, include_dashboard=False, logging_level=40)
        self.ray = ray
        self.remote = ray.remote(num_cpus=1)(sleep_task)

    def __call__(self, specs: Sequence[Spec]) -> float:
        start = time.perf_counter()
        refs: dict[str, Any] = {}
        for s in specs:
            refs[s.name] = self.remote.remote(s.seconds, *(refs[d] for d in s.deps))
        self.ray.get(list(refs.values()))
        return time.perf_counter() - start

    def close(self) -> None:
        self.ray.shutdown()


def importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def order(repeats: int, work: Path) -> list[str]:
    specs = order_graph()
    folder = work / "order"
    folder.mkdir()
    (folder / "makespan.toml").write_text(order_toml(specs))
    (folder / "Makefile").write_text(order_makefile(specs))
    record_walls: list[float] = []

    def ours() -> float:
        elapsed = timed_process([MAKESPAN, "run", "-j", str(WORKERS), "--quiet"], folder)
        record = json.loads((folder / ".makespan" / "last-run.json").read_text())
        assert record["status"] == "ok", record["status"]
        record_walls.append(record["wall"])
        return elapsed

    peers: dict[str, Callable[[], float]] = {
        "makespan run -j 2 --quiet (process)": ours,
        "make -j 2 (same deps)": lambda: timed_process(["make", "-s", "-j", str(WORKERS)],
                                                       folder),
        "first come, first served (2 threads)": lambda: fifo_run(specs, WORKERS),
    }
    missing = []
    closers: list[Callable[[], None]] = []
    if importable("dask"):
        peers["Dask threaded (dask.threaded.get, 2 workers)"] = lambda: dask_threaded(specs)
    else:
        missing.append("Dask threaded")
    if importable("distributed"):
        cluster = DaskDistributed()
        closers.append(cluster.close)
        peers["Dask distributed (LocalCluster, 2 threads)"] = lambda: cluster(specs)
    else:
        missing.append("Dask distributed")
    if importable("ray"):
        ray_peer = RayPeer()
        closers.append(ray_peer.close)
        peers["Ray (num_cpus=2)"] = lambda: ray_peer(specs)
    else:
        missing.append("Ray")
    try:
        results = alternate(peers, repeats)
    finally:
        for close in closers:
            close()
    walls = Timings(record_walls)
    header = ["scheduler", "wall best", "median", "best / optimum", "median / optimum"]
    rows = [["makespan run: the record's `wall`", fmt_ms(walls.best), fmt_ms(walls.median),
             f"{walls.best / OPTIMUM:.3f}", f"{walls.median / OPTIMUM:.3f}"]]
    for name, t in results.items():
        rows.append([name, fmt_ms(t.best), fmt_ms(t.median), f"{t.best / OPTIMUM:.3f}",
                     f"{t.median / OPTIMUM:.3f}"])
    for name in missing:
        rows.append([name, "not installed", "", "", ""])
    mk = results["make -j 2 (same deps)"]
    proc = results["makespan run -j 2 --quiet (process)"]
    predicted = simulate(TaskGraph.build(
        Task(s.name, f"sleep {s.seconds}", deps=s.deps, estimate=s.seconds) for s in specs
    ), Resources(WORKERS, 3 * WORKERS, 2**40)).makespan
    return [
        f"optimum {OPTIMUM:.1f} s (work 6.0 s on 2 workers; span 2.0 s); "
        f"makespan's own prediction {predicted:.2f} s",
        "",
        markdown_table(header, rows),
        "",
        f"- makespan run (record wall) / optimum: {walls.best / OPTIMUM:.3f} best, "
        f"{walls.median / OPTIMUM:.3f} median (target: at most {1 + ORDER_TOLERANCE:.2f}) "
        f"{verdict(walls.best <= OPTIMUM * (1 + ORDER_TOLERANCE))}",
        f"- makespan run (whole process) / make -j 2: {proc.best / mk.best:.2f} best, "
        f"{proc.median / mk.median:.2f} median (target: under 1) "
        f"{verdict(proc.best < mk.best)}",
    ]


# ---------------------------------------------------------------- 3. scale


RSS_PROBE = """\
import json, os, resource, sys
from makespan.cli import main

code = main(sys.argv[2:])
with open("/proc/self/status") as f:
    hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "vmhwm": hwm, "ru_maxrss": usage}, f)
"""


def engine_rss(work: Path) -> list[str]:
    folder = work / "scale"
    folder.mkdir()
    (folder / "makespan.toml").write_text(scale_toml(RSS_TASKS))
    (folder / "probe.py").write_text(RSS_PROBE)
    out = folder / "rss.json"
    compile_makespan()
    elapsed = timed_process([sys.executable, "probe.py", str(out), "run", "-j", str(WORKERS),
                             "--quiet"], folder)
    probe = json.loads(out.read_text())
    assert probe["code"] == 0, probe
    peak = max(probe["vmhwm"], probe["ru_maxrss"])
    lines = [
        f"- peak RSS of `makespan run` on {RSS_TASKS:,} tasks (VmHWM / ru_maxrss of the "
        f"process itself): {probe['vmhwm'] / MB:.0f} MB / {probe['ru_maxrss'] / MB:.0f} MB "
        f"in a {elapsed:.1f} s run (target: under {RSS_TARGET / MB:.0f} MB) "
        f"{verdict(peak < RSS_TARGET)}",
    ]
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        done = subprocess.run([str(gnu_time), "-v", MAKESPAN, "run", "-j", str(WORKERS),
                               "--quiet"], cwd=folder, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        kb = next((int(line.split()[-1]) for line in done.stderr.splitlines()
                   if "Maximum resident set size" in line), None)
        if kb is not None:
            lines.append(f"- cross-check, `/usr/bin/time -v makespan run` (largest of the "
                         f"process and its children): {kb * 1024 / MB:.0f} MB")
    return lines


class _NoopExecutor:
    """Completes every job at once, through the reactor, as a real executor would."""

    def __init__(self, reactor: Reactor, on_done: OnDone) -> None:
        self._reactor = reactor
        self._on_done = on_done

    def start(self, job: Job) -> None:
        self._reactor.post(lambda: self._on_done(job.id, Outcome(exit_code=0)))

    def stop(self, task: int, force: bool) -> None:
        pass

    def rss(self, task: int) -> int | None:
        return None

    def close(self) -> None:
        pass


def engine_scheduler_time(graph: TaskGraph, logs: Path) -> tuple[float, float]:
    """(seconds in Scheduler.start/finish, seconds of the whole engine run), no-op executor."""
    durations = graph.estimates()
    resources = Resources(WORKERS, 3 * WORKERS, 2**40)
    record = RunRecord("bench", (t.name for t in graph.tasks))
    engine = Engine(graph, resources, durations, critical_path_first(graph, durations),
                    _NoopExecutor, record, logs, RunOptions())
    scheduler = engine.scheduler
    spent = [0.0]

    def timing(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            began = time.perf_counter()
            try:
                return method(*args)
            finally:
                spent[0] += time.perf_counter() - began
        return call

    scheduler.start = timing(scheduler.start)  # type: ignore[method-assign]
    scheduler.finish = timing(scheduler.finish)  # type: ignore[method-assign]
    began = time.perf_counter()
    engine.run()
    return spent[0], time.perf_counter() - began


def scheduler_growth(repeats: int, work: Path) -> list[str]:
    resources = Resources(WORKERS, 3 * WORKERS, 2**40)
    rows = []
    sim: dict[int, float] = {}
    eng: dict[int, float] = {}
    for n in SCALE_SIZES:
        graph = scale_graph(n)
        durations = graph.estimates()
        position = critical_path_first(graph, durations)
        best_sim = best_sched = best_engine = math.inf
        for _ in range(repeats):
            gc.collect()
            began = time.perf_counter()
            simulate(graph, resources, durations, position)
            best_sim = min(best_sim, time.perf_counter() - began)
            gc.collect()
            sched, whole = engine_scheduler_time(graph, work)
            best_sched, best_engine = min(best_sched, sched), min(best_engine, whole)
        sim[n], eng[n] = best_sim, best_sched
        rows.append([f"{n:,}", fmt_ms(best_sim), fmt_ms(best_sched), fmt_ms(best_engine),
                     f"{best_engine / n * 1e6:.0f} µs"])
    header = ["tasks", "simulate", "Scheduler calls in the engine",
              "engine loop, no-op executor", "engine per task"]
    lo, hi = SCALE_SIZES[0], SCALE_SIZES[-1]
    nlogn = hi * math.log(hi) / (lo * math.log(lo))
    square = (hi / lo) ** 2
    lines = [markdown_table(header, rows), ""]
    for label, t in (("simulate", sim), ("Scheduler calls in the engine", eng)):
        growth = t[hi] / t[lo]
        lines.append(f"- {label}: t({hi // 1000}k) / t({lo // 1000}k) = {growth:.2f}; "
                     f"n log n predicts {nlogn:.2f}, n^2 {square:.0f}: ratio to n log n "
                     f"{growth / nlogn:.2f} (target: at most 1.5) "
                     f"{verdict(growth <= 1.5 * nlogn)}")
    return lines


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="throughput,order,scale",
                        help="comma-separated sections to run")
    args = parser.parse_args(argv)
    sections = set(args.only.split(","))
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        work = Path(tmp)
        if "throughput" in sections:
            print(f"## 1. {THROUGHPUT_TASKS:,} x `true`, -j {WORKERS}, whole processes, "
                  f"{args.repeats} repeats\n", flush=True)
            print("\n".join(throughput(args.repeats, work)) + "\n", flush=True)
        if "order" in sections:
            print("## 2. Order matters: 40 x 0.1 s, then a chain of 10 x 0.2 s, 2 workers, "
                  f"{min(args.repeats, 3)} repeats\n", flush=True)
            print("\n".join(order(min(args.repeats, 3), work)) + "\n", flush=True)
        if "scale" in sections:
            print(f"## 3. Scale: {RSS_TASKS:,}-task graph of `true`\n", flush=True)
            print("\n".join(engine_rss(work)) + "\n", flush=True)
            print("\n".join(scheduler_growth(max(args.repeats, 3), work)) + "\n", flush=True)
    print(textwrap.fill(f"Machine: {machine()}. Benchmark took "
                        f"{time.perf_counter() - began:.0f} s.", 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
