"""The Python front end: build a task graph from functions, run it, get the results.

    graph = Graph()

    @graph.task(kind="io", estimate="2s")
    def fetch(url): ...

    @graph.task(estimate="5s", memory="300MB")
    def parse(page): ...

    pages = [fetch(u) for u in urls]          # calling a task adds it and returns a Handle
    tables = [parse(p) for p in pages]        # a Handle argument passes that task's result
    results = graph.run(workers=4)            # critical path first, inside the budgets
    results[tables[0]]                        # the value; TaskFailed if it raised

It compiles to the same validated `TaskGraph` as a task file and runs on the same engine:
`kind="io"` callables run on threads, `kind="cpu"` ones in persistent worker processes, and a
string or list is a shell command, as in a task file.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, NamedTuple, ParamSpec, TypeVar

from makespan.errors import InputError, MakespanError, TaskFailed
from makespan.model import (
    DEFAULT_ESTIMATE,
    Call,
    Kind,
    Ref,
    Task,
    TaskGraph,
    any_of_types,
    is_named_tuple,
    whole_number,
)
from makespan.units import parse_duration, parse_size

P = ParamSpec("P")
R = TypeVar("R")


class Handle(Generic[R]):
    """A task added to a `Graph`: name it in `deps`, pass it as an argument, read its result."""

    __slots__ = ("_graph", "name")

    def __init__(self, graph: Graph, name: str) -> None:
        self._graph = graph
        self.name = name

    def result(self) -> R:
        """The task's value from the graph's last run (TaskFailed if it failed)."""
        results = self._graph.last_results
        if results is None:
            raise MakespanError(f"'{self.name}' has no result: the graph has not run")
        if self.name not in results and self.name not in results.failures:
            raise MakespanError(f"'{self.name}' has no result: it was added after the graph's "
                                "last run")
        value: R = results[self]
        return value

    def __repr__(self) -> str:
        return f"Handle({self.name!r})"


class TaskFunction(Generic[P, R]):
    """A function decorated with `@graph.task`: calling it adds a task and returns its Handle."""

    def __init__(self, graph: Graph, fn: Callable[P, R], options: dict[str, Any]) -> None:
        self._graph = graph
        self._fn = fn
        self._options = options
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Handle[R]:
        """Add the call as a task. Every argument is the function's own, even one named like
        an option of `add` (`name`, `kind`, ...): the options are the decorator's."""
        add: Callable[..., Handle[R]] = self._graph.add
        return add(_Bound(self._fn, args, kwargs), **self._options)


