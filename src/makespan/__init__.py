"""makespan: plan, lint, run and measure parallel work.

The public API is what `__all__` lists. Names are imported on first use (PEP 562, as
`concurrent.futures` does for its executors), so `makespan run` does not pay for the Python API,
the patterns or the futures executor at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# `simulate` names both a module and its function: importing the module sets the package
# attribute, so the function must be bound eagerly (after the module) to win.
from makespan.simulate import Schedule, simulate

if TYPE_CHECKING:
    from makespan.analysis import Analysis, analyze
    from makespan.api import Graph, Handle, Results
    from makespan.errors import InputError, MakespanError, TaskFailed
    from makespan.futures import Executor
    from makespan.model import Task, TaskGraph
    from makespan.patterns import Stage, fork_join, map_reduce, parallel_map, pipeline
    from makespan.resources import Resources
    from makespan.taskfile import TaskFile, load

_HOMES = {
    "Analysis": "analysis", "analyze": "analysis",
    "Graph": "api", "Handle": "api", "Results": "api",
    "InputError": "errors", "MakespanError": "errors", "TaskFailed": "errors",
    "Executor": "futures",
    "Task": "model", "TaskGraph": "model",
    "Stage": "patterns", "fork_join": "patterns", "map_reduce": "patterns",
    "parallel_map": "patterns", "pipeline": "patterns",
    "Resources": "resources",
    "TaskFile": "taskfile", "load": "taskfile",
}  # fmt: skip

__all__ = [
    "Analysis",
    "Executor",
    "Graph",
    "Handle",
    "InputError",
    "MakespanError",
    "Resources",
    "Results",
    "Schedule",
    "Stage",
    "Task",
    "TaskFailed",
    "TaskFile",
    "TaskGraph",
    "analyze",
    "fork_join",
    "load",
    "map_reduce",
    "parallel_map",
    "pipeline",
    "simulate",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'makespan' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"makespan.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
