"""Choosing chunk sizes from measured numbers: the guide's task-sizing rule, applied.

Too small and the per-task overhead dominates; too large and the workers finish unevenly. With
`item_seconds` measured on a sample and `overhead` the cost of one task beyond its work, a
chunk of c items takes c * item_seconds, so the overhead stays under 1 % of it when
c >= overhead / (0.01 * item_seconds); and there are still at least 4 chunks per worker when
c <= n / (4 * workers). The largest chunk that keeps 4 chunks per worker is taken when both
hold; when they conflict, the overhead bound wins but every worker still gets a chunk.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

OVERHEAD_SHARE = 0.01
CHUNKS_PER_WORKER = 4
SAMPLE_SECONDS = 0.02
SAMPLE_MAX = 10_000
SAMPLE_BYTES = 256 * 1024
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
    balance = max(1, n // (CHUNKS_PER_WORKER * workers))
    cheap = max(1, math.ceil(overhead / (OVERHEAD_SHARE * item_seconds))) if item_seconds > 0 \
        else n
    if cheap <= balance:
        size = balance
        reason = (f"{CHUNKS_PER_WORKER} chunks per worker for balance; overhead "
                  f"{overhead * 1e6:.0f}us is {overhead / (size * item_seconds):.2%} of a chunk")
    else:
        size = min(cheap, math.ceil(n / workers))
        reason = (f"overhead {overhead * 1e6:.0f}us needs chunks of {cheap} items to stay under "
                  f"{OVERHEAD_SHARE:.0%}; fewer than {CHUNKS_PER_WORKER} chunks per worker")
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


def read_lines(path: str, start: int, end: int) -> Any:
    """The lines of `path` that begin in [start, end): each line belongs to exactly one range.

    A range starting mid-line skips to the next line (the previous range reads that line to
    its end), so only this range's bytes, plus the tail of its last line, are read.
    """
    with open(path, "rb") as f:
        if start > 0:
            f.seek(start - 1)
            f.readline()
        position = f.tell()
        while position < end:
            line = f.readline()
            if not line:
                return
            position += len(line)
            yield line.decode("utf-8", errors="replace")
