"""Property tests for task sizing: the chunk-size rule, the timed sample, and splitting a file
into byte ranges that give every line to exactly one range."""

from __future__ import annotations

import itertools
import math
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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


@given(items, workers, seconds, overheads)
@example(n=10, workers=2, item_seconds=0.0, overhead=300e-6)  # no size is cheap: 2 chunks of 5
@example(n=10, workers=1, item_seconds=1e-6, overhead=300e-6)  # one chunk, still not cheap
@example(n=1, workers=1, item_seconds=5e-324, overhead=0.0625)
def test_the_reason_says_what_was_chosen_and_if_the_overhead_is_above_the_share(
        n: int, workers: int, item_seconds: float, overhead: float) -> None:
    assume(n > 0)
    chosen = sizing.choose(n, workers, item_seconds, overhead)
    plural = "s" if chosen.chunks > 1 else ""
    assert chosen.reason.startswith(f"{chosen.chunks} chunk{plural} of {chosen.size}, ")
    work = sizing.OVERHEAD_SHARE * chosen.size * item_seconds
    if f", above {sizing.OVERHEAD_SHARE:.0%}" in chosen.reason:
        assert overhead > work * (1 - 1e-9)
    else:
        assert overhead <= work * (1 + 1e-9)


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
@given(files, st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=64),
       st.integers(min_value=0, max_value=400))
@example((["", "", ""], True), 1, 1, 0)  # only empty lines, ranges of one byte
@example((["é", "", "ζζ"], False), 1, 1, 0)  # multi-byte characters cut anywhere, no final newline
@example(([""], False), 1, 1, 0)  # an empty file
@example((["a" * 30, "b"], True), 7, 4, 0)  # a line longer than a read block and a range
@example((["a" * 30, "b"], True), 7, 4, 3)  # a sample ending inside the first line
@example((["é", "", "ζζ"], False), 2, 1, 7)  # a sample of the whole file
def test_every_line_is_read_exactly_once_in_order(file: tuple[list[str], bool], chunk: int,
                                                  block: int, sampled: int) -> None:
    """Whatever the sampled bytes (the first range, which map_reduce's sample maps), the ranges
    after them and the read blocks (a block may end inside a line, even inside a character),
    the ranges' lines together are the file's lines, each once, in order."""
    lines, trailing = file
    text = "\n".join(lines) + ("\n" if trailing and lines else "")
    data = text.encode("utf-8")
    assume(len(data) > 0 or chunk == 1)
    sampled = min(sampled, len(data))
    with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        f.write(data)
    saved, sizing.READ_BLOCK = sizing.READ_BLOCK, block
    try:
        ranges = sizing.split_ranges(len(data), chunk, sampled)
        assert [start for start, _ in ranges] == list(range(sampled, len(data), chunk))
        assert all(end - start <= chunk for start, end in ranges)
        assert ranges == [] or ranges[-1][1] == len(data)
        read = [line for start, end in [(0, sampled), *ranges]
                for line in sizing.read_lines(f.name, start, end)]
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


# ---------------------------------------------------------------------------- the sample


def doubled(part: Iterator[int], calls: list[int]) -> list[int]:
    out = []
    for x in part:
        calls.append(x)
        out.append(2 * x)
    return out


def test_a_sample_keeps_the_results_of_the_first_items_each_computed_once() -> None:
    calls: list[int] = []
    taken = sizing.sample_items(lambda part: doubled(part, calls), range(sizing.SAMPLE_MAX * 3),
                                "cpu")
    assert taken.error is None and 1 <= taken.count <= sizing.SAMPLE_MAX
    assert calls == list(range(taken.count))
    assert taken.value == [2 * x for x in range(taken.count)]
    assert taken.item_seconds > 0


def test_a_sample_takes_one_item_even_with_no_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sizing, "SAMPLE_SECONDS", 0.0)
    calls: list[int] = []
    taken = sizing.sample_items(lambda part: doubled(part, calls), range(100), "io")
    assert (taken.count, taken.value, calls) == (1, [0], [0])


def test_a_sample_covers_what_a_mapper_took() -> None:
    """A mapper that stops early did the same as it would on just the items it took; one that
    took none, the same as on the first item."""
    three = sizing.sample_items(lambda part: sum(itertools.islice(part, 3)), range(100), "io")
    assert (three.count, three.value) == (3, 0 + 1 + 2)
    none = sizing.sample_items(lambda part: "nothing taken", range(100), "io")
    assert (none.count, none.value) == (1, "nothing taken")


@pytest.mark.parametrize(("items", "kind", "error"), [
    ([0, 1], "io", "ZeroDivisionError: division by zero"),
    ([threading.Lock()], "cpu", "TypeError: cannot pickle '_thread.lock' object"),
])
def test_a_failed_sample_has_no_result(items: list[Any], kind: Any, error: str) -> None:
    taken = sizing.sample_items(lambda part: [1 / x if isinstance(x, int) else x for x in part],
                                items, kind)
    assert (taken.count, taken.value, taken.error) == (0, None, error)


def test_only_the_cpu_kind_ships_the_sample_and_it_ships_as_workers_do() -> None:
    """Threads share the caller's objects (a lock is fine); processes get cloudpickle's."""
    locks = [threading.Lock()]
    threads = sizing.sample_items(list, locks, "io")
    assert threads.error is None and threads.value == locks and threads.value[0] is locks[0]
    lambdas = sizing.sample_items(lambda part: [f() for f in part], [lambda: 1, lambda: 2], "cpu")
    assert (lambdas.value, lambdas.error) == ([1, 2], None)


@given(st.integers(min_value=1, max_value=10**6), workers, st.data())
def test_after_a_sample_the_chunks_cover_the_items_it_left(n: int, workers: int,
                                                           data: st.DataObject) -> None:
    count = data.draw(st.integers(min_value=1, max_value=n))
    chosen = sizing.after(sizing.Sample(count, None, 1e-6), n, workers, "cpu")
    assert chosen.sampled == count
    assert chosen.sampled + (chosen.chunks - 1) * chosen.size < n or chosen.chunks == 0
    assert n <= chosen.sampled + chosen.chunks * chosen.size
    assert chosen.reason.startswith(f"the timed sample ran the first {count}; ")


@given(st.integers(min_value=1, max_value=10**6), workers)
def test_after_a_failed_sample_the_run_takes_every_item(n: int, workers: int) -> None:
    chosen = sizing.after(sizing.Sample(0, None, 0.0, "OSError: gone"), n, workers, "io")
    assert chosen.sampled == 0
    assert (chosen.chunks - 1) * chosen.size < n <= chosen.chunks * chosen.size
    assert chosen.chunks <= sizing.CHUNKS_PER_WORKER * workers
    assert "OSError: gone" in chosen.reason


def test_a_file_sample_maps_the_lines_that_begin_in_its_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sizing, "SAMPLE_BYTES", 7)
    path = tmp_path / "f.txt"
    path.write_bytes(b"aaaa\nbbbb\ncccc\n")
    taken = sizing.sample_file(list, str(path), "cpu")
    assert (taken.count, taken.value, taken.error) == (7, ["aaaa\n", "bbbb\n"], None)
    assert sizing.sample_file(list, str(tmp_path / "missing"), "cpu").error is not None
