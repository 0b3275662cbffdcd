"""Running tasks on a Dask distributed cluster.

    engine --start(job)--> client.submit(priority, resources, deps' futures) --> worker thread
    engine <--on_done----- Reactor.run_here <-- Dask's callback thread <-- future done --'

makespan's scheduler decides what starts and when (slots, memory, locks), with one exception:
Python tasks whose every limit Dask enforces are handed over ahead, as soon as their
dependencies have been (`stageable`), so Dask starts them the moment those end instead of one
round trip through makespan later; makespan's admission then only finds them handed over. Dask
places the tasks, and makespan's budgets travel with each task as Dask annotations: its
priority (so a worker's queue agrees with makespan's order) and, on workers that declare them
as resources, a CPU task's slots as `CPU` and any task's memory estimate as `MEMORY` bytes. A
worker runs a task only while it has that much of each left, so two big-memory tasks are never
co-scheduled on one worker past its MEMORY, and a task that no worker could ever hold is
refused before the run starts. I/O tasks run on the threads a worker has beyond its CPU units
and carry no slot resource: a Dask worker looks only at the best of its waiting constrained
tasks, so an I/O task annotated like a CPU one could wait behind a CPU task.

Results stay on the workers: a Python task's value is its Dask future, passed as an argument to
the tasks that need it (Dask moves the data between workers) and gathered once, when the run
ends. A completion therefore costs no fetch; only commands bring back their exit code and output,
which is written to the task's log here. Stopping a command signals its process group on the
worker (SIGTERM, then SIGKILL), as locally; a Python call cannot be stopped inside its thread, so
its future is cancelled and whatever it returns is dropped. A worker that dies mid-task is Dask's
to handle: it re-runs the task elsewhere and recomputes lost results that are still wanted.
Dask is optional (`pip install makespan[dask]`) and imported only by this backend.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import secrets
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import cloudpickle

from makespan.errors import InputError, MakespanError, TaskFailed
from makespan.executors import Job, OnDone, Outcome
from makespan.executors.calling import invoke
from makespan.model import Call, Task, TaskGraph
from makespan.reactor import Reactor
from makespan.resources import IO_PER_CORE, Resources, available_memory_budget, detect
from makespan.units import format_size

CONNECT_TIMEOUT = 5.0
SEND_INTERVAL = 0.002
"""Seconds the client gathers messages before sending them to the scheduler while every task
makespan handed over has a thread to run on. Dask's fixed 10 ms was then half of a task's
dispatch time, with a thread idle meanwhile; once tasks queue on the workers (makespan told to
admit ahead of them), Dask's own batching is kept: there it saves more than it delays."""
STAGE_BELOW = 0.05
"""Seconds: tasks estimated shorter are handed to Dask ahead of admission (see `stageable`).
A round trip through makespan costs about 10 ms on a LocalCluster, more between machines."""
CPU = "CPU"
"""The Dask worker resource for CPU slots (as in `dask worker --resources CPU=4`)."""
MEMORY = "MEMORY"
"""The Dask worker resource for memory, in bytes (as in `dask worker --resources MEMORY=8e9`)."""


def import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError("the dask backend needs dask.distributed: "
                         "pip install 'makespan[dask]'") from None
    return distributed


def connect(address: str | None, workers: int | None) -> Any:
    """A client for the scheduler at `address`, or for a new LocalCluster sized to the machine.

    An unreachable scheduler is a clear error within CONNECT_TIMEOUT seconds, not a hang. TLS
    settings (for `tls://` addresses) come from Dask's configuration: see docs/dask.md.
    """
    distributed = import_distributed()
    if address is None:
        return distributed.Client(local_cluster(distributed, workers))
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except Exception as error:  # refused, timed out, or whatever a non-scheduler answered
        raise MakespanError(f"cannot connect to the Dask scheduler at {address}: "
                            f"{str(error) or type(error).__name__}") from None


