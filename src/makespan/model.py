"""The task graph as plain, validated data.

Every front end (task file, Python API, patterns) builds `Task` values and hands them to
`TaskGraph.build`, which validates once and indexes the graph: integer ids in definition order,
predecessor and successor arrays, and a topological order. Everything downstream (analysis,
lint, the scheduler, executors) reads these arrays and never re-validates.

Determinism: ids follow the order the tasks were given, the topological order is Kahn's
algorithm taking ready tasks in id order, and nothing iterates over a set or a hash order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from makespan.errors import InputError, did_you_mean

Kind = Literal["cpu", "io"]
KINDS: tuple[Kind, ...] = ("cpu", "io")

DEFAULT_ESTIMATE = 1.0


@dataclass(frozen=True, slots=True)
class Ref:
    """Stands, among a `Call`'s arguments, for the result of the task named `task`."""

    task: str


_HOLDERS = (Ref, list, tuple, dict)
"""The types a `Ref` may be in (subclasses are told apart from these by `_collect_refs`)."""


def any_of_types(items: Iterable[Any], types: tuple[type, ...]) -> bool:
    """Whether an item is of one of `types` (or a subclass), told by the set of the items'
    types, which is made in C: a million numbers cost no Python loop."""
    return any(issubclass(t, types) for t in set(map(type, items)))


@dataclass(frozen=True, slots=True)
class Call:
    """A Python callable and its arguments, run by the thread or process executors.

    `Ref`s among the arguments (also inside lists, tuples, named tuples and dict values) are
    replaced by the referenced tasks' results when the call runs; `refs` lists them so the
    graph can depend on them.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def refs(self) -> list[str]:
        found: list[str] = []
        _collect_refs([*self.args, *self.kwargs.values()], found)
        return found

    def describe(self) -> str:
        return f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', self.fn)}"


def _collect_refs(values: Iterable[Any], found: list[str]) -> None:
    """The tasks `Ref`s name, where `resolve_refs` replaces them (lists, tuples, named tuples
    and dict values; see `api._to_refs`). A value of no such type is not looked into, and
    the types of many values are told apart in C: a chunk of a million numbers costs no loop."""
    values = list(values)
    if not any_of_types(values, _HOLDERS):
        return
    for value in values:
        kind = type(value)
        if kind is Ref:
            found.append(value.task)
        elif kind is list or kind is tuple or is_named_tuple(value):
            _collect_refs(value, found)
        elif kind is dict:
            _collect_refs(value.values(), found)


def resolve_refs(value: Any, results: Mapping[str, Any]) -> Any:
    """`value` with every `Ref` replaced by the named task's result.

    Only the containers a `Ref` can be put in are rebuilt (lists, tuples, dicts and named
    tuples, keeping their type); any other value, a subclass of list or dict included, is
    passed as it is.
    """
    kind = type(value)
    if kind is Ref:
        return results[value.task]
    if kind is list:
        return [resolve_refs(v, results) for v in value]
    if kind is tuple:
        return tuple([resolve_refs(v, results) for v in value])
    if kind is dict:
        return {k: resolve_refs(v, results) for k, v in value.items()}
    if is_named_tuple(value):
        return kind._make([resolve_refs(v, results) for v in value])
    return value


def is_named_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_make")


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work and everything the planner needs to know about it.

    `run` is a shell string (run by /bin/sh -c), an argument vector (executed directly) or a
    Python `Call`;
    `estimate` is in seconds and `memory` in bytes, `None` meaning "not given".
    """

    name: str
    run: str | tuple[str, ...] | Call = ""
    deps: tuple[str, ...] = ()
    kind: Kind = "cpu"
    slots: int = 1
    memory: int | None = None
    estimate: float | None = None
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    locks: tuple[str, ...] = ()
    timeout: float | None = None
    retries: int = 0
    cwd: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    ignore: tuple[str, ...] = ()
    group: str | None = None
    """The `for_each` table this task was expanded from, if any."""