class _Bound(NamedTuple):
    """A function with the arguments it is called with, given to `Graph.add` as a whole."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Graph:
    """A task graph under construction, run with `run()`; see the module docstring."""

    def __init__(self) -> None:
        self._tasks: list[Task] = []
        self._names: set[str] = set()
        self._suffix: dict[str, int] = {}
        self.last_results: Results | None = None

    def task(self, fn: Callable[P, R] | None = None, **options: Any) -> Any:
        """Decorator: `@graph.task` or `@graph.task(kind=..., memory=..., estimate=...)`."""
        if fn is not None:
            return TaskFunction(self, fn, {})

        def decorate(f: Callable[P, R]) -> TaskFunction[P, R]:
            return TaskFunction(self, f, options)

        return decorate

    def add(
        self,
        fn: Callable[..., R] | str | Sequence[str],
        *args: Any,
        deps: Handle[Any] | Iterable[Handle[Any]] = (),
        name: str | None = None,
        kind: Kind = "cpu",
        slots: int = 1,
        memory: int | str | None = None,
        estimate: float | str | None = None,
        timeout: float | str | None = None,
        retries: int = 0,
        locks: str | Iterable[str] = (),
        **kwargs: Any,
    ) -> Handle[R]:
        """Add `fn(*args, **kwargs)` (or a shell command) as a task and return its handle.

        Handles among the arguments (also inside lists, tuples, named tuples and dict values)
        are replaced by those tasks' results and become dependencies; `deps` (a handle or
        several) adds order-only dependencies; `locks` is a lock's name or several.
        """
        if isinstance(fn, _Bound):
            fn, args, kwargs = fn
        elif isinstance(fn, TaskFunction):  # its call would add a task while the run runs
            plain = _default_name(fn._fn)
            raise InputError(f"{plain} is decorated with @graph.task: call it to add it (with "
                             "the decorator's options), or give add() the function itself",
                             task=name or plain, field="run")
        if name is None:
            name = self._fresh(_default_name(fn))
        elif not isinstance(name, str) or not name:
            raise InputError(f"a task's name must be a non-empty string, got {name!r}",
                             task=str(name), field="name")
        elif name in self._names:
            raise InputError("duplicate task name: each task added needs its own",
                             task=name, field="name")
        found: list[str] = []
        where: dict[str, Any] = {}
        if isinstance(fn, str):
            run: str | tuple[str, ...] | Call = fn
            where = _command_options(name, args, kwargs)
        elif callable(fn):
            run = Call(fn, _to_refs(args, self, found, name) if args else (),
                       {k: _to_refs(v, self, found, name) for k, v in kwargs.items()})
        elif isinstance(fn, Sequence) and all(isinstance(a, str) for a in fn):
            run = tuple(fn)
            where = _command_options(name, args, kwargs)
        else:
            raise InputError(f"{fn!r} is neither a callable nor a command (a string or a list "
                             "of strings)", task=name, field="run")
        for handle in (deps,) if isinstance(deps, Handle) else deps:
            found.append(handle.name if type(handle) is Handle and handle._graph is self
                         else self._own(handle, name, "deps"))
        if len(found) < 2:
            needs = tuple(found)
        elif len(found) == 2:  # the common case, without a dict
            needs = tuple(found) if found[0] != found[1] else (found[0],)
        else:
            needs = tuple(dict.fromkeys(found))
        task = Task(
            name, run, needs, kind, whole_number(slots, "slots", name),
            memory=None if memory is None else parse_option(name, "memory", memory, parse_size),
            estimate=None if estimate is None else parse_option(name, "estimate", estimate,
                                                                parse_duration),
            timeout=None if timeout is None else parse_option(name, "timeout", timeout,
                                                              parse_duration),
            retries=whole_number(retries, "retries", name),
            locks=(locks,) if isinstance(locks, str) else tuple(locks),
            **where,
        )
        self._tasks.append(task)
        self._names.add(name)
        return Handle(self, name)

    def _own(self, handle: Any, task: str, field: str) -> str:
        """The name of `handle`, a task of this graph (InputError otherwise)."""
        if not isinstance(handle, Handle):
            raise InputError(f"expected handles returned by add(), got {handle!r}",
                             task=task, field=field)
        if handle._graph is not self:
            raise InputError(f"{handle!r} is a task of another graph", task=task, field=field)
        return handle.name

    def _fresh(self, base: str) -> str:
        """`base`, or `base-2`, `base-3`, ... : the first that is not taken."""
        if base not in self._names:
            return base
        n = self._suffix.get(base, 1)
        while True:
            n += 1
            name = f"{base}-{n}"
            if name not in self._names:
                self._suffix[base] = n
                return name

    def build(self) -> TaskGraph:
        """The validated graph (raises InputError naming the task and field)."""
        return TaskGraph.build(self._tasks)

    def run(
        self,
        workers: int | None = None,
        io_workers: int | None = None,
        memory: int | str | None = None,
        keep_going: bool = False,
        optimize: float = 1.0,
        root: str | Path | None = None,
        default_estimate: float = DEFAULT_ESTIMATE,
        info: dict[str, Any] | None = None,
        backend: str = "local",
        client: Any = None,
    ) -> Results:
        """Run the graph and return its results; raises the first TaskFailed unless keep_going.

        The run record goes to `root/.makespan/` (default: the current directory), as for
        `makespan run`; `info` adds facts to it (the patterns record their chunking there).
        `backend="dask"` runs the tasks on a Dask cluster: `client`'s, or a new LocalCluster.
        """
        from makespan.local import run_local
        from makespan.run import check_info, frozen_heap

        refuse_nested()
        check_info(info or {})
        budget = parse_option(None, "memory", memory, parse_size)
        graph = self.build()
        with frozen_heap():
            result = run_local(graph, workers, io_workers, budget, keep_going, optimize,
                               Path(root) if root is not None else Path.cwd(), default_estimate,
                               info or {}, backend, client)
        results = Results(result.document, result.values, result.failures)
        self.last_results = results
        if result.document["status"] == "interrupted":
            raise KeyboardInterrupt
        if not keep_going and results.failures:
            raise results.first_failure()
        return results


class Results(Mapping[Any, Any]):
    """Each task's value by handle (or name), the run record and its metrics."""

    def __init__(self, record: dict[str, Any], values: dict[str, Any],
                 task_failures: dict[str, TaskFailed]) -> None:
        self.record = record
        self._values = values
        self.failures: dict[str, TaskFailed] = {}
        for row in record["tasks"]:
            if row["status"] not in ("ok", None):
                self.failures[row["name"]] = task_failures.get(row["name"]) or TaskFailed(
                    row["name"], row["status"].capitalize(), row["reason"] or row["status"], "")

    def first_failure(self) -> TaskFailed:
        """The failure that stopped the run: the first task to fail or time out by itself
        (not one cancelled or skipped because of it)."""
        own = [row for row in self.record["tasks"] if row["status"] in ("failed", "timeout")]
        if own:
            first = min(own, key=lambda row: row["end"] if row["end"] is not None else math.inf)
            return self.failures[first["name"]]
        return next(iter(self.failures.values()))

    @property
    def metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = self.record["metrics"]
        return metrics

    @property
    def status(self) -> str:
        return str(self.record["status"])

    def __getitem__(self, key: Handle[Any] | str) -> Any:
        name = _name(key)
        if name in self._values:
            return self._values[name]
        if name in self.failures:
            raise self.failures[name]
        raise KeyError(name)

    # The keys are the tasks that succeeded: a failed one raises TaskFailed from `[]` (to say
    # why it has no value), but is not "in" the results and `get` gives its default.
    def __contains__(self, key: object) -> bool:
        return isinstance(key, Handle | str) and _name(key) in self._values

    def get(self, key: Handle[Any] | str, default: Any = None) -> Any:
        return self._values.get(_name(key), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _name(key: Handle[Any] | str) -> str:
    return key.name if isinstance(key, Handle) else key


def refuse_nested(what: str = "graph.run()") -> None:
    """Inside a task, a nested run would start its own workers beside the run's: refuse."""
    from makespan.executors._worker import worker_task
    from makespan.executors.calling import inside_task

    worker, running = worker_task()
    task = inside_task() or running
    if task is not None or worker:
        where = f"task '{task}'" if task is not None else "a makespan task"
        raise MakespanError(
            f"{what} was called inside {where}: a nested run would start workers beyond the "
            "CPU budget. Run the inner work directly (serially) in the task, or add its tasks "
            "to the outer graph instead.")


_NESTED = (Handle, list, tuple, dict, set, frozenset)


def _to_refs(value: Any, graph: Graph, found: list[str], task: str) -> Any:
    """`value` with each Handle replaced by a Ref to its task, whose name joins `found`.

    Handles are found in lists, tuples, named tuples and dict values (the containers
    `resolve_refs` rebuilds); one anywhere else (a set, a dict key, a subclass of list or
    dict) would reach the task as a Handle, so it is refused. A list or tuple holding no
    handle and no container is returned as it is, found by the set of its items' types (fast
    in C): a chunk of a million numbers costs no Python loop.
    """
    kind = type(value)
    if kind is Handle:
        found.append(graph._own(value, task, "args"))
        return Ref(value.name)
    if kind is tuple or kind is list:
        if not any_of_types(value, _NESTED):
            return value
        if kind is tuple:
            return tuple([_to_refs(v, graph, found, task) for v in value])
        return [_to_refs(v, graph, found, task) for v in value]
    if kind is dict:
        if _any_holds(value.keys()):
            raise _unreachable("a dict's key", task)
        return {k: _to_refs(v, graph, found, task) for k, v in value.items()}
    if isinstance(value, Handle):  # a subclass
        found.append(graph._own(value, task, "args"))
        return Ref(value.name)
    if not _holds_handle(value):
        return value
    if is_named_tuple(value):
        return kind._make([_to_refs(v, graph, found, task) for v in value])
    raise _unreachable(f"a value of type {kind.__name__}", task)


def _holds_handle(value: Any) -> bool:
    if isinstance(value, Handle):
        return True
    if isinstance(value, dict):
        return _any_holds(value.keys()) or _any_holds(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return _any_holds(value)
    return False


def _any_holds(items: Iterable[Any]) -> bool:
    """Whether a handle is among `items` or inside them. Only items of a type that can hold
    one are looked into, found by the set of their types (in C): a Counter of a million words
    costs no Python loop."""
    return any_of_types(items, _NESTED) and any(map(_holds_handle, items))


def _unreachable(where: str, task: str) -> InputError:
    return InputError(f"a handle inside {where} would reach the task as a Handle, not as a "
                      "result: pass it directly, or in a list, tuple, named tuple or dict value",
                      task=task, field="args")


def _command_options(task: str, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> dict[str, Any]:
    """A command's `cwd` and `env` (as in a task file), the only keywords it takes: anything
    else given to it would be silently ignored, so it is refused."""
    options = dict(kwargs)
    where: dict[str, Any] = {}
    if "cwd" in options:
        where["cwd"] = str(options.pop("cwd"))
    if "env" in options:
        env = options.pop("env")
        if not isinstance(env, Mapping):
            raise InputError(f"env must be a mapping of names to values, got {env!r}",
                             task=task, field="env")
        where["env"] = tuple((str(k), str(v)) for k, v in env.items())
    if args or options:
        given = ", ".join([*map(repr, args), *options])
        raise InputError(f"a command takes no arguments, got {given}: write them into the "
                         "command, and give order with deps=", task=task, field="args")
    return where


def _default_name(fn: Any) -> str:
    if isinstance(fn, functools.partial):
        return _default_name(fn.func)
    name = getattr(fn, "__name__", None)
    if isinstance(name, str):
        return name
    if isinstance(fn, str):
        return fn.split()[0] if fn.split() else "command"
    if isinstance(fn, Sequence) and not callable(fn):
        return str(next(iter(fn), "command"))
    return type(fn).__name__ if callable(fn) else "task"  # a callable object: its class




def parse_option(task: str | None, field: str, value: Any, parse: Callable[[Any], Any]) -> Any:
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as error:
        raise InputError(str(error), task=task, field=field) from None