def local_cluster(distributed: Any, workers: int | None) -> Any:
    """One worker process per CPU slot, shaped like the local budgets: a CPU slot and
    IO_PER_CORE more threads for I/O each, and its share of the memory budget as a resource.

    The workers start with Ctrl-C ignored: a terminal sends it to them too, and a worker that
    died of it would leave its command running; the engine stops the tasks instead.
    """
    from makespan.resources import usable_cores

    count = workers or usable_cores()
    with _sigint_ignored():
        return distributed.LocalCluster(
            n_workers=count, threads_per_worker=1 + IO_PER_CORE, processes=True,
            dashboard_address=":0",
            resources={CPU: 1, MEMORY: available_memory_budget() // count})


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def session(client: Any, address: str | None, workers: int | None) -> Iterator[Any]:
    """`client`, or one made by `connect` and closed (with its LocalCluster) afterwards."""
    if client is not None:
        yield client
        return
    client = connect(address, workers)
    try:
        yield client
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass(frozen=True, slots=True)
class Offer:
    """What the cluster's workers offer: threads, memory limits, and for each resource makespan
    maps to (CPU, MEMORY) that some worker declares, the total and the most on one worker."""

    threads: int
    memory_limit: int
    total: Mapping[str, float]
    most: Mapping[str, float]

    def enforced_pools(self, resources: Resources) -> set[str]:
        """The pools whose makespan budget is no tighter than what Dask enforces for them: a
        CPU task holds the CPU resource where workers declare it (else any thread), an I/O
        task any thread."""
        cpu = int(self.total.get(CPU, self.threads))
        return {pool for pool, mine, theirs in (("cpu", resources.cpu, cpu),
                                                ("io", resources.io, self.threads))
                if mine >= theirs}

    def requests(self, task: Task) -> dict[str, float] | None:
        """The Dask resources `task` holds while it runs (None: it may run on any thread)."""
        wanted = {CPU: task.slots if task.kind == "cpu" else 0, MEMORY: task.memory or 0}
        return {name: n for name, n in wanted.items() if n and name in self.total} or None


def offer(client: Any) -> Offer:
    workers = client.scheduler_info()["workers"].values()
    total: dict[str, float] = {}
    most: dict[str, float] = {}
    for worker in workers:
        for name, amount in (worker.get("resources") or {}).items():
            if name in (CPU, MEMORY):
                total[name] = total.get(name, 0) + amount
                most[name] = max(most.get(name, 0), amount)
    return Offer(sum(w["nthreads"] for w in workers) or 1,
                 sum(w.get("memory_limit") or 0 for w in workers), total, most)


def cluster_resources(client: Any, graph: TaskGraph, workers: int | None,
                      memory: int | None, io_workers: int | None = None) -> Resources:
    """makespan's budgets on the cluster, unless given: CPU slots are the declared CPU resource,
    I/O slots the threads beyond it, memory the declared MEMORY (else threads and memory limits).
    Raises InputError for a task no worker can hold, MakespanError for a cluster without workers.
    """
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except TimeoutError:
        raise MakespanError(f"the Dask scheduler at {client.scheduler.address} has no workers: "
                            "start some with `dask worker ADDRESS` (see docs/dask.md)") from None
    have = offer(client)
    for task in graph.tasks:
        for name, amount in (have.requests(task) or {}).items():
            if amount > have.most[name]:
                size = format_size if name == MEMORY else str
                raise InputError(
                    f"needs {size(int(amount))} of the Dask resource {name}, but the most any "
                    f"worker offers is {size(int(have.most[name]))}",
                    task=task.name, field="memory" if name == MEMORY else "slots")
    spare = have.threads - int(have.total.get(CPU, 0))
    return detect(workers or int(have.total.get(CPU, have.threads)),
                  io_workers or (spare if spare > 0 else have.threads),
                  memory or int(have.total.get(MEMORY, have.memory_limit)) or None)


class DaskExecutor:
    """Hands makespan's admitted tasks to a Dask cluster, and stages ahead of admission the
    Python tasks that Dask itself can hold back safely (see `stageable`)."""

    def __init__(self, reactor: Reactor, on_done: OnDone, client: Any, root: str,
                 priority: Sequence[int], graph: TaskGraph, resources: Resources) -> None:
        self._reactor = reactor
        self._graph = graph
        self._offer = offer(client)
        self._stageable = stageable(graph, self._offer.enforced_pools(resources))
        self._futures: dict[int, Any] = {}
        """The current future of every task handed to Dask, admitted or staged."""
        self._staged: dict[int, tuple[Any, tuple[Any, ...]]] = {}
        """Staged tasks not yet admitted: their future and the futures it was given."""
        self._began = False
        self._ahead = itertools.count()
        self._on_done = on_done
        self._client = client
        self._root = root
        self._priority = priority
        self._run = secrets.token_hex(4)
        self._running: dict[int, tuple[Job, Any]] = {}
        self._stops: dict[int, bool] = {}
        """Tasks to stop once the engine's step ends (True: forcibly)."""
        comm = cast(Any, getattr(client, "scheduler_comm", None))  # Dask's BatchedSend
        interval = getattr(comm, "interval", None)
        self._batching = (comm, interval) if isinstance(interval, float) else None

    def start(self, job: Job) -> None:
        task = job.task
        if self._batching is not None:
            comm, interval = self._batching
            queues = len(self._running) >= self._offer.threads
            comm.interval = interval if queues else min(interval, SEND_INTERVAL)
        future = self._staged_future(job)
        if future is None:
            if isinstance(task.run, Call):
                future = self._submit(job.id, job.attempt, dict(job.inputs))
            else:
                options = self._options(job.id, job.attempt)
                cwd = self._root if task.cwd is None else os.path.join(self._root, task.cwd)
                future = self._client.submit(run_command, options["key"], task.run, cwd,
                                             dict(task.env), **options)
            self._futures[job.id] = future
        self._running[job.id] = (job, future)
        future.add_done_callback(lambda f: self._finished(job, f))
        if not self._began:
            self._began = True
            self._stage(self._graph.order)
        else:
            self._stage(self._graph.succs[job.id])

    def _options(self, v: int, attempt: int | str) -> dict[str, Any]:
        """Submit options; the key names the attempt, or "aheadN" for the Nth task staged: a
        staged task may be cancelled (made stale by a retry upstream, or taken back) and
        handed over again, and Dask must not take the new one for the cancelled one."""
        return {"key": f"{self._graph.tasks[v].name}-{attempt}-{self._run}", "pure": False,
                "priority": -self._priority[v],
                "resources": self._offer.requests(self._graph.tasks[v])}

    def _submit(self, v: int, attempt: int | str, inputs: dict[str, Any], *after: Any) -> Any:
        task = self._graph.tasks[v]
        return self._client.submit(call, task.name, task.run, inputs, *after,
                                   **self._options(v, attempt))

    def _stage(self, candidates: Sequence[int]) -> None:
        """Submit, ahead of admission, every stageable task among `candidates` (and then among
        their successors) whose dependencies all have a future: Dask starts it the moment they
        end, without waiting for makespan to hear of it and answer."""
        graph, futures = self._graph, self._futures
        todo = list(candidates)
        while todo:
            v = todo.pop()
            if v in futures or not self._stageable[v] or any(p not in futures
                                                              for p in graph.preds[v]):
                continue
            run = graph.tasks[v].run
            assert isinstance(run, Call)
            refs = set(run.refs)
            inputs = {name: futures[graph.index[name]] for name in refs}
            after = [futures[p] for p in graph.preds[v] if graph.tasks[p].name not in refs]
            try:
                future = self._submit(v, f"ahead{next(self._ahead)}", inputs, *after)
            except Exception:  # e.g. an argument that cannot be pickled: that is the task's
                self._stageable[v] = False  # failure, reported when makespan admits it
                continue
            futures[v] = future
            self._staged[v] = (future, tuple(futures[p] for p in graph.preds[v]))
            todo.extend(graph.succs[v])

    def _staged_future(self, job: Job) -> Any:
        """The future staged for `job`, if it still stands: a dependency retried since then
        has a new future, which the staged one does not wait for."""
        staged = self._staged.pop(job.id, None)
        if staged is None:
            return None
        future, given = staged
        current = tuple(self._futures[p] for p in self._graph.preds[job.id])
        if job.attempt == 1 and all(a is b for a, b in zip(given, current, strict=True)):
            return future
        self._client.cancel([future])
        del self._futures[job.id]
        return None

    def stop(self, task: int, force: bool) -> None:
        """Stops asked for in one engine step go out together once it ends, in one message to
        the workers: a command queued behind a stopped one is then marked before the stopped
        one frees its CPU, so it cannot slip in between. What was handed over ahead is taken
        back at once (and handed over again if makespan admits it): a run that stops must not
        start anything new on the cluster either."""
        if not self._stops:
            self._reactor.post(self._send_stops)
        self._stops[task] = force or self._stops.get(task, False)
        self._take_back_staged()

    def rss(self, task: int) -> int | None:
        return None

    def close(self) -> None:
        if self._batching is not None:
            comm, interval = self._batching
            comm.interval = interval
        running = list(self._running.values())
        self._running.clear()
        self._stops.clear()
        with contextlib.suppress(Exception):  # a cluster that is gone runs nothing any more
            self._stop_now([(job, future, True) for job, future in running])
            self._take_back_staged()

    def _take_back_staged(self) -> None:
        if not self._staged:
            return
        staged = [future for future, _ in self._staged.values()]
        for v in self._staged:
            del self._futures[v]
        self._staged.clear()
        self._client.cancel(staged)

    def _send_stops(self) -> None:
        stops, self._stops = self._stops, {}
        self._stop_now([(*self._running[task], force) for task, force in stops.items()
                        if task in self._running])

    def _stop_now(self, stops: list[tuple[Job, Any, bool]]) -> None:
        """SIGTERM (SIGKILL if `force`) to the commands, on whichever worker runs them; cancel
        the futures of forced stops and of Python calls, which no signal can reach."""
        for sig, forced in ((signal.SIGTERM, False), (signal.SIGKILL, True)):
            keys = [future.key for job, future, force in stops
                    if force == forced and not isinstance(job.task.run, Call)]
            if keys:
                self._client.run(signal_commands, keys, sig, on_error="ignore")
        cancel = [future for job, future, force in stops
                  if force or isinstance(job.task.run, Call)]
        if cancel:
            self._client.cancel(cancel)

    def _finished(self, job: Job, future: Any) -> None:
        """On Dask's callback thread: fetch what must be (outside the engine's lock), report."""
        outcome = self._outcome(job, future)
        self._reactor.run_here(lambda: self._report(job.id, future, outcome))

    def _report(self, task: int, future: Any, outcome: Outcome) -> None:
        if self._running.get(task, (None, None))[1] is not future:
            return  # closed meanwhile, or an earlier attempt's late news
        del self._running[task]
        self._on_done(task, outcome)

    def _outcome(self, job: Job, future: Any) -> Outcome:
        try:
            if future.status == "cancelled":
                return Outcome(error="cancelled on the Dask cluster")
            if future.status == "error":
                error = future.exception()
                if isinstance(error, Raised):
                    return Outcome(error=f"{error.failure.kind}: {error.failure.message}",
                                   failure=error.failure)
                return Outcome(error=f"the Dask cluster lost it: {error}")
            if isinstance(job.task.run, Call):
                return Outcome(value=future)  # the data stays on its worker until the end
            exit_code, output, peak_rss, error = future.result()
        except Exception as lost:  # the cluster's failure (a fetch, a lost worker), not the task's
            return Outcome(error=f"the Dask cluster lost it: {lost}")
        with open(job.log, "wb") as log:
            log.write(output)
        return Outcome(exit_code=exit_code, error=error, peak_rss=peak_rss)


def gather(client: Any, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with every future replaced by its result, fetched from the workers."""
    try:
        return dict(client.gather(values))
    except Exception:
        lost = []
        for name, value in values.items():
            try:
                client.gather(value)
            except Exception as error:
                lost.append(f"'{name}' ({error})")
        raise MakespanError("cannot bring back the results of " + ", ".join(lost)
                            + " from the Dask cluster") from None


# ---------------------------------------------------------------------------- on the workers


class Raised(Exception):
    """A Python task's exception, raised on the worker so its future errs (telling a failure
    from a success then needs no fetch); it carries the task's `TaskFailed`."""

    def __init__(self, failure: TaskFailed) -> None:
        super().__init__(str(failure))
        self.failure = failure

    def __reduce__(self) -> tuple[type, tuple[TaskFailed]]:
        return (Raised, (self.failure,))


def stageable(graph: TaskGraph, pools: set[str]) -> list[bool]:
    """Which tasks may be handed to Dask before makespan admits them.

    Only short ones: estimated under STAGE_BELOW. Dask places a task on a worker as soon as it
    is ready, so a handed-over task may wait there behind others while another worker is free;
    for a short task that costs less than the round trip it saves, but a longer one is placed
    better by makespan's own admission, which hands it over when a slot frees.

    A staged task runs as soon as its dependencies end and a worker has the resources it is
    annotated with, so only tasks whose every limit Dask enforces qualify: Python calls (a
    failure on the way raises in every staged task after it, so none of them runs) of one of
    `pools` (whose makespan budget Dask enforces as it is), with no memory estimate (makespan
    admits those against its budget) and no lock, whose dependencies are all Python calls too
    (a command that fails still returns, and would let them run).
    """
    calls = [isinstance(task.run, Call) for task in graph.tasks]
    return [calls[v] and task.estimate is not None and task.estimate < STAGE_BELOW
            and task.kind in pools and not task.memory and not task.locks
            and all(calls[p] for p in preds)
            for v, (task, preds) in enumerate(zip(graph.tasks, graph.preds, strict=True))]


def call(name: str, run: Call, inputs: Mapping[str, Any], *after: Any) -> Any:
    """Run a Python task; its value stays on this worker. `after` are the values of the tasks
    it only follows, passed so that a staged task waits for them; they are not used."""
    outcome = invoke(name, run, inputs)
    failure = outcome.failure
    if failure is None:
        return outcome.value
    try:
        cloudpickle.dumps(failure)
    except (TypeError, pickle.PicklingError, AttributeError):
        failure.original = None  # the exception itself cannot travel: its text does
    raise Raised(failure)


_lock = threading.Lock()
_commands: dict[str, subprocess.Popen[bytes] | None] = {}
"""The commands running on this worker, by task key (None while starting)."""
_stopped: dict[str, int] = {}
"""Signals sent to commands before their process existed, by task key."""


def run_command(key: str, run: str | tuple[str, ...], cwd: str,
                env: Mapping[str, str]) -> tuple[int, bytes, int | None, str | None]:
    """Run a task-file command in its own session: (exit code, output, peak RSS, error).

    The output goes to a file, not a pipe, so a background child that keeps it open cannot make
    the task outlive its command: once the command exits, what it left in its group is killed.
    """
    from makespan.executors.commands import _peak_rss, argv

    command = argv(run)
    with _lock:
        sig = _stopped.pop(key, None)
        if sig is None:
            _commands[key] = None
    if sig is not None:
        return -sig, b"makespan: stopped before it started\n", None, None
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env},
                                       stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as error:
            with _lock:
                del _commands[key]
            message = f"cannot start {command[0]!r} on the Dask worker: {error.strerror}"
            return 127, f"makespan: {message}\n".encode(), None, message
        with _lock:
            _commands[key] = process
            sig = _stopped.pop(key, None)
        if sig is not None:
            _kill_group(process.pid, sig)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        with _lock:
            del _commands[key]
        _kill_group(process.pid, signal.SIGKILL)
        output.seek(0)
        return process.returncode, output.read(), _peak_rss(usage.ru_maxrss), None


def signal_commands(keys: list[str], sig: int, dask_worker: Any = None) -> None:
    """Through `client.run`, on every worker: `sig` to the commands of `keys` running here; one
    assigned here that has not started yet will not start (or is signalled once it has)."""
    with _lock:
        for key in keys:
            process = _commands.get(key)
            if process is not None:
                _kill_group(process.pid, sig)
            elif key in _commands or (dask_worker is not None and key in dask_worker.state.tasks):
                _stopped[key] = sig  # the engine only escalates: the latest signal wins


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
