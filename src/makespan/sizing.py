"""Choosing chunk sizes from measured numbers: the guide's task-sizing rule, applied.

Too small and the per-task overhead dominates; too large and the workers finish unevenly. With
`item_seconds` measured on a sample and `overhead` the cost of one task beyond its work, a
chunk of c items takes c * item_seconds, so the overhead stays under 1 % of it when
c >= overhead / (0.01 * item_seconds); and there are still at least 4 chunks per worker when
c <= n / (4 * workers). When some size meets both (the smallest cheap size still gives 4 chunks
per worker), the larger of that and n // (4 * workers) is taken: as few tasks as balance allows.
When they conflict, the overhead bound wins, but never at the cost of leaving a worker without a
chunk: the size is capped at n // workers.
"""

from __future__ import annotations

import io
import itertools
import math
import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

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
    size: int
    chunks: int
    item_seconds: float
    overhead: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
        share = overhead / (size * item_seconds) if item_seconds > 0 else 0.0
        reason = (f"{math.ceil(n / size)} chunks, at least {CHUNKS_PER_WORKER} per worker for "
                  f"balance; the task overhead ({overhead * 1e6:.0f}us) is {share:.2%} of a "
                  f"chunk ({size} x {item_seconds * 1e6:.2f}us)")
    else:
        size = min(cheap, max(1, n // workers))
        reason = (f"chunks of {cheap} items keep the task overhead ({overhead * 1e6:.0f}us) "
                  f"under {OVERHEAD_SHARE:.0%} of a chunk (items take "
                  f"{item_seconds * 1e6:.2f}us), which leaves fewer than {CHUNKS_PER_WORKER} "
                  f"chunks per worker; {math.ceil(n / size)} chunks of {size}")
    return Chunking(size, math.ceil(n / size), item_seconds, overhead, reason)


def time_per_item(fn: Callable[[Any], Any], items: Sequence[Any]) -> float:
    """Seconds per item of `fn`, including shipping the item and its result, from a sample.

    Runs `fn` on the first items until SAMPLE_SECONDS have passed (at most SAMPLE_MAX items).
    """
    done = 0
    began = time.perf_counter()
    elapsed = 0.0
    while done < min(len(items), SAMPLE_MAX) and elapsed < SAMPLE_SECONDS:
        item = items[done]
        pickle.dumps((item, fn(item)), protocol=pickle.HIGHEST_PROTOCOL)
        done += 1
        elapsed = time.perf_counter() - began
    return elapsed / done if done else 0.0


def time_call(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def split_ranges(size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges [start, end) covering `size` bytes in pieces of about `chunk_bytes`."""
    step = max(1, chunk_bytes)
    return [(start, min(size, start + step)) for start in range(0, size, step)]


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
