"""Calling a task's Python function, where it runs (a thread, or a worker process).

Shared by the thread and process executors: arguments that refer to other tasks are replaced
by their results, and an exception becomes a `TaskFailed` carrying its type, message and
traceback, so the caller sees what the worker saw. While a task runs, its thread knows it
(`inside_task`), wherever that is (a thread, a worker process, a Dask worker), so a nested use
of the API can refuse clearly instead of starting workers beyond the budget.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

from makespan.errors import TaskFailed
from makespan.executors import Job, Outcome
from makespan.executors._worker import message_of
from makespan.model import Call, resolve_refs


def call(job: Job) -> Outcome:
    run = job.task.run
    assert isinstance(run, Call)
    return invoke(job.task.name, run, job.inputs)


_inside = threading.local()


def inside_task() -> str | None:
    """The name of the task this thread is running, if it runs one (to refuse nested runs)."""
    name: str | None = getattr(_inside, "task", None)
    return name


def invoke(name: str, run: Call, inputs: Any) -> Outcome:
    _inside.task = name
    try:
        args = resolve_refs(run.args, inputs) if inputs else run.args
        kwargs = resolve_refs(dict(run.kwargs), inputs) if inputs else run.kwargs
        return Outcome(value=run.fn(*args, **kwargs))
    except BaseException as error:  # the task's failure is data for the caller, not ours
        return failed(name, error)
    finally:
        _inside.task = None


def failed(name: str, error: BaseException) -> Outcome:
    failure = TaskFailed(name, type(error).__qualname__, message_of(error),
                         traceback.format_exc(), error)
    return Outcome(error=f"{failure.kind}: {failure.message}", failure=failure)
