"""makespan: plan, lint, run and measure parallel work."""

from makespan.analysis import Analysis, analyze
from makespan.api import Graph, Handle, Results
from makespan.errors import InputError, MakespanError, TaskFailed
from makespan.futures import Executor
from makespan.model import Task, TaskGraph
from makespan.patterns import Stage, fork_join, map_reduce, parallel_map, pipeline
from makespan.resources import Resources
from makespan.simulate import Schedule, simulate
from makespan.taskfile import TaskFile, load

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