@dataclass(frozen=True, slots=True)
class TaskGraph:
    """An immutable, validated DAG of tasks, indexed for fast analysis.

    Build it with `TaskGraph.build(tasks)`; the constructor itself does not validate.
    """

    tasks: tuple[Task, ...]
    index: Mapping[str, int]
    preds: tuple[tuple[int, ...], ...]
    succs: tuple[tuple[int, ...], ...]
    order: tuple[int, ...]
    """A topological order: every task comes after all its dependencies."""
    groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """`for_each` group name -> the ids of its expansions."""

    @classmethod
    def build(cls, tasks: Iterable[Task]) -> TaskGraph:
        """Validate `tasks` and index them. Raises `InputError` naming the task and field."""
        tasks = tuple(tasks)
        index: dict[str, int] = {}
        groups: dict[str, list[int]] = {}
        for i, task in enumerate(tasks):
            _check_task(task)
            if task.name in index:
                raise InputError("duplicate task name", task=task.name, field="name")
            index[task.name] = i
            if task.group is not None:
                groups.setdefault(task.group, []).append(i)
        for name in groups:
            if name in index:
                raise InputError(
                    f"'{name}' names both a task and a for_each group", task=name, field="name"
                )

        preds: list[tuple[int, ...]] = []
        succ_lists: list[list[int]] = [[] for _ in tasks]
        for i, task in enumerate(tasks):
            mine: list[int] = []
            for dep in task.deps:
                targets = _resolve(dep, task, index, groups)
                for j in targets:
                    if j == i:
                        raise InputError("a task cannot depend on itself", task=task.name,
                                         field="deps")
                    mine.append(j)
            unique = tuple(dict.fromkeys(mine))
            preds.append(unique)
            for j in unique:
                succ_lists[j].append(i)
        succs = tuple(tuple(s) for s in succ_lists)
        order = _topological_order(tasks, preds, succs)
        return cls(
            tasks=tasks,
            index=index,
            preds=tuple(preds),
            succs=succs,
            order=order,
            groups={name: tuple(ids) for name, ids in groups.items()},
        )

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def edge_count(self) -> int:
        return sum(len(p) for p in self.preds)

    def names(self, ids: Iterable[int]) -> list[str]:
        return [self.tasks[i].name for i in ids]

    def estimates(self, default: float = DEFAULT_ESTIMATE) -> list[float]:
        """Each task's duration estimate in seconds, `default` where none was given."""
        return [default if t.estimate is None else t.estimate for t in self.tasks]

    def ancestors(self, ids: Iterable[int]) -> list[int]:
        """`ids` and everything they need, in id order."""
        seen = set(ids)
        stack = list(seen)
        while stack:
            for p in self.preds[stack.pop()]:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return sorted(seen)

    def select(self, names: Iterable[str]) -> TaskGraph:
        """The named tasks (or `for_each` groups) and everything they need."""
        wanted: list[int] = []
        for name in names:
            if name in self.index:
                wanted.append(self.index[name])
            elif name in self.groups:
                wanted.extend(self.groups[name])
            else:
                hint = did_you_mean(name, [*self.index, *self.groups])
                raise InputError(f"no task named '{name}'{hint}")
        return self.subgraph(self.ancestors(wanted))

    def descendants(self, task: int) -> list[int]:
        """Everything that depends on `task`, directly or through others, in id order."""
        seen: set[int] = set()
        stack = [task]
        while stack:
            for s in self.succs[stack.pop()]:
                if s not in seen:
                    seen.add(s)
                    stack.append(s)
        return sorted(seen)

    def subgraph(self, ids: Iterable[int]) -> TaskGraph:
        """The graph restricted to `ids`, which must be closed under dependencies."""
        keep = sorted(set(ids))
        kept = {self.tasks[i].name for i in keep}
        kept_groups = {g for g, members in self.groups.items() if any(m in keep for m in members)}
        tasks = []
        for i in keep:
            task = self.tasks[i]
            deps = tuple(d for d in task.deps if d in kept or d in kept_groups)
            tasks.append(replace(task, deps=deps))
        return TaskGraph.build(tasks)


def whole_number(value: Any, field: str, task: str | None = None) -> int:
    """`value` if it is a whole number given as one (not "3", not True); InputError otherwise."""
    if type(value) is int:
        return value
    raise InputError(f"expected a whole number, got {value!r}", task=task, field=field)


