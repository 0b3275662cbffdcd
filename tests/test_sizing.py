"""Property tests for task sizing: the chunk-size rule, and splitting a file into byte ranges
that give every line to exactly one range."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from makespan import sizing

items = st.integers(min_value=0, max_value=10**7)
workers = st.integers(min_value=1, max_value=256)
seconds = st.floats(min_value=0.0, max_value=10.0, allow_nan=False, allow_infinity=False)
overheads = st.floats(min_value=1e-7, max_value=0.1, allow_nan=False, allow_infinity=False)


def smallest_cheap(item_seconds: float, overhead: float) -> float:
    """The smallest chunk whose overhead is at most 1 % of its work (inf: none is)."""
    budget = sizing.OVERHEAD_SHARE * item_seconds
    if budget <= 0 or math.isinf(overhead / budget):
        return math.inf
    return max(1, math.ceil(overhead / budget))


@given(items, workers, seconds, overheads)
@example(n=10, workers=1, item_seconds=1e-6, overhead=3e-6 * 100)  # a cheap size of exactly 3...
@example(n=5, workers=4, item_seconds=1e-9, overhead=1e-3)  # fewer items than 4 per worker
@example(n=1, workers=8, item_seconds=0.0, overhead=1e-3)
@example(n=1, workers=1, item_seconds=5e-324, overhead=0.0625)  # a budget that underflows
def test_chunks_cover_the_items_and_keep_overhead_and_balance(
        n: int, workers: int, item_seconds: float, overhead: float) -> None:
    chosen = sizing.choose(n, workers, item_seconds, overhead)
    if n == 0:
        assert chosen.chunks == 0
        return
    size, chunks = chosen.size, chosen.chunks
    assert 1 <= size <= n
    assert chunks == math.ceil(n / size)
    assert (chunks - 1) * size < n <= chunks * size  # every item in exactly one chunk
    cheap = smallest_cheap(item_seconds, overhead)
    feasible = cheap <= n and math.ceil(n / cheap) >= sizing.CHUNKS_PER_WORKER * workers
    if feasible:
        assert overhead <= sizing.OVERHEAD_SHARE * size * item_seconds * (1 + 1e-9)
        assert chunks >= sizing.CHUNKS_PER_WORKER * workers
    else:
        # The overhead bound wins, but no worker is left without a chunk.
        assert chunks >= min(n, workers)
        if cheap <= n // workers:
            assert overhead <= sizing.OVERHEAD_SHARE * size * item_seconds * (1 + 1e-9)
    assert chosen.reason


@given(st.integers(min_value=1, max_value=10**6), workers)
def test_the_balance_choice_takes_as_few_chunks_as_it_may(n: int, workers: int) -> None:
    """Free overhead (cheap chunks of one item): the size is n // (4 x workers) or 1."""
    chosen = sizing.choose(n, workers, 1.0, 1e-6)
    assert chosen.size == max(1, n // (sizing.CHUNKS_PER_WORKER * workers))


# ---------------------------------------------------------------------------- byte ranges

def lines_of(text: str) -> list[str]:
    """The lines of `text`, each with its newline, split at "\n" only (as files are read)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


line_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
    max_size=40)
files = st.tuples(st.lists(line_text, max_size=60), st.booleans())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(files, st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=64))
@example((["", "", ""], True), 1, 1)  # only empty lines, ranges of one byte
@example((["é", "", "ζζ"], False), 1, 1)  # multi-byte characters cut anywhere, no final newline
@example(([""], False), 1, 1)  # an empty file
@example((["a" * 30, "b"], True), 7, 4)  # a line longer than a read block and a range
def test_every_line_is_read_exactly_once_in_order(file: tuple[list[str], bool], chunk: int,
                                                  block: int) -> None:
    """Whatever the ranges and the read blocks (a block may end inside a line, even inside a
    character), the ranges' lines together are the file's lines, each once, in order."""
    lines, trailing = file
    text = "\n".join(lines) + ("\n" if trailing and lines else "")
    data = text.encode("utf-8")
    assume(len(data) > 0 or chunk == 1)
    with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        f.write(data)
    saved, sizing.READ_BLOCK = sizing.READ_BLOCK, block
    try:
        ranges = sizing.split_ranges(len(data), chunk)
        assert [start for start, _ in ranges] == list(range(0, len(data), chunk))
        assert all(end - start <= chunk for start, end in ranges)
        assert ranges == [] or ranges[-1][1] == len(data)
        read = [line for start, end in ranges for line in sizing.read_lines(f.name, start, end)]
        assert read == lines_of(text)
    finally:
        sizing.READ_BLOCK = saved
        os.unlink(f.name)


def test_a_range_reads_only_its_lines_and_the_tail_of_its_last(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"aaaa\nbbbb\ncccc\n")
    assert list(sizing.read_lines(str(path), 0, 1)) == ["aaaa\n"]
    assert list(sizing.read_lines(str(path), 1, 5)) == []  # "aaaa" began before 1
    assert list(sizing.read_lines(str(path), 5, 6)) == ["bbbb\n"]
    assert list(sizing.read_lines(str(path), 4, 11)) == ["bbbb\n", "cccc\n"]


def test_timing_a_sample_stops_at_its_bounds() -> None:
    calls: list[int] = []

    def fn(x: int) -> int:
        calls.append(x)
        return x

    assert sizing.time_per_item(fn, range(sizing.SAMPLE_MAX * 3)) >= 0
    assert 0 < len(calls) <= sizing.SAMPLE_MAX
    assert calls == list(range(len(calls)))
    assert sizing.time_per_item(fn, []) == 0.0
