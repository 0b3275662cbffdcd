"""The four patterns: each equals its serial computation, flows or splits as the guide says, and
leaves its chunking in the run's record."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from map_reduce import count_words, merge  # examples/patterns/map_reduce.py

from makespan import InputError, Stage, fork_join, map_reduce, parallel_map, pipeline


def square(x: int) -> int:
    return x * x


def inc(x: int) -> int:
    return x + 1


def label(x: int) -> str:
    return f"<{x}>"


def lines_seen(lines: Iterator[str]) -> list[str]:
    return list(lines)


def concatenate(parts: list[list[str]]) -> list[str]:
    return [line for part in parts for line in part]


def record(root: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((root / ".makespan" / "last-run.json").read_text())
    return document


# ---------------------------------------------------------------------------- parallel_map


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_parallel_map_equals_the_serial_map_in_order(kind: Any, tmp_path: Path) -> None:
    items = list(range(1000))
    assert parallel_map(square, items, kind=kind, workers=2, root=tmp_path) == [
        square(x) for x in items]
    chunking = record(tmp_path)["chunking"]
    assert chunking["size"] * chunking["chunks"] >= len(items)
    assert chunking["reason"]
    assert len(record(tmp_path)["tasks"]) == chunking["chunks"]


def test_parallel_map_ships_lambdas_and_closures_to_processes(tmp_path: Path) -> None:
    offset = 7
    assert parallel_map(lambda x: x + offset, range(50), chunk=10, workers=2,
                        root=tmp_path) == [x + 7 for x in range(50)]


def test_a_fixed_chunk_size_is_used_and_recorded(tmp_path: Path) -> None:
    assert parallel_map(inc, range(10), chunk=3, kind="io", root=tmp_path) == list(range(1, 11))
    document = record(tmp_path)
    assert (document["chunking"]["size"], document["chunking"]["chunks"]) == (3, 4)
    assert document["chunking"]["reason"] == "chosen by the caller"
    assert sorted(row["name"] for row in document["tasks"]) == [f"map[{k}]" for k in range(4)]


def test_no_items_give_no_results(tmp_path: Path) -> None:
    assert parallel_map(square, [], kind="io", root=tmp_path) == []


@pytest.mark.parametrize("chunk", [0, -2, 2.5, "big", True])
def test_a_bad_chunk_is_an_input_error(chunk: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        parallel_map(square, range(5), chunk=chunk, root=tmp_path)
    assert caught.value.field == "chunk"


# ---------------------------------------------------------------------------- pipeline


def test_pipeline_equals_the_composed_stages(tmp_path: Path) -> None:
    items = list(range(40))
    result = pipeline(items, inc, Stage(square, kind="io"), label, chunk=7, workers=2,
                      root=tmp_path)
    assert result == [label(square(inc(x))) for x in items]


def test_unordered_stages_give_the_same_results(tmp_path: Path) -> None:
    items = list(range(30))
    result = pipeline(items, Stage(inc, ordered=False), Stage(square, kind="io", ordered=False),
                      chunk=4, workers=2, root=tmp_path)
    assert result == [square(inc(x)) for x in items]


def test_stage_two_starts_before_stage_one_has_finished(tmp_path: Path) -> None:
    """
    stage0[0] -> stage0[1] -> stage0[2] -> stage0[3]      (ordered: one chunk after another)
        |            |            |            |
    stage1[0] -> stage1[1] -> stage1[2] -> stage1[3]

    With two CPU slots, stage1[0] becomes ready with stage0[1] and starts beside it, so it
    starts before stage0[3] (which must wait for stage0[1] and stage0[2]) has ended.
    """
    items = list(range(8))
    result = pipeline(items, Stage(inc), Stage(square), chunk=2, workers=2, root=tmp_path)
    assert result == [square(inc(x)) for x in items]
    document = record(tmp_path)
    rows = {row["name"]: row for row in document["tasks"]}
    assert rows["stage1[0]"]["start"] < rows["stage0[3]"]["end"]
    assert rows["stage1[0]"]["start"] < rows["stage0[2]"]["start"]
    assert rows["stage1[0]"]["slot"] != rows["stage0[1]"]["slot"]
    assert document["chunking"]["size"] == 2 and document["chunking"]["chunks"] == 4


def test_a_pipeline_needs_a_stage(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least one stage"):
        pipeline([1, 2], root=tmp_path)


# ---------------------------------------------------------------------------- map_reduce


def write_text(path: Path, lines: int, seed: int = 1) -> Path:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "épsilon", "ζeta", ""]
    with path.open("w", encoding="utf-8") as f:
        for _ in range(lines):
            f.write(" ".join(rng.choice(words) for _ in range(rng.randrange(0, 9))) + "\n")
    return path


def test_map_reduce_over_items_equals_the_serial_version(tmp_path: Path) -> None:
    items = [f"w{n % 13} w{n % 5}" for n in range(500)]
    result = map_reduce(count_words, merge, items, chunk=37, workers=2, root=tmp_path)
    assert result == count_words(iter(items))
    assert record(tmp_path)["chunking"]["size"] == 37


def test_map_reduce_over_a_file_reads_every_line_once(tmp_path: Path) -> None:
    path = write_text(tmp_path / "words.txt", 2000)
    text = path.read_text(encoding="utf-8")
    expected = count_words(iter(text.splitlines(keepends=True)))
    assert map_reduce(count_words, merge, path, workers=2, root=tmp_path) == expected
    # Small ranges that cut lines anywhere: each line still comes exactly once, in order.
    seen = map_reduce(lines_seen, concatenate, str(path), chunk=101, kind="io", root=tmp_path)
    assert seen == text.splitlines(keepends=True)
    document = record(tmp_path)
    assert document["chunking"]["size"] == 101
    assert len(document["tasks"]) == document["chunking"]["chunks"] + 1  # and the reduce


def test_map_reduce_sizes_file_chunks_itself(tmp_path: Path) -> None:
    path = write_text(tmp_path / "words.txt", 5000, seed=2)
    result = map_reduce(count_words, merge, path, workers=2, root=tmp_path)
    assert result == count_words(iter(path.read_text(encoding="utf-8").splitlines()))
    chunking = record(tmp_path)["chunking"]
    assert chunking["size"] * chunking["chunks"] >= path.stat().st_size
    assert chunking["item_seconds"] > 0


# ---------------------------------------------------------------------------- fork_join


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_fork_join_merges_the_subtasks_in_their_order(kind: Any, tmp_path: Path) -> None:
    subtasks = [(square, 3), (inc, 4), (label, 5), (sum, [1, 2, 3])]
    assert fork_join(subtasks, list, kind=kind, workers=2, root=tmp_path) == [9, 5, "<5>", 6]
    names = [row["name"] for row in record(tmp_path)["tasks"]]
    assert names == ["fork[0]", "fork[1]", "fork[2]", "fork[3]", "join"]


def test_fork_join_takes_plain_callables(tmp_path: Path) -> None:
    assert fork_join([lambda: 1, lambda: 2], sum, kind="io", root=tmp_path) == 3
