"""Benchmark of the Python API (issue 5): its overhead per task, parallel_map of tiny items, and
a CPU-bound map_reduce over a file, each against peers measured in the same run.

    .venv/bin/python benchmarks/bench_api.py [--repeats N] [--only overhead,map,reduce]
                                             [--mb 200] [--small-mb 50]

1. Overhead. A layered graph of 10,000 no-op tasks (100 layers of 100; each task depends on 2
   tasks of the previous layer) on 2 thread workers, graph building included, record written.
   Peers: a plain ThreadPoolExecutor(2) submit + result of 10,000 independent no-ops; a minimal
   FIFO DAG runner written here (ThreadPoolExecutor(2), a ready queue, in-degree counts); dask's
   threaded scheduler (`dask.threaded.get`, num_workers=2) on the same graph; dask.distributed
   (`client.submit` per task, futures as arguments) on a LocalCluster of one worker process with
   2 threads, its start-up not timed; Ray, if installed, on a local Ray of 2 CPUs (reported,
   no target). Targets: ours <= ThreadPoolExecutor, dask threaded / ours >= 2.5,
   distributed / ours >= 20.
2. parallel_map of 1,000,000 tiny items (`lambda x: x * x`), chunk="auto", on 2 CPU workers.
   Peers: ProcessPoolExecutor(2).map at several chunksizes (its best is reported) and
   joblib.Parallel(n_jobs=2) with its automatic batching (both with a module-level square:
   neither pickles a lambda by value); each pool's start-up is timed, as ours is. Target: ours
   <= both.
3. map_reduce of word frequencies over a generated text file (200 MB): serial (one pass over
   the file) against map_reduce on 2 CPU workers; target speedup >= 1.8. Information rows: the
   serial count reading the file as map_reduce's workers do (in blocks split by StringIO, which
   is faster than iterating a text file), and what the machine allows: the same count by two
   bare forked processes, half the file's bytes each, and two CPU-bound loops against one.
   Then the engine (parent) process's peak RSS, each file size in a fresh process: it must not
   grow with the file.

The machine is shared: every measure is repeated (interleaved with its peers), and the table
shows the best and the median of the repeats; ratios and PASS/FAIL use the best of each side.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from makespan import Graph, map_reduce, parallel_map
from makespan.sizing import read_lines

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "patterns"))
from map_reduce import count_words, merge  # examples/patterns/map_reduce.py

LAYERS, WIDTH = 100, 100
TASKS = LAYERS * WIDTH
ITEMS = 1_000_000
CHUNKSIZES = (2_000, 20_000, 62_500, 125_000, 500_000)


def noop(*_: Any) -> None:
    return None


def square(x: int) -> int:
    return x * x


def deps_of(layer: int, i: int) -> tuple[int, int]:
    """The two tasks of the previous layer that task (layer, i) depends on."""
    return i, (i + 1) % WIDTH


# ---------------------------------------------------------------------------- 1. overhead


def ours_layered(root: str) -> float:
    began = time.perf_counter()
    graph = Graph()
    previous: list[Any] = []
    for layer in range(LAYERS):
        current = []
        for i in range(WIDTH):
            deps = [previous[j] for j in deps_of(layer, i)] if previous else []
            current.append(graph.add(noop, deps=deps, kind="io"))
        previous = current
    results = graph.run(workers=2, io_workers=2, root=root)
    elapsed = time.perf_counter() - began
    assert results.status == "ok" and len(results) == TASKS
    return elapsed


def ours_independent(kind: str, count: int, root: str) -> float:
    """Per-task cost of `count` independent no-ops of `kind` (what sizing.TASK_OVERHEAD says)."""
    began = time.perf_counter()
    graph = Graph()
    for _ in range(count):
        graph.add(noop, kind=kind)
    graph.run(workers=2, io_workers=2, root=root)
    return (time.perf_counter() - began) / count


def thread_pool_independent() -> float:
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(noop) for _ in range(TASKS)]
        for future in futures:
            future.result()
    return time.perf_counter() - began


def fifo_dag_runner() -> float:
    """A minimal DAG runner: FIFO ready queue, in-degrees, a ThreadPoolExecutor, completions
    handed back through a queue. No priorities, budgets, record or results passing."""
    began = time.perf_counter()
    succs: list[list[int]] = [[] for _ in range(TASKS)]
    indegree = [0] * TASKS
    for layer in range(1, LAYERS):
        for i in range(WIDTH):
            v = layer * WIDTH + i
            for j in deps_of(layer, i):
                succs[(layer - 1) * WIDTH + j].append(v)
                indegree[v] += 1
    done: queue.SimpleQueue[int] = queue.SimpleQueue()
    ready = collections.deque(v for v in range(TASKS) if indegree[v] == 0)
    running = finished = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        while finished < TASKS:
            while ready:
                v = ready.popleft()
                pool.submit(noop).add_done_callback(lambda _, v=v: done.put(v))
                running += 1
            v = done.get()
            running -= 1
            finished += 1
            for s in succs[v]:
                indegree[s] -= 1
                if indegree[s] == 0:
                    ready.append(s)
    return time.perf_counter() - began


def dask_threaded() -> float | None:
    try:
        import dask.threaded
    except ImportError:
        return None
    began = time.perf_counter()
    dsk: dict[Any, Any] = {}
    for layer in range(LAYERS):
        for i in range(WIDTH):
            if layer == 0:
                dsk[("t", 0, i)] = (noop,)
            else:
                dsk[("t", layer, i)] = (noop, *(("t", layer - 1, j) for j in deps_of(layer, i)))
    dask.threaded.get(dsk, [("t", LAYERS - 1, i) for i in range(WIDTH)], num_workers=2)
    return time.perf_counter() - began


def distributed_submit(client: Any) -> float:
    import distributed

    began = time.perf_counter()
    previous: list[Any] = []
    futures = []
    for _ in range(LAYERS):
        current = []
        for i in range(WIDTH):
            args = [previous[j] for j in deps_of(0, i)] if previous else []
            current.append(client.submit(noop, *args, pure=False))
        futures.extend(current)
        previous = current
    distributed.wait(futures)
    return time.perf_counter() - began


def ray_layered(repeats: int) -> list[float]:
    """Ray (if installed) on the same graph: a remote no-op per task, object refs as
    arguments, on a local Ray of 2 CPUs; its start-up and a warm-up run are not timed."""
    try:
        import ray
    except ImportError:
        return []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        remote_noop = ray.remote(noop)

        def run() -> float:
            began = time.perf_counter()
            previous: list[Any] = []
            refs = []
            for _ in range(LAYERS):
                current = [remote_noop.remote(*(previous[j] for j in deps_of(0, i)))
                           if previous else remote_noop.remote() for i in range(WIDTH)]
                refs.extend(current)
                previous = current
            ray.get(refs)
            return time.perf_counter() - began

        run()
        return [run() for _ in range(max(1, repeats // 2))]
    finally:
        ray.shutdown()


def bench_overhead(repeats: int, root: str) -> list[Row]:
    times: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(repeats):
        times["ours"].append(ours_layered(root))
        times["tpe"].append(thread_pool_independent())
        times["fifo"].append(fifo_dag_runner())
        if (t := dask_threaded()) is not None:
            times["dask"].append(t)
        times["io"].append(ours_independent("io", TASKS, root) * TASKS)
        times["cpu"].append(ours_independent("cpu", 2000, root) * TASKS)
    client = cluster = None
    try:
        import distributed

        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                           dashboard_address=":0", silence_logs=50)
        client = distributed.Client(cluster)
        distributed_submit(client)  # warm-up: the first run pays the worker's imports
        for _ in range(max(1, repeats // 2)):
            times["distributed"].append(distributed_submit(client))
    except ImportError:
        pass
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if ray_times := ray_layered(repeats):
        times["ray"] = ray_times
    per_task = {k: [t / TASKS for t in v] for k, v in times.items()}
    ours = min(per_task["ours"])
    rows = [Row("ours: Graph build + run, 10k layered no-ops", per_task["ours"], "µs")]
    rows.append(Row("ThreadPoolExecutor(2), 10k independent no-ops", per_task["tpe"], "µs",
                    ours / min(per_task["tpe"]), "ours/peer <= 1"))
    rows.append(Row("minimal FIFO DAG runner (same graph)", per_task["fifo"], "µs",
                    ours / min(per_task["fifo"]), "info"))
    if "dask" in per_task:
        rows.append(Row("dask.threaded.get (same graph)", per_task["dask"], "µs",
                        min(per_task["dask"]) / ours, "peer/ours >= 2.5"))
    rows.append(Row("ours: 10k independent io no-ops (sizing assumes 60 µs)", per_task["io"],
                    "µs", None, "info"))
    rows.append(Row("ours: 2k independent cpu no-ops, 2 processes (sizing assumes 300 µs)",
                    per_task["cpu"], "µs", None, "info"))
    if "distributed" in per_task:
        rows.append(Row("dask.distributed LocalCluster submit (same graph)",
                        per_task["distributed"], "µs", min(per_task["distributed"]) / ours,
                        "peer/ours >= 20"))
    if "ray" in per_task:
        rows.append(Row("Ray, local, 2 CPUs: remote no-ops (same graph)", per_task["ray"],
                        "µs", min(per_task["ray"]) / ours, "info"))
    return rows


# ---------------------------------------------------------------------------- 2. parallel_map


def ours_map(root: str) -> float:
    began = time.perf_counter()
    values = parallel_map(lambda x: x * x, range(ITEMS), workers=2, root=root)
    elapsed = time.perf_counter() - began
    assert len(values) == ITEMS and values[-1] == (ITEMS - 1) ** 2
    return elapsed


def process_pool_map(chunksize: int) -> float:
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        values = list(pool.map(square, range(ITEMS), chunksize=chunksize))
    elapsed = time.perf_counter() - began
    assert len(values) == ITEMS
    return elapsed


def joblib_map() -> float | None:
    try:
        from joblib import Parallel, delayed
    except ImportError:
        return None
    began = time.perf_counter()
    values = Parallel(n_jobs=2)(delayed(square)(x) for x in range(ITEMS))
    elapsed = time.perf_counter() - began
    assert len(values) == ITEMS
    return elapsed


def bench_map(repeats: int, root: str) -> list[Row]:
    times: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(repeats):
        times["ours"].append(ours_map(root))
        for size in CHUNKSIZES:
            times[f"ppe{size}"].append(process_pool_map(size))
        if (t := joblib_map()) is not None:
            times["joblib"].append(t)
    chunking = json.loads((Path(root) / ".makespan" / "last-run.json").read_text())["chunking"]
    best_size = min(CHUNKSIZES, key=lambda size: min(times[f"ppe{size}"]))
    ours = min(times["ours"])
    rows = [Row(f"ours: parallel_map, chunk='auto' (chose {chunking['size']:,} x "
                f"{chunking['chunks']})", times["ours"], "s")]
    for size in CHUNKSIZES:
        best = size == best_size
        rows.append(Row(f"ProcessPoolExecutor.map chunksize={size:,}" + (" (best)" if best
                                                                           else ""),
                        times[f"ppe{size}"], "s", ours / min(times[f"ppe{size}"]),
                        "ours/peer <= 1" if best else "info"))
    if "joblib" in times:
        rows.append(Row("joblib.Parallel(n_jobs=2), automatic batching", times["joblib"], "s",
                        ours / min(times["joblib"]), "ours/peer <= 1"))
    return rows


# ---------------------------------------------------------------------------- 3. map_reduce


def generate(path: Path, megabytes: int) -> Path:
    """A text file of about `megabytes` MB: lines of 6-14 words from a 5,000-word vocabulary."""
    rng = random.Random(5)
    vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(
        rng.randrange(2, 10))) for _ in range(5000)]
    lines = [" ".join(rng.choices(vocabulary, k=rng.randrange(6, 15))) + "\n"
             for _ in range(20_000)]
    block = "".join(lines).encode()
    with path.open("wb") as f:
        for _ in range(max(1, megabytes * 2**20 // len(block))):
            f.write(block)
    return path


def cpu_seconds(who: int) -> float:
    import resource

    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def serial_count(path: Path, cpu: list[float]) -> float:
    import resource

    began, spent = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    with path.open(encoding="utf-8") as f:
        count_words(f)
    cpu.append(cpu_seconds(resource.RUSAGE_SELF) - spent)
    return time.perf_counter() - began


def serial_blocks(path: Path) -> float:
    """The serial count reading as map_reduce's workers do (blocks split by StringIO)."""
    began = time.perf_counter()
    count_range(str(path), 0, path.stat().st_size)
    return time.perf_counter() - began


