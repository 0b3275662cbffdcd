"""Running tasks on a Dask distributed cluster.

    engine --start(job)--> client.submit(run on a worker, priority) --> Dask scheduler --> worker
    engine <--on_done----- Reactor.post <-- future done callback (client thread) <-----'

makespan's scheduler still decides what starts and when (slots, memory, locks), so Dask only
ever holds the tasks makespan admitted, and a big-memory task is never co-scheduled past the
budget; the priority makespan computed is passed along so Dask's own queue agrees. Commands run
on the worker through the same subprocess rules as locally (own session, whole tree killed on
timeout); their output comes back with the result and is written to the task's log here.
A worker that dies mid-task is Dask's to handle: it re-runs the task on another worker.
Dask is optional (`pip install makespan[dask]`) and imported only here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from makespan.errors import MakespanError
from makespan.executors import Job, OnDone, Outcome
from makespan.executors.calling import invoke
from makespan.model import Call
from makespan.reactor import Reactor
from makespan.resources import Resources, detect

CONNECT_TIMEOUT = 5.0


def import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MakespanError(
            "the dask backend needs dask.distributed: pip install 'makespan[dask]'") from None
    return distributed


def connect(address: str | None, workers: int | None) -> Any:
    """A client for the scheduler at `address`, or for a new LocalCluster sized to the machine.

    An unreachable scheduler is a clear error within CONNECT_TIMEOUT seconds, not a hang.
    """
    distributed = import_distributed()
    if address is None:
        from makespan.resources import usable_cores

        cluster = distributed.LocalCluster(n_workers=workers or usable_cores(),
                                           threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        return distributed.Client(cluster)
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise MakespanError(f"cannot reach the Dask scheduler at {address} within "
                            f"{CONNECT_TIMEOUT:g} s: {error}") from None


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


def cluster_resources(client: Any, workers: int | None, memory: int | None) -> Resources:
    """The cluster's worker threads as CPU (and I/O) slots, its memory limits as the budget."""
    info = client.scheduler_info()["workers"].values()
    threads = workers or sum(w["nthreads"] for w in info) or 1
    limit = sum(w.get("memory_limit") or 0 for w in info)
    return detect(threads, threads, memory or limit or None)


class DaskExecutor:
    def __init__(self, reactor: Reactor, on_done: OnDone, client: Any, root: str,
                 priority: Sequence[int]) -> None:
        self._reactor = reactor
        self._on_done = on_done
        self._client = client
        self._root = root
        self._priority = priority
        self._futures: dict[int, Any] = {}

    def start(self, job: Job) -> None:
        task = job.task
        if isinstance(task.run, Call):
            future = self._client.submit(invoke, task.name, task.run, dict(job.inputs),
                                         key=_key(job), pure=False,
                                         priority=-self._priority[job.id])
        else:
            cwd = self._root if task.cwd is None else os.path.join(self._root, task.cwd)
            future = self._client.submit(run_command, task.run, cwd, dict(task.env), task.timeout,
                                         key=_key(job), pure=False,
                                         priority=-self._priority[job.id])
        self._futures[job.id] = future
        future.add_done_callback(lambda f: self._reactor.post(lambda: self._done(job, f)))

    def stop(self, task: int, force: bool) -> None:
        future = self._futures.get(task)
        if future is not None:
            future.cancel()

    def rss(self, task: int) -> int | None:
        return None

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()

    def _done(self, job: Job, future: Any) -> None:
        if self._futures.pop(job.id, None) is None:
            return  # closed meanwhile
        if future.cancelled():
            self._on_done(job.id, Outcome(error="cancelled on the Dask cluster"))
            return
        try:
            result = future.result()
        except Exception as error:  # the cluster's failure, not the task's
            self._on_done(job.id, Outcome(error=f"the Dask cluster lost the task: {error}"))
            return
        if isinstance(result, Outcome):
            self._on_done(job.id, result)
            return
        exit_code, output = result
        with open(job.log, "ab") as log:
            log.write(output)
        self._on_done(job.id, Outcome(exit_code=exit_code))


def _key(job: Job) -> str:
    return f"makespan-{job.task.name}-{job.attempt}-{os.getpid()}-{id(job)}"


def run_command(run: str | tuple[str, ...], cwd: str, env: Mapping[str, str],
                timeout: float | None) -> tuple[int, bytes]:
    """On a Dask worker: run a task-file command in its own session; (exit code, output)."""
    from makespan.executors.commands import argv

    process = subprocess.Popen(argv(run), cwd=cwd, env={**os.environ, **env},
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return -signal.SIGKILL, output + b"\nmakespan: timed out on the Dask worker\n"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # what the command left in its group
    return process.returncode, output
