"""The guide's four patterns, each a small graph built with the API and run on the engine.

    parallel_map(fn, items)            independent tasks: fn over chunks of items
    pipeline(items, s1, s2, ...)       each chunk flows through the stages in turn
    map_reduce(mapper, reducer, data)  mapper(chunk) per chunk, reducer(partials) once
    fork_join(subtasks, merge)         run the subtasks, merge(their results)

No pattern schedules anything itself: each only shapes a graph (and sizes its chunks with
`makespan.sizing`); order, budgets and the record come from the engine as for any graph.

With chunk="auto", the first items run in the caller as a timed sample, before the graph is
built; its result is the answer's first chunk (chunk 0, which has no task), so every item is
still computed once. If the sample fails, its items go to the run, which reports the failure as
any task's (`TaskFailed`, with the record written); the items it took are then called again.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from makespan import sizing
from makespan.api import Graph, Handle, parse_option, refuse_nested
from makespan.errors import InputError
from makespan.model import Kind, check_kind
from makespan.resources import check_settings, usable_cores
from makespan.units import parse_size

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
    _refuse("parallel_map()", chunk, [kind], workers, run)
    items = list(items)
    done, chunking = _chunking(functools.partial(_map_chunk, fn), items, chunk, kind, workers)
    graph = Graph()
    handles = [graph.add(_map_chunk, fn, part, kind=kind, name=f"map[{k}]",
                         estimate=chunking.estimate(len(part)))
               for k, part in _chunks(items, chunking, len(done))]
    results = graph.run(workers=workers, info={"chunking": chunking.to_json()}, **run)
    return [value for part in [*done, *(results[h] for h in handles)] for value in part]


def pipeline(items: Iterable[Any], *stages: Callable[[Any], Any] | Stage, chunk: Chunk = "auto",
             workers: int | None = None, **run: Any) -> list[Any]:
    """Pass each item through every stage in turn; stage k+1 starts on the first chunk while
    stage k still works on later ones. Results of the last stage, in input order.

    With chunk="auto", chunk 0 is the first stage's timed sample: it enters at stage 1."""
    steps = [s if isinstance(s, Stage) else Stage(s) for s in stages]
    _refuse("pipeline()", chunk, [s.kind for s in steps], workers, run)
    if not stages:
        raise InputError("a pipeline needs at least one stage", field="stages")
    items = list(items)
    first = steps[0]
    done, chunking = _chunking(functools.partial(_map_chunk, first.fn), items, chunk, first.kind,
                               workers)
    graph = Graph()
    previous: list[Handle[Any] | None] = [None] * len(steps)
    last: list[Any] = []  # each chunk's last-stage handle, or its values when no stage is left
    flows = [(k, 1, part) for k, part in enumerate(done)]
    flows += [(k, 0, part) for k, part in _chunks(items, chunking, len(done))]
    for k, begin, data in flows:
        for s in range(begin, len(steps)):
            step, before = steps[s], previous[s]
            after = [before] if step.ordered and before is not None else []
            handle = graph.add(_map_chunk, step.fn, data, kind=step.kind, name=f"stage{s}[{k}]",
                               deps=after, estimate=None if s else chunking.estimate(len(data)))
            previous[s] = data = handle
        last.append(data)
    results = graph.run(workers=workers, info={"chunking": chunking.to_json()}, **run)
    return [value for data in last
            for value in (results[data] if isinstance(data, Handle) else data)]


