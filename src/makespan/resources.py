"""The budgets a schedule must fit in: CPU slots, I/O slots and memory.

Defaults follow the guide: CPU-bound work is limited to the cores, I/O-bound work may exceed
them (3x), and memory is what the machine has available minus a reserve kept for everything else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

from makespan.errors import InputError
from makespan.model import whole_number

IO_PER_CORE = 3
MEMORY_RESERVE_FRACTION = 0.10
MEMORY_RESERVE_MIN = 512 * 2**20


@dataclass(frozen=True, slots=True)
class Resources:
    cpu: int
    io: int
    memory: int
    """Bytes that the memory estimates of running tasks may add up to."""

    def slots(self, kind: str) -> int:
        return self.cpu if kind == "cpu" else self.io


def usable_cores() -> int:
    """Cores this process may run on (respects CPU affinity, e.g. in containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def memory_reserve(total: int) -> int:
    return max(MEMORY_RESERVE_MIN, int(total * MEMORY_RESERVE_FRACTION))


def machine_memory_reserve() -> int:
    """Available memory under which a run holds new tasks: the reserve for everything else."""
    return memory_reserve(psutil.virtual_memory().total)


def available_memory_budget() -> int:
    """Available RAM minus a reserve for the rest of the machine."""
    memory = psutil.virtual_memory()
    return max(0, memory.available - memory_reserve(memory.total))


def detect(workers: int | None = None, io_workers: int | None = None,
           memory: int | None = None) -> Resources:
    """Resources from explicit settings, the machine filling in whatever is `None`.

    Every front end (`Graph.run`, the patterns, `makespan.Executor`, the CLI) comes through
    here, so a pool below one slot or a negative memory budget is refused in one place, before
    anything starts, rather than surfacing later as a task that "needs 1 cpu slots".
    """
    check_settings(workers, io_workers, memory)
    cpu = workers if workers is not None else usable_cores()
    return Resources(
        cpu=cpu,
        io=io_workers if io_workers is not None else IO_PER_CORE * cpu,
        memory=memory if memory is not None else available_memory_budget(),
    )


def check_settings(workers: int | None, io_workers: int | None, memory: int | None) -> None:
    """Refuse a pool below one slot or a negative memory budget, naming the setting."""
    at_least(1, workers=workers, io_workers=io_workers)
    at_least(0, memory=memory)


def at_least(least: int, **settings: int | None) -> None:
    """Refuse any of `settings` (by name) that is given but not a whole number >= `least`."""
    for field, value in settings.items():
        if value is None:
            continue
        if whole_number(value, field) < least:
            raise InputError(f"must be at least {least}, got {value}", field=field)