def ours_count(path: Path, root: str, cpu: list[float], workers_cpu: list[float]) -> float:
    """map_reduce's wall time; its CPU time in this process and in its workers go to the lists
    (the workers are reaped by the run, so they count as this process's children)."""
    import resource

    began = time.perf_counter()
    spent = cpu_seconds(resource.RUSAGE_SELF)
    children = cpu_seconds(resource.RUSAGE_CHILDREN)
    map_reduce(count_words, merge, path, workers=2, root=root)
    cpu.append(cpu_seconds(resource.RUSAGE_SELF) - spent)
    workers_cpu.append(cpu_seconds(resource.RUSAGE_CHILDREN) - children)
    return time.perf_counter() - began


def count_range(path: str, start: int, end: int) -> collections.Counter[str]:
    return count_words(read_lines(path, start, end))


def halves_count(path: Path) -> float:
    """The same count by two bare forked processes, each over half the file's bytes, merged
    here: what this workload gets from two processes on this machine, with no framework."""
    import multiprocessing

    size = path.stat().st_size
    began = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        merge(pool.starmap(count_range, [(str(path), 0, size // 2),
                                         (str(path), size // 2, size)]))
    return time.perf_counter() - began


def peak_rss_child(path: Path, root: str) -> int:
    """The peak RSS of a fresh process running map_reduce over `path` (its workers excluded)."""
    out = subprocess.run([sys.executable, __file__, "--child-rss", str(path), root],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def bench_reduce(repeats: int, root: str, megabytes: int, small: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as scratch:
        big = generate(Path(scratch) / "big.txt", megabytes)
        times: dict[str, list[float]] = collections.defaultdict(list)
        ceilings = []
        for _ in range(repeats):
            times["serial"].append(serial_count(big, times["serial cpu"]))
            times["ours"].append(ours_count(big, root, times["engine cpu"],
                                            times["workers cpu"]))
            times["halves"].append(halves_count(big))
            times["serial blocks"].append(serial_blocks(big))
            ceilings.append(ceiling())
        with big.open(encoding="utf-8") as f:
            assert map_reduce(count_words, merge, big, workers=2, root=root) == count_words(f)
        speedup = min(times["serial"]) / min(times["ours"])
        size = big.stat().st_size
        rows = [Row(f"serial word count, {size / 1e6:.0f} MB", times["serial"], "s"),
                Row(f"ours: map_reduce on 2 CPU workers, {size / 1e6:.0f} MB", times["ours"],
                    "s", speedup, "speedup >= 1.8"),
                Row("serial, reading as the workers do (info: speedup over it)",
                    times["serial blocks"], "s",
                    min(times["serial blocks"]) / min(times["ours"]), "info"),
                Row("two bare forked processes, half the file each (speedup)",
                    [min(times["serial"]) / t for t in times["halves"]], "x",
                    min(times["serial"]) / min(times["halves"]), "info"),
                Row("machine ceiling: 2 CPU-bound processes vs 1 (speedup)", ceilings, "x",
                    max(ceilings), "info"),
                Row("CPU time: serial", times["serial cpu"], "s"),
                Row("CPU time: map_reduce's 2 workers, together", times["workers cpu"], "s",
                    min(times["workers cpu"]) / min(times["serial cpu"]), "info"),
                Row("CPU time: map_reduce's engine (this process)", times["engine cpu"], "s")]
        smaller = generate(Path(scratch) / "small.txt", small)
        rss_small = [peak_rss_child(smaller, root) for _ in range(2)]
        rss_big = [peak_rss_child(big, root) for _ in range(2)]
        rows.append(Row(f"engine peak RSS, {smaller.stat().st_size / 1e6:.0f} MB file",
                        [r / 1e6 for r in rss_small], "MB"))
        rows.append(Row(f"engine peak RSS, {size / 1e6:.0f} MB file", [r / 1e6 for r in rss_big],
                        "MB", min(rss_big) / min(rss_small), "big/small <= 1.1"))
    return rows


def child_rss(path: str, root: str) -> None:
    """Print this process's peak RSS (VmHWM: its own high-water mark since exec; ru_maxrss
    would keep the benchmark's, which this process was forked from)."""
    map_reduce(count_words, merge, path, workers=2, root=root)
    status = Path("/proc/self/status").read_text()
    print(int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
          * 1024)


def burn(n: int = 20_000_000) -> float:
    began = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - began


def ceiling() -> float:
    """What the machine gives two CPU-bound processes now: 2 x one alone / two at once."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(burn, [1000, 1000])  # started and warm
        began = time.perf_counter()
        pool.map(burn, [20_000_000])
        alone = time.perf_counter() - began
        began = time.perf_counter()
        pool.map(burn, [20_000_000, 20_000_000], chunksize=1)
        both = time.perf_counter() - began
    return 2 * alone / both


# ---------------------------------------------------------------------------- table


class Row:
    def __init__(self, name: str, samples: list[float], unit: str, ratio: float | None = None,
                 target: str = "") -> None:
        self.name, self.samples, self.unit, self.ratio, self.target = (
            name, samples, unit, ratio, target)

    def cells(self) -> list[str]:
        scale = 1e6 if self.unit == "µs" else 1.0
        digits = 1 if self.unit in ("µs", "MB") else 2 if self.unit == "x" else 3
        if self.unit == "x":  # a speedup: the best is the largest
            best = f"{max(self.samples):.2f}x"
            median = f"{statistics.median(self.samples):.2f}x"
            return [self.name, best, median, str(len(self.samples)), "—", "info", "info"]
        best = f"{min(self.samples) * scale:,.{digits}f} {self.unit}"
        median = f"{statistics.median(self.samples) * scale:,.{digits}f} {self.unit}"
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}"
        result = "—"
        if self.target and self.target != "info":
            bound = float(self.target.split()[-1])
            ok = self.ratio is not None and (
                self.ratio <= bound if "<=" in self.target else self.ratio >= bound)
            result = "PASS" if ok else "FAIL"
        elif self.target == "info":
            result = "info"
        return [self.name, best, median, str(len(self.samples)), ratio, self.target or "—",
                result]


def table(rows: list[Row]) -> str:
    head = ["measure", "best", "median", "n", "ratio", "target", "result"]
    body = [r.cells() for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def fmt(line: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(b) for b in body)])


def machine() -> str:
    cores = psutil.cpu_count(logical=True)
    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.system()} {platform.machine()}, {cores} cores, {memory:.0f} GiB RAM, "
            f"Python {platform.python_version()}; load average {load}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child-rss":
        child_rss(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="overhead,map,reduce")
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--small-mb", type=int, default=50)
    options = parser.parse_args()
    parts = options.only.split(",")
    print(machine())
    with tempfile.TemporaryDirectory() as root:
        sections: list[tuple[str, Callable[[], list[Row]]]] = [
            ("overhead", lambda: bench_overhead(options.repeats, root)),
            ("map", lambda: bench_map(options.repeats, root)),
            ("reduce", lambda: bench_reduce(max(2, options.repeats // 2), root, options.mb,
                                            options.small_mb)),
        ]
        for name, run in sections:
            if name in parts:
                print(f"\n{name}\n")
                print(table(run()), flush=True)
    print(f"\n{machine()}")


if __name__ == "__main__":
    main()
