"""Calling a task's Python function, where it runs (a thread, or a worker process).

Shared by the thread and process executors: arguments that refer to other tasks are replaced
by their results, and an exception becomes a `TaskFailed` carrying its type, message and
traceback, so the caller sees what the worker saw.
"""

from __future__ import annotations

import traceback
from typing import Any

from makespan.errors import TaskFailed
from makespan.executors import Job, Outcome
from makespan.model import Call, resolve_refs


def call(job: Job) -> Outcome:
    run = job.task.run
    assert isinstance(run, Call)
    return invoke(job.task.name, run, job.inputs)


def invoke(name: str, run: Call, inputs: Any) -> Outcome:
    try:
        args = resolve_refs(run.args, inputs)
        kwargs = resolve_refs(dict(run.kwargs), inputs)
        return Outcome(value=run.fn(*args, **kwargs))
    except BaseException as error:  # the task's failure is data for the caller, not ours
        return failed(name, error)


def failed(name: str, error: BaseException) -> Outcome:
    failure = TaskFailed(name, type(error).__qualname__, str(error), traceback.format_exc(),
                         error)
    return Outcome(error=f"{failure.kind}: {failure.message}", failure=failure)
