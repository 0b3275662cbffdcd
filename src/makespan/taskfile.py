"""Reading a task file (`makespan.toml` or `[tool.makespan]` in `pyproject.toml`) into a graph.

This is the edge where user text becomes typed data: every key is checked here, with a message
that names the file, the task and the field, and `for_each` tables are expanded into one task per
item. What comes out is a validated `TaskGraph` plus the `[settings]`; nothing downstream knows
the graph came from a file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from makespan.codes import AFTER_RUN_CODES, CODES
from makespan.errors import InputError, did_you_mean
from makespan.model import DEFAULT_ESTIMATE, KINDS, Call, Kind, Task, TaskGraph
from makespan.units import parse_duration, parse_size

T = TypeVar("T")

FILE_NAMES = ("makespan.toml", "pyproject.toml")
ITEM = "{item}"


@dataclass(frozen=True, slots=True)
class Settings:
    """The `[settings]` table; `None` means "detect from the machine"."""

    workers: int | None = None
    io_workers: int | None = None
    memory: int | None = None
    default_estimate: float = DEFAULT_ESTIMATE


@dataclass(frozen=True, slots=True)
class TaskFile:
    path: Path
    graph: TaskGraph
    settings: Settings

    @property
    def root(self) -> Path:
        """The directory relative `cwd` values are taken from."""
        return self.path.parent


def find_task_file(directory: Path) -> Path:
    """`makespan.toml` in `directory`, else a `pyproject.toml` there with `[tool.makespan]`."""
    candidate = directory / "makespan.toml"
    if candidate.is_file():
        return candidate
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file() and "makespan" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    raise InputError(
        f"no task file found in {directory}: create makespan.toml, "
        "or a [tool.makespan] table in pyproject.toml"
    )


def load(path: Path | str | None = None) -> TaskFile:
    """Read, check and expand a task file. Raises `InputError` on anything wrong with it."""
    path = find_task_file(Path.cwd()) if path is None else Path(path)
    if path.is_dir():
        path = find_task_file(path)
    if not path.is_file():
        raise InputError(f"task file not found: {path}")
    document = _read_toml(path)
    shown = str(path)
    if path.name == "pyproject.toml":
        table = document.get("tool", {}).get("makespan")
        if not isinstance(table, dict):
            raise InputError("no [tool.makespan] table in this pyproject.toml", file=shown)
        document = table
    try:
        return parse(document, path)
    except InputError as error:
        raise error.located(shown) from None


def parse(document: Mapping[str, Any], path: Path) -> TaskFile:
    """Turn a parsed TOML document into a `TaskFile` (file attribution is added by `load`)."""
    _check_keys(document, ("settings", "tasks"), task=None, what="top-level table")
    settings = _parse_settings(_table(document.get("settings", {}), None, "settings"))
    tasks_table = _table(document.get("tasks", {}), None, "tasks")
    if not tasks_table:
        raise InputError("no tasks: add a table such as [tasks.build] with a 'run' command",
                         field="tasks")
    tasks: list[Task] = []
    for name, spec in tasks_table.items():
        tasks.extend(_parse_task(name, _table(spec, name, None)))
    return TaskFile(path=path, graph=TaskGraph.build(tasks), settings=settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"malformed TOML: {error}", file=str(path)) from None
    except OSError as error:
        raise InputError(f"cannot read the file: {error.strerror}", file=str(path)) from None


# ---------------------------------------------------------------- settings


def _parse_settings(table: Mapping[str, Any]) -> Settings:
    _check_keys(table, ("workers", "io_workers", "memory", "default_estimate"), None, "settings")
    values: dict[str, Any] = {}
    for key in ("workers", "io_workers"):
        if key in table:
            values[key] = _field(table, key, None, _positive_int)
    if "memory" in table:
        values["memory"] = _field(table, "memory", None, parse_size)
    if "default_estimate" in table:
        values["default_estimate"] = _field(table, "default_estimate", None, parse_duration)
    return Settings(**values)


# ---------------------------------------------------------------- tasks

_TASK_KEYS = (
    "run", "deps", "kind", "slots", "memory", "estimate", "inputs", "outputs", "locks",
    "timeout", "retries", "cwd", "env", "for_each", "ignore",
)  # fmt: skip


def _parse_task(name: str, spec: Mapping[str, Any]) -> list[Task]:
    _check_keys(spec, _TASK_KEYS, name, "task key")
    if "run" not in spec:
        raise InputError("missing 'run': the command this task executes", task=name, field="run")

    def get(key: str, convert: Callable[[Any], T], default: T) -> T:
        return _field(spec, key, name, convert) if key in spec else default

    base = Task(
        name=name,
        run=_field(spec, "run", name, _command),
        deps=get("deps", _strings, ()),
        kind=get("kind", _kind, "cpu"),
        slots=get("slots", _positive_int, 1),
        memory=get("memory", parse_size, None),
        estimate=get("estimate", parse_duration, None),
        inputs=get("inputs", _strings, ()),
        outputs=get("outputs", _strings, ()),
        locks=get("locks", _strings, ()),
        timeout=get("timeout", _positive_duration, None),
        retries=get("retries", _non_negative_int, 0),
        cwd=get("cwd", _string, None),
        env=get("env", _env, ()),
        ignore=get("ignore", _codes, ()),
    )
    if "for_each" not in spec:
        return [base]
    items = _field(spec, "for_each", name, _items)
    return [_expand(base, item) for item in items]


def _expand(task: Task, item: str) -> Task:
    def sub(text: str) -> str:
        return text.replace(ITEM, item)

    assert not isinstance(task.run, Call), "task files hold commands only"
    run = sub(task.run) if isinstance(task.run, str) else tuple(sub(a) for a in task.run)
    return Task(
        name=f"{task.name}[{item}]",
        run=run,
        deps=tuple(sub(d) for d in task.deps),
        kind=task.kind,
        slots=task.slots,
        memory=task.memory,
        estimate=task.estimate,
        inputs=tuple(sub(p) for p in task.inputs),
        outputs=tuple(sub(p) for p in task.outputs),
        locks=task.locks,
        timeout=task.timeout,
        retries=task.retries,
        cwd=None if task.cwd is None else sub(task.cwd),
        env=task.env,
        ignore=task.ignore,
        group=task.name,
    )


# ---------------------------------------------------------------- field converters
# Each takes the raw TOML value and returns the typed one, or raises ValueError with a message
# for the user; `_field` attaches the task and field names.


def _field(table: Mapping[str, Any], key: str, task: str | None, convert: Callable[[Any], T]) -> T:
    try:
        return convert(table[key])
    except ValueError as error:
        raise InputError(str(error), task=task, field=key if task else f"settings.{key}") from None


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], task: str | None,
                what: str) -> None:
    for key in table:
        if key not in allowed:
            raise InputError(
                f"unknown {what} '{key}'{did_you_mean(key, allowed)}",
                task=task,
                field=key if what != "settings" else f"settings.{key}",
            )


def _table(value: Any, task: str | None, field: str | None) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        what = f"[{field}]" if field else "a task"
        raise InputError(f"{what} must be a table, got {type(value).__name__}",
                         task=task, field=field)
    return value


def _command(value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("'run' is empty: give a shell command or an argument list")
        return value
    if isinstance(value, list):
        if not value or not all(isinstance(a, str) for a in value) or not value[0]:
            raise ValueError("'run' as a list needs a program and its arguments, all strings")
        return tuple(value)
    raise ValueError(f"'run' must be a string or a list of strings, got {type(value).__name__}")


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _codes(value: Any) -> tuple[str, ...]:
    codes = _strings(value)
    known = [*CODES, *AFTER_RUN_CODES]
    for code in codes:
        if code not in known:
            raise ValueError(f"unknown finding code '{code}'{did_you_mean(code, known)}")
    return codes


def _items(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("for_each needs a non-empty list of items")
    items = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise ValueError(f"for_each items must be strings or numbers, got {v!r}")
        items.append(str(v))
    return tuple(items)


def _kind(value: Any) -> Kind:
    for kind in KINDS:
        if value == kind:
            return kind
    raise ValueError(f"unknown kind {value!r}: use 'cpu' or 'io'")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def _positive_int(value: Any) -> int:
    if _int(value) < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return int(value)


def _non_negative_int(value: Any) -> int:
    if _int(value) < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return int(value)


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be longer than 0 seconds, got {value!r}")
    return seconds


def _env(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError("env must be a table of NAME = \"value\"")
    pairs = []
    for key, v in value.items():
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise ValueError(f"env value for {key} must be a string or a number, got {v!r}")
        pairs.append((key, str(v)))
    return tuple(pairs)