def map_reduce(mapper: Callable[[Iterator[Any]], T], reducer: Callable[[list[T]], R],
               data: Iterable[Any] | str | Path, *, chunk: Chunk = "auto", kind: Kind = "cpu",
               workers: int | None = None, **run: Any) -> R:
    """`reducer([mapper(chunk) for chunk in chunks(data)])`, the mappers in parallel.

    `data` is a sequence of items, or a path to a text file: the file is split into byte
    ranges aligned to line boundaries, and each mapper reads only its own range (it receives
    an iterator over the range's lines), so no file contents cross process boundaries. For a
    file, `chunk` is a number of bytes, not of lines.
    """
    _refuse("map_reduce()", chunk, [kind], workers, run)
    graph = Graph()
    parts: list[Any]
    if isinstance(data, str | Path):
        path = str(data)
        size = os.path.getsize(path)
        done, chunking = _sized(size, lambda: sizing.sample_file(mapper, path, kind), chunk, kind,
                                workers)
        parts = [*done, *(graph.add(_map_range, mapper, path, start, end, kind=kind,
                                    name=f"map[{k}]", estimate=chunking.estimate(end - start))
                          for k, (start, end) in enumerate(
                              sizing.split_ranges(size, chunking.size, chunking.sampled),
                              start=len(done)))]
    else:
        items = list(data)
        done, chunking = _chunking(mapper, items, chunk, kind, workers)
        parts = [*done, *(graph.add(_map_items, mapper, part, kind=kind, name=f"map[{k}]",
                                    estimate=chunking.estimate(len(part)))
                          for k, part in _chunks(items, chunking, len(done)))]
    reduced = graph.add(reducer, parts, kind=kind, name="reduce")
    results = graph.run(workers=workers, info={"chunking": chunking.to_json()}, **run)
    value: R = results[reduced]
    return value


def fork_join(subtasks: Iterable[Callable[[], Any] | tuple[Any, ...]],
              merge: Callable[[list[Any]], R], *, kind: Kind = "cpu",
              workers: int | None = None, **run: Any) -> R:
    """Run each subtask (a callable, or `(fn, *args)`) in parallel, then `merge(results)`."""
    _refuse("fork_join()", "auto", [kind], workers, run)
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


def _map_chunk(fn: Callable[[Any], Any], part: Iterable[Any]) -> list[Any]:
    return [fn(x) for x in part]


def _map_items(mapper: Callable[[Iterator[Any]], Any], part: Sequence[Any]) -> Any:
    return mapper(iter(part))


def _map_range(mapper: Callable[[Iterator[str]], Any], path: str, start: int, end: int) -> Any:
    return mapper(sizing.read_lines(path, start, end))


# ---------------------------------------------------------------------------- sizing


def _chunks(items: Sequence[T], chunking: sizing.Chunking,
            first: int) -> list[tuple[int, Sequence[T]]]:
    """The items after the sampled ones, in chunks numbered from `first`."""
    starts = range(chunking.sampled, len(items), chunking.size)
    return [(k, items[i:i + chunking.size]) for k, i in enumerate(starts, start=first)]


def _chunking(run: Callable[[Iterator[Any]], Any], items: Sequence[Any], chunk: Chunk,
              kind: Kind, workers: int | None) -> tuple[list[Any], sizing.Chunking]:
    """`_sized` for items, `run` being what a chunk's task does with them."""
    return _sized(len(items), lambda: sizing.sample_items(run, items, kind), chunk, kind, workers)


def _sized(n: int, sample: Callable[[], sizing.Sample], chunk: Chunk, kind: Kind,
           workers: int | None) -> tuple[list[Any], sizing.Chunking]:
    """The results of the chunks already done (the timed sample's, for "auto"), and how to
    chunk the `n` items (or bytes) they leave."""
    if chunk != "auto":
        return [], sizing.fixed(n, _fixed(chunk), kind)
    if n == 0:
        return [], sizing.choose(0, 1, 0.0, sizing.TASK_OVERHEAD[kind])
    taken = sample()
    done = [taken.value] if taken.error is None else []
    return done, sizing.after(taken, n, workers or usable_cores(), kind)


def _refuse(what: str, chunk: Chunk, kinds: list[Kind], workers: int | None,
            run: dict[str, Any]) -> None:
    """Before anything runs (the sample runs the user's function): a nested use, then bad
    settings, each with one clear error."""
    refuse_nested(what)
    if chunk != "auto":
        _fixed(chunk)
    for kind in kinds:
        check_kind(kind)
    check_settings(workers, run.get("io_workers"),
                   parse_option(None, "memory", run.get("memory"), parse_size))


def _fixed(chunk: Chunk) -> int:
    if isinstance(chunk, int) and not isinstance(chunk, bool) and chunk > 0:
        return chunk
    raise InputError(f"must be 'auto' or a positive number, got {chunk!r}", field="chunk")
