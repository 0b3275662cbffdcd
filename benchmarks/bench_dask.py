"""Benchmark: makespan on a Dask distributed cluster (issue 8).

Every peer runs on the same LocalCluster, started once: 2 worker processes of 1 thread each,
each declaring the resource CPU=1 (makespan's CPU slots on Dask). Peers alternate within each
repeat; a warm-up round (untimed) lets the workers import what the tasks need.

1. Overhead: the 10,000-task layered graph, 100 layers of 100 no-op Python tasks, each task
   depending on 2 tasks of the previous layer (fixed seed). Timed from before the graph is
   built to every result being back in the caller (the graph building, planning, record and the
   final gather are all counted for makespan). Peer: plain `client.submit` of the same graph
   (each task submitted once, with its dependencies' futures as arguments), then
   `client.gather`. Target: makespan / plain <= 1.2. Extra rows: makespan told `workers=64`
   (it also admits ahead of the cluster's 2 CPU units; Dask queues the extra tasks by
   makespan's priorities) and makespan's local backend (2 worker processes) on the same graph.
2. Order: a chain of 10 x 0.2 s declared after 40 independent 0.1 s tasks (time.sleep), on the
   2-worker cluster. Optimum 3.0 s; first come, first served takes 4.0 s. Target: makespan on
   Dask within 5 % of makespan's local backend (2 worker processes) and faster than plain Dask
   with its default ordering (`client.submit` in declaration order). Extra row: `client.get` of
   the same graph as a dict, ordered by `dask.order`.

    .venv/bin/python benchmarks/bench_dask.py [--repeats N] [--only overhead,order]
"""

from __future__ import annotations

import argparse
import logging
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import makespan

LAYERS, WIDTH, FAN_IN = 100, 100, 2
AHEAD = 64
OVERHEAD_TARGET = 1.2
SHORT, CHAIN = (40, 0.1), (10, 0.2)
OPTIMUM = 3.0
ORDER_TOLERANCE = 0.05
SEED = 8


def noop(*_: Any) -> None:
    return None


def nap(seconds: float, *_: Any) -> float:
    time.sleep(seconds)
    return seconds


# ---------------------------------------------------------------- graphs


def layered_deps() -> list[list[tuple[int, ...]]]:
    """For each layer after the first, each task's FAN_IN distinct parents in the one before."""
    rng = random.Random(SEED)
    return [[tuple(rng.sample(range(WIDTH), FAN_IN)) for _ in range(WIDTH)]
            for _ in range(LAYERS - 1)]


def order_specs() -> list[tuple[str, float, str | None]]:
    """(name, seconds, the task it follows): 40 short tasks, then the chain, in that order."""
    count, short = SHORT
    links, long = CHAIN
    return ([(f"t{i}", short, None) for i in range(count)]
            + [(f"c{i}", long, f"c{i - 1}" if i else None) for i in range(links)])


# ---------------------------------------------------------------- runners


def makespan_layered(deps: list[list[tuple[int, ...]]], root: Path, **options: Any) -> float:
    start = time.perf_counter()
    graph = makespan.Graph()
    layer = [graph.add(noop, name=f"0-{i}", estimate=0.001) for i in range(WIDTH)]
    for n, parents in enumerate(deps, start=1):
        layer = [graph.add(noop, *(layer[p] for p in ps), name=f"{n}-{i}", estimate=0.001)
                 for i, ps in enumerate(parents)]
    graph.run(root=root, **options)
    return time.perf_counter() - start


def plain_layered(client: Any, deps: list[list[tuple[int, ...]]]) -> float:
    start = time.perf_counter()
    token = f"{time.monotonic_ns()}"
    layer = [client.submit(noop, key=f"0-{i}-{token}") for i in range(WIDTH)]
    futures = list(layer)
    for n, parents in enumerate(deps, start=1):
        layer = [client.submit(noop, *(layer[p] for p in ps), key=f"{n}-{i}-{token}")
                 for i, ps in enumerate(parents)]
        futures += layer
    client.gather(futures)
    return time.perf_counter() - start


