"""Running a graph on this machine with the executor each task needs (API front end).

Commands go to the subprocess executor, `io` callables to threads, `cpu` callables to worker
processes; the budgets, the order and the record are those of `makespan run`. The measured base
memory of a worker process (the guide's "Base") is added to the record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from makespan.engine import Engine, RunOptions
from makespan.executors import Executor, OnDone, Router
from makespan.executors.commands import CommandExecutor
from makespan.executors.processes import ProcessExecutor, worker_base_rss
from makespan.executors.threads import ThreadExecutor
from makespan.model import Call, Task, TaskGraph
from makespan.plan import order_for_run
from makespan.reactor import Reactor
from makespan.record import RunRecord
from makespan.resources import check_settings, detect, machine_memory_reserve
from makespan.run import RunResult, run_graph


def run_local(graph: TaskGraph, workers: int | None, io_workers: int | None,
              memory: int | None, keep_going: bool, optimize: float, root: Path,
              default_estimate: float, info: dict[str, Any], backend: str = "local",
              client: Any = None, on_engine: Callable[[Engine], None] | None = None,
              kinds: tuple[str, ...] = ()) -> RunResult:
    """Run `graph` here (or on Dask); `kinds` names callable kinds to be ready for even if the
    graph has none yet (an open graph fed while it runs, through `on_engine`)."""
    if backend == "dask":
        check_settings(workers, io_workers, memory)  # before a cluster may be started for it
        return run_on_dask(graph, workers, io_workers, memory, keep_going, optimize, root,
                           default_estimate, info, client)
    resources = detect(workers, io_workers, memory)
    if any(map(needs_worker_base, graph.tasks)):
        graph = replace(graph, tasks=tuple(with_worker_base(t, resources.memory)
                                           for t in graph.tasks))
        info = {**info, "memory_base": worker_base_rss()}
    durations = graph.estimates(default_estimate)
    ordering = order_for_run(graph, resources, durations, optimize)
    calls = [t for t in graph.tasks if isinstance(t.run, Call)]
    needs = {
        "command": len(calls) < len(graph),
        "io": "io" in kinds or any(t.kind == "io" for t in calls),
        "cpu": "cpu" in kinds or any(t.kind == "cpu" for t in calls),
    }
    made: dict[str, RunRecord] = {}

    cpu_calls = sum(1 for t in calls if t.kind == "cpu")

    def make_executor(reactor: Reactor, on_done: OnDone) -> Executor:
        processes = ProcessExecutor(reactor, on_done, resources.cpu, prestart=cpu_calls,
                                    on_base_rss=note_base) if needs["cpu"] else None
        return Router(
            CommandExecutor(reactor, root, on_done) if needs["command"] else None,
            ThreadExecutor(reactor, on_done, resources.io) if needs["io"] else None,
            processes,
        )

    def listen(record: RunRecord) -> None:
        made["record"] = record

    def note_base(rss: int) -> None:
        """A worker's resident memory when ready: the largest is the run's "Base"."""
        info = made["record"].info
        info["worker_base_rss"] = max(info.get("worker_base_rss") or 0, rss)

    options = RunOptions(keep_going=keep_going, memory_reserve=machine_memory_reserve())
    return run_graph(graph, resources, durations, ordering, make_executor, root, options,
                     listen=listen, info={"front_end": "python", **info}, on_engine=on_engine)


def with_worker_base(task: Task, budget: int) -> Task:
    """`task` as the memory `budget` sees it. The guide's Max_Parallel = Available_RAM / (Base +
    Data_Per_Task): a cpu call's memory estimate is its data, and the worker process it runs in
    adds its own Base, measured (`worker_base_rss`). Data that fits the budget alone still runs
    (by itself): the base is no reason to refuse it. A task with no estimate stays unlimited."""
    if not needs_worker_base(task):
        return task
    assert task.memory is not None
    demand = task.memory + worker_base_rss()
    return replace(task, memory=min(demand, max(budget, task.memory)))


def needs_worker_base(task: Task) -> bool:
    """A cpu call with a memory estimate: its worker's base counts too."""
    return task.memory is not None and task.kind == "cpu" and isinstance(task.run, Call)


def run_on_dask(graph: TaskGraph, workers: int | None, io_workers: int | None,
                memory: int | None, keep_going: bool, optimize: float, root: Path,
                default_estimate: float, info: dict[str, Any], client: Any = None,
                address: str | None = None) -> RunResult:
    """Run `graph` on a Dask cluster: `client`'s, the one at `address`, or a LocalCluster.

    The Python tasks' values stay on the workers while the graph runs; they are fetched here,
    once, when it has ended.
    """
    from makespan.executors.dask import DaskExecutor, cluster_resources, gather, session

    with session(client, address, workers) as client:
        resources = cluster_resources(client, graph, workers, memory, io_workers)
        durations = graph.estimates(default_estimate)
        ordering = order_for_run(graph, resources, durations, optimize)

        def make_executor(reactor: Reactor, on_done: OnDone) -> Executor:
            return DaskExecutor(reactor, on_done, client, str(root), ordering.position,
                                graph, resources)

        result = run_graph(graph, resources, durations, ordering, make_executor, root,
                           RunOptions(keep_going=keep_going),
                           info={"front_end": "python", "backend": "dask",
                                 "scheduler": str(client.scheduler.address), **info})
        return replace(result, values=gather(client, result.values))
