"""Choosing chunk sizes from measured numbers: the guide's task-sizing rule, applied.

Too small and the per-task overhead dominates; too large and the workers finish unevenly. With
`item_seconds` measured on a sample and `overhead` the cost of one task beyond its work, a
chunk of c items takes c * item_seconds, so the overhead stays under 1 % of it when
c >= overhead / (0.01 * item_seconds); and there are still at least 4 chunks per worker when
c <= n / (4 * workers). When some size meets both (the smallest cheap size still gives 4 chunks
per worker), the larger of that and n // (4 * workers) is taken: as few tasks as balance allows.
When they conflict, the overhead bound wins, but never at the cost of leaving a worker without a
chunk: the size is capped at n // workers.

The time per item comes from a sample: the first items, run in the caller as one chunk. Its
result is part of the answer, so no item is computed twice (a function with side effects runs
once per item); the rest is chunked after it.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, BinaryIO

import cloudpickle

from makespan.model import Kind

OVERHEAD_SHARE = 0.01
CHUNKS_PER_WORKER = 4
SAMPLE_SECONDS = 0.02
SAMPLE_MAX = 10_000
SAMPLE_BYTES = 256 * 1024
READ_BLOCK = 1 << 20
TASK_OVERHEAD = {"cpu": 300e-6, "io": 60e-6}
"""Seconds a task costs beyond its work, by executor: the engine's bookkeeping plus a pipe
round trip to a worker process (cpu) or a hand-off to a thread (io); see docs/benchmarks.md."""


@dataclass(frozen=True, slots=True)
class Chunking:
    """`chunks` tasks of `size` items (or bytes) each, after the `sampled` first ones."""

    size: int
    chunks: int
    item_seconds: float
    overhead: float
    reason: str
    sampled: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def estimate(self, n: int) -> float | None:
        """Seconds a chunk of `n` items (or bytes) should take, by the sample; None unmeasured.
        Given to its task, it makes the run's order and prediction use what was measured."""
        return self.item_seconds * n if self.item_seconds > 0 else None


@dataclass(frozen=True, slots=True)
class Sample:
    """The first `count` items (or bytes) run as one chunk in the caller, timed. `value` is that
    chunk's result; with an `error` there is none, and the run does those items again."""

    count: int
    value: Any
    item_seconds: float
    error: str | None = None