def makespan_order(root: Path, **options: Any) -> float:
    graph = makespan.Graph()
    handles: dict[str, Any] = {}
    for name, seconds, after in order_specs():
        args = (seconds, handles[after]) if after else (seconds,)
        handles[name] = graph.add(nap, *args, name=name, estimate=seconds)
    start = time.perf_counter()
    graph.run(root=root, workers=2, optimize=0, **options)
    return time.perf_counter() - start


def plain_order(client: Any) -> float:
    start = time.perf_counter()
    token = f"{time.monotonic_ns()}"
    futures: dict[str, Any] = {}
    for name, seconds, after in order_specs():
        args = (seconds, futures[after]) if after else (seconds,)
        futures[name] = client.submit(nap, *args, key=f"{name}-{token}")
    client.gather(list(futures.values()))
    return time.perf_counter() - start


def dask_order(client: Any) -> float:
    token = f"{time.monotonic_ns()}"
    dsk = {f"{name}-{token}": (nap, seconds, f"{after}-{token}") if after else (nap, seconds)
           for name, seconds, after in order_specs()}
    start = time.perf_counter()
    client.get(dsk, list(dsk))
    return time.perf_counter() - start


# ---------------------------------------------------------------- measuring and printing


def measure(peers: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    for run in peers.values():  # warm-up: imports on the workers, first plan
        run()
    samples: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(repeats):
        for name, run in peers.items():
            samples[name].append(run())
    return samples


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
              + " |")
        if n == 0:
            print("| " + " | ".join("-" * w for w in widths) + " |")


def overhead(client: Any, repeats: int) -> None:
    deps = layered_deps()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        peers = {
            "plain client.submit + gather": lambda: plain_layered(client, deps),
            "makespan on Dask": lambda: makespan_layered(deps, root, backend="dask",
                                                         client=client),
            f"makespan on Dask, workers={AHEAD} (admits ahead)": lambda: makespan_layered(
                deps, root, backend="dask", client=client, workers=AHEAD),
            "makespan local backend (2 processes)": lambda: makespan_layered(deps, root,
                                                                             workers=2),
        }
        samples = measure(peers, repeats)
    plain = statistics.median(samples["plain client.submit + gather"])
    rows = [["10,000-task layered graph", "best", "median", "/ plain", "target", "result"]]
    for name, times in samples.items():
        ratio = statistics.median(times) / plain
        target = name == "makespan on Dask"
        rows.append([name, f"{min(times):.2f} s", f"{statistics.median(times):.2f} s",
                     f"{ratio:.2f}", f"<= {OVERHEAD_TARGET}" if target else "—",
                     verdict(ratio <= OVERHEAD_TARGET) if target else "info"])
    table(rows)


def order(client: Any, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        peers = {
            "makespan local backend (2 processes)": lambda: makespan_order(root),
            "makespan on Dask": lambda: makespan_order(root, backend="dask", client=client),
            "plain client.submit (declaration order)": lambda: plain_order(client),
            "client.get (dask.order)": lambda: dask_order(client),
        }
        samples = measure(peers, repeats)
    median = {name: statistics.median(times) for name, times in samples.items()}
    local, ours = median["makespan local backend (2 processes)"], median["makespan on Dask"]
    plain = median["plain client.submit (declaration order)"]
    rows = [["order graph (optimum 3.0 s)", "best", "median", "/ optimum", "target", "result"]]
    for name, times in samples.items():
        target, ok = "—", None
        if name == "makespan on Dask":
            target = f"<= local x {1 + ORDER_TOLERANCE:.2f} ({local * (1 + ORDER_TOLERANCE):.2f} s)"
            ok = ours <= local * (1 + ORDER_TOLERANCE)
        elif name.startswith("plain"):
            target, ok = "slower than makespan on Dask", plain > ours
        rows.append([name, f"{min(times):.2f} s", f"{median[name]:.2f} s",
                     f"{median[name] / OPTIMUM:.2f}", target,
                     "info" if ok is None else verdict(ok)])
    table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="overhead,order")
    args = parser.parse_args(argv)
    import dask
    import distributed

    print(f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
          f"dask/distributed {dask.__version__}/{distributed.__version__}, "
          f"repeats {args.repeats}")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR,
                                       resources={"CPU": 1})
    client = distributed.Client(cluster)
    try:
        for part in args.only.split(","):
            print()
            {"overhead": overhead, "order": order}[part](client, args.repeats)
    finally:
        client.close()
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