def check_kind(kind: Any, task: str | None = None) -> Kind:
    """`kind` if it is one (InputError naming the field otherwise)."""
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}: use 'cpu' or 'io'", task=task, field="kind")
    return cast(Kind, kind)


def _check_task(task: Task) -> None:
    def bad(field_name: str, message: str) -> InputError:
        return InputError(message, task=task.name, field=field_name)

    if not task.name:
        raise bad("name", "a task needs a non-empty name")
    if isinstance(task.run, Call):
        if not callable(task.run.fn):
            raise bad("run", f"{task.run.fn!r} is not callable")
    elif isinstance(task.run, str):
        if not task.run.strip():
            raise bad("run", "'run' is empty: give a shell command or an argument list")
    elif not task.run or not all(isinstance(a, str) for a in task.run) or not task.run[0]:
        raise bad("run", "'run' as a list needs a program and its arguments, all strings")
    check_kind(task.kind, task.name)
    if task.slots < 1:
        raise bad("slots", f"slots must be at least 1, got {task.slots}")
    if task.memory is not None and task.memory < 0:
        raise bad("memory", f"memory must be >= 0, got {task.memory}")
    if task.estimate is not None and not task.estimate >= 0:
        raise bad("estimate", f"estimate must be >= 0 seconds, got {task.estimate}")
    if task.timeout is not None and not task.timeout > 0:
        raise bad("timeout", f"timeout must be > 0 seconds, got {task.timeout}")
    if task.retries < 0:
        raise bad("retries", f"retries must be >= 0, got {task.retries}")


def _resolve(
    dep: str, task: Task, index: Mapping[str, int], groups: Mapping[str, Sequence[int]]
) -> Sequence[int]:
    if dep in index:
        return (index[dep],)
    if dep in groups:
        return groups[dep]
    hint = did_you_mean(dep, [*index, *groups])
    raise InputError(f"depends on unknown task '{dep}'{hint}", task=task.name, field="deps")


def _topological_order(
    tasks: Sequence[Task], preds: Sequence[Sequence[int]], succs: Sequence[Sequence[int]]
) -> tuple[int, ...]:
    indegree = [len(p) for p in preds]
    queue = deque(i for i, d in enumerate(indegree) if d == 0)
    order: list[int] = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for j in succs[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                queue.append(j)
    if len(order) < len(tasks):
        cycle = _find_cycle(indegree, preds)
        names = [tasks[i].name for i in cycle]
        chain = " -> ".join([*names, names[0]])
        raise InputError(
            f"dependency cycle: {chain} (each task depends on the next)",
            task=names[0],
            field="deps",
        )
    return tuple(order)


def _find_cycle(indegree: Sequence[int], preds: Sequence[Sequence[int]]) -> list[int]:
    """A cycle among the tasks Kahn's algorithm could not order, as a list of ids.

    Every such task has a predecessor that is also unordered, so walking predecessors from
    any of them must revisit a task; the loop found is returned starting at its smallest id,
    each task followed by one it depends on.
    """
    stuck = [i for i, d in enumerate(indegree) if d > 0]
    position: dict[int, int] = {}
    walk: list[int] = []
    node = stuck[0]
    while node not in position:
        position[node] = len(walk)
        walk.append(node)
        node = next(p for p in preds[node] if indegree[p] > 0)
    cycle = walk[position[node]:]
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


def open_graph() -> TaskGraph:
    """An empty graph that `append_task` may grow, for work submitted while a run goes on.

    Only the futures `Executor` uses one: its tasks are independent, so appending keeps the
    graph valid (ids in order, no edges) without revalidating.
    """
    empty: Any = []
    return TaskGraph(tasks=empty, index={}, preds=[], succs=[], order=[])  # type: ignore[arg-type]


def append_task(graph: TaskGraph, task: Task) -> int:
    """Add an independent task to an open graph; its id."""
    if task.deps:
        raise InputError("tasks added while running cannot have dependencies",
                         task=task.name, field="deps")
    _check_task(task)
    tasks = cast(list[Task], graph.tasks)
    v = len(tasks)
    tasks.append(task)
    cast(dict[str, int], graph.index)[task.name] = v
    cast(list[tuple[int, ...]], graph.preds).append(())
    cast(list[tuple[int, ...]], graph.succs).append(())
    cast(list[int], graph.order).append(v)
    return v