def choose(n: int, workers: int, item_seconds: float, overhead: float) -> Chunking:
    """The chunk size for `n` items on `workers` workers (see the module docstring)."""
    if n == 0:
        return Chunking(1, 0, item_seconds, overhead, "no items")
    workers = max(1, workers)
    wanted = CHUNKS_PER_WORKER * workers
    cheap = n  # the smallest chunk whose overhead is under the share (n: none smaller is)
    budget = OVERHEAD_SHARE * item_seconds
    if budget > 0 and overhead / budget < n:
        cheap = max(1, math.ceil(overhead / budget))
    if math.ceil(n / cheap) >= wanted:
        size = max(cheap, n // wanted)
    else:
        size = min(cheap, max(1, n // workers))
    chunks = math.ceil(n / size)
    work = size * item_seconds
    share = overhead / work if work > 0 else math.inf
    cost = (f"the task overhead ({overhead * 1e6:.0f}us) is {share:.2%} of a chunk ({size} x "
            f"{item_seconds * 1e6:.2f}us)" if share < math.inf else "the items took no "
            f"measurable time, so the task overhead ({overhead * 1e6:.0f}us) is all of a chunk's")
    limit = f"{OVERHEAD_SHARE:.0%}"
    if chunks >= wanted:
        reason = f"at least {CHUNKS_PER_WORKER} per worker for balance: {cost}"
    elif share <= OVERHEAD_SHARE:
        reason = (f"fewer than {CHUNKS_PER_WORKER} per worker, as smaller chunks would put the "
                  f"task overhead above {limit}: {cost}")
    elif size == n:
        reason = f"{cost}, above {limit} even with every item in one chunk"
    else:
        reason = f"{cost}, above {limit}, as larger chunks would leave a worker idle"
    return Chunking(size, chunks, item_seconds, overhead,
                    f"{chunks} chunk{'s' * (chunks > 1)} of {size}, {reason}")


def fixed(n: int, size: int, kind: Kind) -> Chunking:
    """The caller's chunk size, as it is."""
    return Chunking(size, math.ceil(n / size), 0.0, TASK_OVERHEAD[kind], "chosen by the caller")


def after(sample: Sample, n: int, workers: int, kind: Kind) -> Chunking:
    """The chunking of the `n - sample.count` items the sample left. When it failed, all `n`
    in CHUNKS_PER_WORKER chunks a worker: the run meets the failure again, and reports it."""
    if sample.error is None:
        chosen = choose(n - sample.count, workers, sample.item_seconds, TASK_OVERHEAD[kind])
        rest = chosen.reason if n > sample.count else "none are left"
        return replace(chosen, sampled=sample.count,
                       reason=f"the timed sample ran the first {sample.count}; {rest}")
    size = max(1, math.ceil(n / (CHUNKS_PER_WORKER * max(1, workers))))
    return Chunking(size, math.ceil(n / size), 0.0, TASK_OVERHEAD[kind],
                    f"the timed sample failed ({sample.error}), so the run reports it: "
                    f"{CHUNKS_PER_WORKER} chunks per worker, of {size}")


def sample_items(run: Callable[[Iterator[Any]], Any], items: Sequence[Any],
                 kind: Kind) -> Sample:
    """`run` (a chunk's task) on the first items, handed out until SAMPLE_SECONDS have passed
    (at most SAMPLE_MAX), timed with what shipping that chunk to a worker would cost."""
    def chunk() -> tuple[int, Any, Any]:
        prefix = _Prefix(items)
        value = run(prefix)
        count = max(1, prefix.count)  # `run` took no item: it would do the same with one
        return count, value, (items[:count], value)

    return _timed(chunk, kind)


def sample_file(mapper: Callable[[Iterator[str]], Any], path: str, kind: Kind) -> Sample:
    """`mapper` on the lines that begin in the file's first SAMPLE_BYTES bytes, timed."""
    def chunk() -> tuple[int, Any, Any]:
        count = min(os.path.getsize(path), SAMPLE_BYTES)
        value = mapper(read_lines(path, 0, count))
        return count, value, value  # only the result crosses: a worker reads its own bytes

    return _timed(chunk, kind)


def _timed(chunk: Callable[[], tuple[int, Any, Any]], kind: Kind) -> Sample:
    """Run `chunk` (giving its count, value and what a cpu task would ship), per item timed.

    A cpu chunk is shipped with cloudpickle, as worker processes are; threads ship nothing.
    Anything that fails (the function, or shipping) is left to the run to meet and report.
    """
    began = time.perf_counter()
    try:
        count, value, shipped = chunk()
        if kind == "cpu":
            cloudpickle.dumps(shipped)
        return Sample(count, value, (time.perf_counter() - began) / count)
    except Exception as error:
        return Sample(0, None, 0.0, f"{type(error).__name__}: {error}")


class _Prefix(Iterator[Any]):
    """The first items, until SAMPLE_SECONDS have passed or SAMPLE_MAX were handed out (one at
    least); once stopped it stays stopped, as an exhausted iterator must."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items
        self.count = 0
        self.limit = min(len(items), SAMPLE_MAX)
        self.began = time.perf_counter()

    def __next__(self) -> Any:
        if self.count >= self.limit or (
                self.count and time.perf_counter() - self.began >= SAMPLE_SECONDS):
            raise StopIteration
        self.count += 1
        return self.items[self.count - 1]


def split_ranges(size: int, chunk_bytes: int, start: int = 0) -> list[tuple[int, int]]:
    """Byte ranges [start, end) covering bytes `start` to `size` in pieces of `chunk_bytes`."""
    step = max(1, chunk_bytes)
    return [(begin, min(size, begin + step)) for begin in range(start, size, step)]


def read_lines(path: str, start: int, end: int) -> Iterator[str]:
    """The lines of `path` that begin in [start, end): each line belongs to exactly one range.

    A range starting mid-line skips to the next line (the previous range reads that line to
    its end), so only this range's bytes, plus the tail of its last line, are read: in blocks
    of READ_BLOCK bytes cut at a newline, each decoded at once and split by a `StringIO` (C
    speed; "\n" alone ends a line, as for a file opened with newline="\n").
    """
    with open(path, "rb") as f:
        begin, stop = _line_start(f, start), _line_start(f, end)
    return itertools.chain.from_iterable(_blocks(path, begin, stop))


def _line_start(f: BinaryIO, offset: int) -> int:
    """The offset of the first line that begins at or after `offset`."""
    if offset <= 0:
        return 0
    f.seek(offset - 1)
    f.readline()
    return f.tell()


def _blocks(path: str, begin: int, stop: int) -> Iterator[io.StringIO]:
    with open(path, "rb") as f:
        f.seek(begin)
        remaining, carry = stop - begin, b""
        while remaining > 0:
            data = f.read(min(READ_BLOCK, remaining))
            if not data:
                break
            remaining -= len(data)
            if carry:
                data = carry + data
            cut = data.rfind(b"\n") + 1 if remaining > 0 else len(data)
            carry = data[cut:]
            if cut:
                yield io.StringIO(data[:cut].decode("utf-8", errors="replace"), newline="\n")
        if carry:
            yield io.StringIO(carry.decode("utf-8", errors="replace"), newline="\n")
