"""The guide's four patterns, each a small graph built with the API and run on the engine.

    parallel_map(fn, items)            independent tasks: fn over chunks of items
    pipeline(items, s1, s2, ...)       each chunk flows through the stages in turn
    map_reduce(mapper, reducer, data)  mapper(chunk) per chunk, reducer(partials) once
    fork_join(subtasks, merge)         run the subtasks, merge(their results)

No pattern schedules anything itself: each only shapes a graph (and sizes its chunks with
`makespan.sizing`); order, budgets and the record come from the engine as for any graph.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from makespan import sizing
from makespan.api import Graph, Handle
from makespan.errors import InputError
from makespan.model import Kind
from makespan.resources import usable_cores

T = TypeVar("T")
R = TypeVar("R")
Chunk = int | str


@dataclass(frozen=True, slots=True)
class Stage:
    """A pipeline stage. `ordered` stages take their chunks one after another (like a Unix
    pipe, safe for stateful work); unordered ones take any chunk that is ready."""

    fn: Callable[[Any], Any]
    kind: Kind = "cpu"
    ordered: bool = True


def parallel_map(fn: Callable[[T], R], items: Iterable[T], *, chunk: Chunk = "auto",
                 kind: Kind = "cpu", workers: int | None = None, **run: Any) -> list[R]:
    """`[fn(x) for x in items]`, computed in parallel chunks; results in input order."""
    items = list(items)
    chunking = _chunking(fn, items, chunk, kind, workers)
    graph = Graph()
    handles = [graph.add(_map_chunk, fn, part, kind=kind, name=f"map[{k}]")
               for k, part in enumerate(_chunks(items, chunking.size))]
    results = graph.run(workers=workers, info={"chunking": chunking.to_json()}, **run)
    return [value for h in handles for value in results[h]]


def pipeline(items: Iterable[Any], *stages: Callable[[Any], Any] | Stage, chunk: Chunk = "auto",
             workers: int | None = None, **run: Any) -> list[Any]:
    """Pass each item through every stage in turn; stage k+1 starts on the first chunk while
    stage k still works on later ones. Results of the last stage, in input order."""
    items = list(items)
    if not stages:
        raise InputError("a pipeline needs at least one stage", field="stages")
    steps = [s if isinstance(s, Stage) else Stage(s) for s in stages]
    first = steps[0]
    chunking = _chunking(first.fn, items, chunk, first.kind, workers)
    graph = Graph()
    previous: list[Handle[Any] | None] = [None] * len(steps)
    last: list[Handle[Any]] = []
    for k, part in enumerate(_chunks(items, chunking.size)):
        data: Any = part
        for s, step in enumerate(steps):
            before = previous[s]
            after = [before] if step.ordered and before is not None else []
            handle = graph.add(_map_chunk, step.fn, data, kind=step.kind, name=f"stage{s}[{k}]",
                               deps=after)
            previous[s] = data = handle
        last.append(data)
    results = graph.run(workers=workers, info={"chunking": chunking.to_json()}, **run)
    return [value for h in last for value in results[h]]


def map_reduce(mapper: Callable[[Iterator[Any]], T], reducer: Callable[[list[T]], R],
               data: Iterable[Any] | str | Path, *, chunk: Chunk = "auto", kind: Kind = "cpu",
               workers: int | None = None, **run: Any) -> R:
    """`reducer([mapper(chunk) for chunk in chunks(data)])`, the mappers in parallel.

    `data` is a sequence of items, or a path to a text file: the file is split into byte
    ranges aligned to line boundaries, and each mapper reads only its own range (it receives
    an iterator over the range's lines), so no file contents cross process boundaries.
    """
    graph = Graph()
    if isinstance(data, str | Path):
        path = str(data)
        chunking = _file_chunking(mapper, path, chunk, kind, workers)
        parts = [graph.add(_map_range, mapper, path, start, end, kind=kind, name=f"map[{k}]")
                 for k, (start, end) in enumerate(
                     sizing.split_ranges(os.path.getsize(path), chunking.size))]
    else:
        items = list(data)
        chunking = _chunking(lambda x: mapper(iter([x])), items, chunk, kind, workers)
        parts = [graph.add(_map_items, mapper, part, kind=kind, name=f"map[{k}]")
                 for k, part in enumerate(_chunks(items, chunking.size))]
    reduced = graph.add(reducer, parts, kind=kind, name="reduce")
    results = graph.run(workers=workers, info={"chunking": chunking.to_json()}, **run)
    value: R = results[reduced]
    return value


def fork_join(subtasks: Iterable[Callable[[], Any] | tuple[Any, ...]],
              merge: Callable[[list[Any]], R], *, kind: Kind = "cpu",
              workers: int | None = None, **run: Any) -> R:
    """Run each subtask (a callable, or `(fn, *args)`) in parallel, then `merge(results)`."""
    graph = Graph()
    forks = []
    for k, sub in enumerate(subtasks):
        fn, *args = sub if isinstance(sub, tuple) else (sub,)
        forks.append(graph.add(fn, *args, kind=kind, name=f"fork[{k}]"))
    joined = graph.add(merge, forks, kind=kind, name="join")
    results = graph.run(workers=workers, **run)
    value: R = results[joined]
    return value


# ---------------------------------------------------------------------------- chunk tasks
# Module-level so worker processes import them by reference.


def _map_chunk(fn: Callable[[Any], Any], part: Sequence[Any]) -> list[Any]:
    return [fn(x) for x in part]


def _map_items(mapper: Callable[[Iterator[Any]], Any], part: Sequence[Any]) -> Any:
    return mapper(iter(part))


def _map_range(mapper: Callable[[Iterator[str]], Any], path: str, start: int, end: int) -> Any:
    return mapper(sizing.read_lines(path, start, end))


# ---------------------------------------------------------------------------- sizing


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _chunking(fn: Callable[[Any], Any], items: Sequence[Any], chunk: Chunk, kind: Kind,
              workers: int | None) -> sizing.Chunking:
    slots = workers or usable_cores()
    if chunk != "auto":
        size = _fixed(chunk)
        return sizing.Chunking(size, -(-len(items) // size), 0.0, sizing.TASK_OVERHEAD[kind],
                               "chosen by the caller")
    return sizing.choose(len(items), slots, sizing.time_per_item(fn, items),
                         sizing.TASK_OVERHEAD[kind])


def _file_chunking(mapper: Callable[[Iterator[str]], Any], path: str, chunk: Chunk, kind: Kind,
                   workers: int | None) -> sizing.Chunking:
    """Chunk sizes in bytes: the mapper is timed on the file's first lines."""
    size = os.path.getsize(path)
    if chunk != "auto":
        step = _fixed(chunk)
        return sizing.Chunking(step, -(-size // step), 0.0, sizing.TASK_OVERHEAD[kind],
                               "chosen by the caller")
    sample = min(size, sizing.SAMPLE_BYTES)
    seconds = sizing.time_call(lambda: mapper(sizing.read_lines(path, 0, sample)))
    per_byte = seconds / sample if sample else 0.0
    return sizing.choose(size, workers or usable_cores(), per_byte, sizing.TASK_OVERHEAD[kind])


def _fixed(chunk: Chunk) -> int:
    if isinstance(chunk, int) and not isinstance(chunk, bool) and chunk > 0:
        return chunk
    raise InputError(f"must be 'auto' or a positive number, got {chunk!r}", field="chunk")
