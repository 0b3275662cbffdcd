"""makespan: plan, lint, run and measure parallel work."""

from makespan.analysis import Analysis, analyze
from makespan.errors import InputError, MakespanError
from makespan.model import Task, TaskGraph
from makespan.resources import Resources
from makespan.simulate import Schedule, simulate
from makespan.taskfile import TaskFile, load

__all__ = [
    "Analysis",
    "InputError",
    "MakespanError",
    "Resources",
    "Schedule",
    "Task",
    "TaskFile",
    "TaskGraph",
    "analyze",
    "load",
    "simulate",
]
__version__ = "0.1.0"
