"""The four patterns: each equals its serial computation, flows or splits as the guide says, and
leaves its chunking in the run's record."""

from __future__ import annotations

import collections
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from map_reduce import count_words, merge  # examples/patterns/map_reduce.py

from makespan import (
    Graph,
    InputError,
    Stage,
    TaskFailed,
    fork_join,
    map_reduce,
    parallel_map,
    pipeline,
    sizing,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "patterns"


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


def fail_on_zero(x: int) -> float:
    return 1 / x


def new_lock(_: Any) -> Any:
    return threading.Lock()


def identity(x: Any) -> Any:
    return x


def call(f: Callable[[], Any]) -> Any:
    return f()


@dataclass(frozen=True)
class Logged:
    """`[x]`, appending `repr(x)` to `log` at each call: a one-line append is atomic, so threads
    and worker processes may share the log, and it counts the calls wherever they ran."""

    log: Path

    def __call__(self, x: Any) -> list[Any]:
        with self.log.open("a", encoding="utf-8") as f:
            f.write(f"{x!r}\n")
        return [x]


@dataclass(frozen=True)
class LoggedWords:
    """A word-count mapper that logs each item (or line) it takes, as `Logged` does."""

    log: Path

    def __call__(self, lines: Iterator[str]) -> collections.Counter[str]:
        with self.log.open("a", encoding="utf-8") as f:
            taken = [line for line in lines if f.write(f"{line!r}\n")]
        return count_words(iter(taken))


def calls(log: Path) -> collections.Counter[str]:
    """How many times each item was logged."""
    return collections.Counter(log.read_text(encoding="utf-8").splitlines())


def once_each(items: list[Any]) -> collections.Counter[str]:
    return collections.Counter(repr(x) for x in items)


SAMPLE_ITEMS, SAMPLE_BYTES = 7, 2000


@pytest.fixture
def small_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small sample: the rest run as tasks, so both parts of an "auto" run are exercised
    whatever the machine's speed."""
    monkeypatch.setattr(sizing, "SAMPLE_MAX", SAMPLE_ITEMS)
    monkeypatch.setattr(sizing, "SAMPLE_BYTES", SAMPLE_BYTES)


def assert_sample_and_tasks(root: Path, total: int, most: int = SAMPLE_ITEMS) -> None:
    """The run's record: the first items (at most `most`) done by the sample, the rest by its
    chunk tasks."""
    chunking = record(root)["chunking"]
    assert 1 <= chunking["sampled"] <= most and chunking["chunks"] >= 1
    assert chunking["sampled"] + chunking["size"] * (chunking["chunks"] - 1) < total
    assert total <= chunking["sampled"] + chunking["size"] * chunking["chunks"]


# ---------------------------------------------------------------------------- parallel_map


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_parallel_map_equals_the_serial_map_in_order(kind: Any, tmp_path: Path) -> None:
    items = list(range(1000))
    assert parallel_map(square, items, kind=kind, workers=2, root=tmp_path) == [
        square(x) for x in items]
    chunking = record(tmp_path)["chunking"]
    assert chunking["sampled"] + chunking["size"] * chunking["chunks"] >= len(items)
    assert chunking["reason"]
    assert len(record(tmp_path)["tasks"]) == chunking["chunks"]


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_auto_chunking_calls_fn_once_per_item(kind: Any, tmp_path: Path,
                                              small_sample: None) -> None:
    """The timed sample's results are part of the answer: its items are not run again."""
    items = list(range(200))
    log = tmp_path / "calls.log"
    assert parallel_map(Logged(log), items, kind=kind, workers=2, root=tmp_path) == [
        [x] for x in items]
    assert calls(log) == once_each(items)
    assert_sample_and_tasks(tmp_path, len(items))


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


def test_the_io_kind_never_pickles(tmp_path: Path) -> None:
    """Threads share the caller's objects: locks go in and come out, the very same ones."""
    locks = parallel_map(new_lock, range(10), kind="io", root=tmp_path)
    assert len(locks) == 10 and all(isinstance(lock, type(threading.Lock())) for lock in locks)
    assert all(out is lock for out, lock in zip(parallel_map(identity, locks, kind="io",
                                                             root=tmp_path), locks, strict=True))


def test_the_cpu_kind_ships_lambdas_as_items(tmp_path: Path) -> None:
    assert parallel_map(call, [lambda: 1, lambda: 2], workers=2, root=tmp_path) == [1, 2]


@pytest.mark.parametrize(("fn", "items", "why"), [
    (identity, [threading.Lock()], "cannot ship task 'map[0]'"),
    (new_lock, range(3), "cannot be sent back"),
])
def test_what_cannot_cross_to_a_process_fails_as_a_task(
        fn: Callable[[Any], Any], items: Any, why: str, tmp_path: Path) -> None:
    with pytest.raises(TaskFailed, match=re.escape(why)):
        parallel_map(fn, items, workers=2, root=tmp_path)
    assert record(tmp_path)["status"] == "failed"


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


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_auto_chunking_runs_each_stage_once_per_item(kind: Any, tmp_path: Path,
                                                     small_sample: None) -> None:
    items = list(range(120))
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    result = pipeline(items, Stage(Logged(first), kind=kind), Logged(second), workers=2,
                      root=tmp_path)
    assert result == [[[x]] for x in items]
    assert calls(first) == once_each(items)
    assert calls(second) == once_each([[x] for x in items])
    assert_sample_and_tasks(tmp_path, len(items))


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


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_auto_chunking_maps_each_item_once(kind: Any, tmp_path: Path, small_sample: None) -> None:
    items = [f"w{n % 13} w{n % 5} n{n}" for n in range(300)]
    log = tmp_path / "calls.log"
    result = map_reduce(LoggedWords(log), merge, items, kind=kind, workers=2, root=tmp_path)
    assert result == count_words(iter(items))
    assert calls(log) == once_each(items)
    assert_sample_and_tasks(tmp_path, len(items))


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_auto_chunking_maps_each_line_of_a_file_once(kind: Any, tmp_path: Path,
                                                     small_sample: None) -> None:
    """The sampled bytes' mapper output is the first part; the ranges start after them."""
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {n} of {n % 7}\n" for n in range(3000)), encoding="utf-8")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    log = tmp_path / "calls.log"
    result = map_reduce(LoggedWords(log), merge, path, kind=kind, workers=2, root=tmp_path)
    assert result == count_words(iter(lines))
    assert calls(log) == once_each(lines)
    assert_sample_and_tasks(tmp_path, path.stat().st_size, SAMPLE_BYTES)


def test_map_reduce_sizes_file_chunks_itself(tmp_path: Path) -> None:
    path = write_text(tmp_path / "words.txt", 5000, seed=2)
    result = map_reduce(count_words, merge, path, workers=2, root=tmp_path)
    assert result == count_words(iter(path.read_text(encoding="utf-8").splitlines()))
    chunking = record(tmp_path)["chunking"]
    assert chunking["sampled"] + chunking["size"] * chunking["chunks"] >= path.stat().st_size
    assert chunking["item_seconds"] > 0


def test_the_example_leaves_no_file_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run([sys.executable, str(EXAMPLES / "map_reduce.py")], cwd=tmp_path,
                          env={**os.environ, "TMPDIR": str(scratch)}, capture_output=True,
                          text=True, check=True)
    assert "('the'," in done.stdout
    assert list(scratch.iterdir()) == []


# ---------------------------------------------------------------------------- fork_join


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_fork_join_merges_the_subtasks_in_their_order(kind: Any, tmp_path: Path) -> None:
    subtasks = [(square, 3), (inc, 4), (label, 5), (sum, [1, 2, 3])]
    assert fork_join(subtasks, list, kind=kind, workers=2, root=tmp_path) == [9, 5, "<5>", 6]
    names = [row["name"] for row in record(tmp_path)["tasks"]]
    assert names == ["fork[0]", "fork[1]", "fork[2]", "fork[3]", "join"]


def test_fork_join_takes_plain_callables(tmp_path: Path) -> None:
    assert fork_join([lambda: 1, lambda: 2], sum, kind="io", root=tmp_path) == 3


# ---------------------------------------------------------------------------- every pattern


def failing_patterns(kind: Any) -> dict[str, Callable[[Path], Any]]:
    """Each pattern over items whose first one makes the function raise."""
    def lines(root: Path) -> Path:
        path = root / "numbers.txt"
        path.write_text("".join(f"{n}\n" for n in range(40)), encoding="utf-8")
        return path

    def map_lines(lines: Iterator[str]) -> list[float]:
        return [fail_on_zero(int(line)) for line in lines]

    return {
        "parallel_map": lambda root: parallel_map(fail_on_zero, range(40), kind=kind,
                                                  workers=2, root=root),
        "pipeline": lambda root: pipeline(range(40), Stage(fail_on_zero, kind=kind), inc,
                                          workers=2, root=root),
        "map_reduce": lambda root: map_reduce(map_lines, list, [str(n) for n in range(40)],
                                              kind=kind, workers=2, root=root),
        "map_reduce over a file": lambda root: map_reduce(map_lines, list, lines(root),
                                                          kind=kind, workers=2, root=root),
    }


@pytest.mark.parametrize("kind", ["io", "cpu"])
@pytest.mark.parametrize("pattern", list(failing_patterns("io")))
def test_a_failure_in_the_sample_fails_the_run_with_its_record(
        pattern: str, kind: Any, tmp_path: Path) -> None:
    """As with a chunk size given: the run reports it as its task's failure, and records it."""
    with pytest.raises(TaskFailed) as caught:
        failing_patterns(kind)[pattern](tmp_path)
    assert caught.value.kind == "ZeroDivisionError"
    document = record(tmp_path)
    assert document["status"] == "failed"
    assert caught.value.task in [row["name"] for row in document["tasks"]
                                 if row["status"] == "failed"]
    assert "ZeroDivisionError" in document["chunking"]["reason"]


NESTED: dict[str, Callable[[Logged], Any]] = {
    "parallel_map()": lambda fn: parallel_map(fn, range(5)),
    "pipeline()": lambda fn: pipeline(range(5), fn),
    "map_reduce()": lambda fn: map_reduce(fn, list, range(5)),
    "fork_join()": lambda fn: fork_join([(fn, 1)], list),
}


@pytest.mark.parametrize("pattern", list(NESTED))
def test_a_pattern_inside_a_task_refuses_before_running_anything(
        pattern: str, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    graph = Graph()
    graph.add(NESTED[pattern], Logged(log), kind="io", name="outer")
    with pytest.raises(TaskFailed, match=re.escape(f"{pattern} was called inside task 'outer'")):
        graph.run(root=tmp_path)
    assert not log.exists()


BAD_SETTINGS = [({"workers": 0}, "workers"), ({"io_workers": -1}, "io_workers"),
                ({"memory": -5}, "memory"), ({"kind": "gpu"}, "kind"), ({"chunk": 0}, "chunk")]


@pytest.mark.parametrize(("pattern", "settings", "field"), [
    (pattern, settings, field)
    for pattern in ("parallel_map", "pipeline", "map_reduce", "fork_join")
    for settings, field in BAD_SETTINGS
    if not (pattern == "fork_join" and field == "chunk")  # fork_join takes no chunk
])
def test_bad_settings_are_refused_before_the_function_runs(
        pattern: str, settings: dict[str, Any], field: str, tmp_path: Path) -> None:
    """The sample of chunk="auto" runs the user's function in the caller: bad settings must be
    refused before it, so that on bad input nothing runs."""
    calls: list[int] = []

    def note(x: int) -> int:
        calls.append(x)
        return x

    options = {"root": tmp_path, **settings}
    kind = options.pop("kind", "io")
    with pytest.raises(InputError) as caught:
        if pattern == "parallel_map":
            parallel_map(note, [1, 2, 3], kind=kind, **options)
        elif pattern == "pipeline":
            pipeline([1, 2, 3], Stage(note, kind=kind), **options)
        elif pattern == "map_reduce":
            map_reduce(lambda items: [note(x) for x in items], sum, [1, 2, 3], kind=kind,
                       **options)
        else:
            fork_join([(note, 1), (note, 2)], sum, kind=kind, **options)
    assert caught.value.field == field
    assert calls == []
    assert not (tmp_path / ".makespan").exists()


def napping_abs(x: int) -> int:
    time.sleep(0.001)  # the item's own duration
    return abs(x)


def test_auto_chunks_carry_the_sampled_time_as_their_estimate(tmp_path: Path) -> None:
    """The run's order and prediction use what the sample measured, not the 1 s default."""
    items = list(range(200))
    parallel_map(napping_abs, items, kind="io", workers=2, root=tmp_path)
    record = json.loads((tmp_path / ".makespan" / "last-run.json").read_text())
    chunking, predicted = record["chunking"], record["predicted"]["duration"]
    assert chunking["item_seconds"] > 0
    sizes = [min(chunking["size"], len(items) - start)
             for start in range(chunking["sampled"], len(items), chunking["size"])]
    assert sizes  # the sample (about 20 ms) left chunks to run
    assert [predicted[f"map[{k}]"] for k in range(1, len(sizes) + 1)] == pytest.approx(
        [chunking["item_seconds"] * size for size in sizes])
