"""Lint findings MS101-MS402: for every code a case that must be found and a near miss that must
not, then the filters (`select`, `ignore`, per-task `ignore`) and the `makespan lint` / `run`
command lines.

The library tests build a `TaskGraph` and a `LintContext` by hand with fixed `cores` and
`overhead`, so nothing depends on the machine. The CLI tests write task files whose only
machine-dependent findings (MS202, MS301) cannot fire: `workers = 1`, estimates of seconds.
Graphs are drawn in docstrings, dependencies pointing down or right (`a -> b`: b needs a).
"""

from __future__ import annotations

import json
import re
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from makespan import reach, taskfile
from makespan.cli import main
from makespan.codes import CODES
from makespan.lint import Finding, LintContext, lint
from makespan.model import Task, TaskGraph
from makespan.reach import Reach
from makespan.resources import Resources

GiB = 2**30
MB = 10**6


def context(*tasks: Task, cpu: int = 4, io: int = 12, memory: int = GiB, cores: int = 4,
            overhead: float = 0.01, memory_available: int | None = None,
            io_set: bool = False) -> LintContext:
    graph = TaskGraph.build(tasks)
    return LintContext(graph, graph.estimates(), Resources(cpu, io, memory), cores, overhead,
                       memory_available, io_set)


def found(ctx: LintContext, code: str) -> list[Finding]:
    """The findings of one code (every other check still runs; only the output is filtered)."""
    findings = lint(ctx, select=[code])
    assert {f.code for f in findings} <= {code}
    return findings


def task(name: str, **fields: Any) -> Task:
    fields.setdefault("estimate", 10.0)
    return Task(name, "true", **fields)


def group(name: str, estimates: list[float], **fields: Any) -> list[Task]:
    """The expansion of a `for_each` table: one task per estimate."""
    return [task(f"{name}[{i}]", estimate=e, group=name, **fields)
            for i, e in enumerate(estimates)]


# ---------------------------------------------------------------------------- MS101


@pytest.mark.parametrize(("first", "second"), [
    ("build/out.txt", "build/out.txt"),
    ("./build//out.txt", "build/out.txt"),
    ("build/*.o", "build/main.o"),
    ("build/**", "build/deep/er/x.o"),
    ("data", "data/raw.csv"),  # a directory and a file inside it
    ("reports/[ab]-*.xml", "reports/?-1.xml"),
])
def test_ms101_concurrent_tasks_writing_overlapping_outputs(first, second):
    """a   b   (independent)"""
    ctx = context(task("a", outputs=(first,)), task("b", outputs=(second,)))
    [finding] = found(ctx, "MS101")
    assert finding.tasks == ("a", "b")
    assert finding.field == "outputs"
    assert finding.level == "error"
    assert first.strip("./").replace("//", "/") in finding.message
    assert 'deps = ["a"]' in finding.fix


@pytest.mark.parametrize(("first", "second"), [
    ("build/a/**", "build/b/**"),
    ("build", "build2"),
    ("build/*.o", "build/*.a"),
    ("reports/[ab]-*.xml", "reports/c-*.xml"),
    ("reports/[!c]-1.xml", "reports/c-?.xml"),
    ("x/*/y", "x/z/w"),
])
def test_ms101_near_miss_disjoint_outputs(first, second):
    ctx = context(task("a", outputs=(first,)), task("b", outputs=(second,)))
    assert found(ctx, "MS101") == []


def test_ms101_near_miss_same_output_written_by_tasks_ordered_through_a_chain():
    """a -> m -> b: the same file, but b starts only after a has finished."""
    ctx = context(task("a", outputs=("out.txt",)), task("m", deps=("a",)),
                  task("b", deps=("m",), outputs=("out.txt",)))
    assert found(ctx, "MS101") == []


def test_ms101_near_miss_tasks_sharing_a_lock_never_race():
    ctx = context(task("a", outputs=("out.txt",), locks=("out", "x")),
                  task("b", outputs=("out.txt",), locks=("y", "out")))
    assert found(ctx, "MS101") == []


def test_ms101_different_locks_do_not_order_tasks():
    ctx = context(task("a", outputs=("out.txt",), locks=("x",)),
                  task("b", outputs=("out.txt",), locks=("y",)))
    assert [f.tasks for f in found(ctx, "MS101")] == [("a", "b")]


def test_ms101_one_task_writing_overlapping_outputs_itself_is_not_a_race():
    ctx = context(task("a", outputs=("build", "build/x.o", "build/*.o")))
    assert found(ctx, "MS101") == []


def test_ms101_each_racing_pair_is_reported_once():
    """a   b   c: a overlaps b twice and c once; b and c do not overlap."""
    ctx = context(task("a", outputs=("build/x.o", "build/*.o", "logs/c.log")),
                  task("b", outputs=("build/x.o",)), task("c", outputs=("logs/*.log",)))
    assert sorted(f.tasks for f in found(ctx, "MS101")) == [("a", "b"), ("a", "c")]


# ---------------------------------------------------------------------------- MS102


def test_ms102_a_task_reads_what_a_concurrent_task_writes():
    ctx = context(task("fetch", outputs=("data/raw.csv",)),
                  task("report", inputs=("data/*.csv",)))
    [finding] = found(ctx, "MS102")
    assert finding.tasks == ("report", "fetch")
    assert finding.field == "inputs"
    assert finding.level == "error"
    assert 'deps = ["fetch"]' in finding.fix


def test_ms102_reading_inside_a_written_directory():
    ctx = context(task("clean", outputs=("data",)), task("report", inputs=("data/x/*.csv",)))
    assert [f.tasks for f in found(ctx, "MS102")] == [("report", "clean")]


def test_ms102_near_miss_the_reader_depends_on_the_writer_through_others():
    """fetch -> parse -> report"""
    ctx = context(task("fetch", outputs=("data/raw.csv",)), task("parse", deps=("fetch",)),
                  task("report", deps=("parse",), inputs=("data/*.csv",)))
    assert found(ctx, "MS102") == []


def test_ms102_near_miss_reading_other_files_or_its_own_output():
    ctx = context(task("fetch", outputs=("data/raw.csv",)),
                  task("report", inputs=("data/*.json", "out/*"), outputs=("out/r.txt",)))
    assert found(ctx, "MS102") == []


def test_ms102_near_miss_a_shared_lock():
    ctx = context(task("fetch", outputs=("data/raw.csv",), locks=("data",)),
                  task("report", inputs=("data/*.csv",), locks=("data",)))
    assert found(ctx, "MS102") == []


# ---------------------------------------------------------------------------- MS103


def test_ms103_two_tasks_write_one_database_without_a_lock():
    ctx = context(*group("migrate", [1.0, 1.0], outputs=("app.sqlite",)))
    [finding] = found(ctx, "MS103")
    assert finding.tasks == ("migrate[0]", "migrate[1]")
    assert finding.level == "error"
    assert "locks = " in finding.fix and "app.sqlite" in finding.fix
    assert found(ctx, "MS101") == []  # reported once, as the database it is


def test_ms103_a_database_inside_a_written_directory():
    ctx = context(task("a", outputs=("state/cache.db",)), task("b", outputs=("state",)))
    assert [f.code for f in lint(ctx, select=["MS1"])] == ["MS103"]


@pytest.mark.parametrize("fields", [{"locks": ("db",)}, {}])
def test_ms103_near_miss_a_shared_lock_or_a_dependency(fields):
    """migrate[0] -> migrate[1] (without the lock), or both holding lock `db`."""
    first = task("m0", outputs=("app.sqlite",), **fields)
    second = task("m1", outputs=("app.sqlite",), deps=() if fields else ("m0",), **fields)
    assert lint(context(first, second), select=["MS1"]) == []


def test_ms103_and_ms101_for_a_pair_sharing_a_database_and_a_file():
    for outputs in [("out/x", "app.db"), ("app.db", "out/x")]:
        ctx = context(task("a", outputs=outputs), task("b", outputs=("app.db", "out/x")))
        assert sorted(f.code for f in lint(ctx, select=["MS1"])) == ["MS101", "MS103"]


def test_ms103_near_miss_different_databases_or_an_ordinary_file():
    ctx = context(task("a", outputs=("a.db",)), task("b", outputs=("b.db",)))
    assert lint(ctx, select=["MS1"]) == []
    ctx = context(task("a", outputs=("app.sqlite.log",)), task("b", outputs=("app.sqlite.log",)))
    assert [f.code for f in lint(ctx, select=["MS1"])] == ["MS101"]


# ---------------------------------------------------------------------------- MS201


def test_ms201_one_task_larger_than_the_whole_budget_is_an_error():
    ctx = context(task("huge", memory=2 * GiB), task("small", memory=MB))
    [finding] = found(ctx, "MS201")
    assert finding.level == "error"
    assert finding.tasks == ("huge",)
    assert finding.field == "memory"


def test_ms201_tasks_the_schedule_runs_together_exceed_the_budget():
    """a   b   c: a and b (600 MB each) start together under a 1 GiB budget."""
    ctx = context(task("a", memory=600 * MB), task("b", memory=600 * MB),
                  task("c", memory=10 * MB, deps=("a",)), cpu=2)
    [finding] = found(ctx, "MS201")
    assert finding.level == "warning"
    assert finding.tasks == ("a", "b")
    assert "1.2" in finding.message or "1.1" in finding.message


@pytest.mark.parametrize("kwargs", [{"cpu": 1}, {"cpu": 2, "chain": True}, {"cpu": 2, "mb": 500}])
def test_ms201_near_miss_large_tasks_that_never_run_together(kwargs):
    """One worker, a -> b, or two tasks that fit side by side."""
    mb = kwargs.get("mb", 600)
    ctx = context(task("a", memory=mb * MB),
                  task("b", memory=mb * MB, deps=("a",) if kwargs.get("chain") else ()),
                  cpu=kwargs["cpu"])
    assert found(ctx, "MS201") == []


def test_ms201_a_budget_larger_than_the_machine_has():
    ctx = context(task("a"), memory=8 * GiB, memory_available=4 * GiB)
    [finding] = found(ctx, "MS201")
    assert finding.field == "settings.memory"
    assert finding.level == "warning"
    assert found(context(task("a"), memory=4 * GiB, memory_available=4 * GiB), "MS201") == []


# ---------------------------------------------------------------------------- MS202


def test_ms202_more_cpu_workers_than_cores():
    [finding] = found(context(task("a"), cpu=8, cores=4), "MS202")
    assert finding.field == "settings.workers"
    assert "at most 4" in finding.fix
    assert found(context(task("a"), cpu=4, cores=4), "MS202") == []


def test_ms202_io_workers_far_beyond_the_cores_only_when_set_by_hand():
    [finding] = found(context(task("a"), cpu=4, io=13, cores=4, io_set=True), "MS202")
    assert finding.field == "settings.io_workers"
    assert "at most 12" in finding.fix
    assert found(context(task("a"), cpu=4, io=12, cores=4, io_set=True), "MS202") == []
    assert found(context(task("a"), cpu=4, io=100, cores=4, io_set=False), "MS202") == []


# ---------------------------------------------------------------------------- MS203


@pytest.mark.parametrize(("run", "slots"), [
    ("make -j4 all", 4),
    ("make --jobs=3", 3),
    ("cd src && make -j 16", 8),  # never more than the cores
    ("pytest -n 4 tests", 4),
    ("pytest -n4", 4),
    ("pytest -n auto", 8),
    ("find . -name '*.log' | xargs -n 1 -P 3 gzip", 3),  # -n is a batch size, -P the workers
    ("xargs -P0 gzip < files", 8),  # 0: as many as possible
    ("ls *.png | parallel convert {} {.}.jpg", 8),
    ("cargo build --release", 8),
    (("make", "-j2"), 2),  # an argument vector
])
def test_ms203_a_one_slot_cpu_task_starting_parallel_workers(run, slots):
    ctx = context(Task("build", run, estimate=10.0), cores=8, cpu=8)
    [finding] = found(ctx, "MS203")
    assert finding.tasks == ("build",)
    assert finding.field == "run"
    assert f"slots = {slots}" in finding.fix


@pytest.mark.parametrize("run", [
    "make all", "make -j1", "pytest tests/parallel", "pytest -nfoo", "echo parallel",
    "xargs -n 4 echo", "cmake ..", "python -m test_parallel",
])
def test_ms203_near_miss_serial_commands(run):
    assert found(context(Task("build", run, estimate=10.0), cores=8, cpu=8), "MS203") == []


def test_ms203_near_miss_the_task_has_the_slots_or_is_io():
    ctx = context(Task("a", "make -j4", slots=4, estimate=1.0),
                  Task("b", "xargs -P 4 curl -O", kind="io", estimate=1.0), cores=8, cpu=8)
    assert found(ctx, "MS203") == []


# ---------------------------------------------------------------------------- MS204


def test_ms204_far_more_tiny_tasks_than_slots():
    """100 tasks of 0.1 s for 2 slots: at least 50 per slot."""
    ctx = context(*group("t", [0.1] * 100), cpu=1, io=1)
    [finding] = found(ctx, "MS204")
    assert "100 tasks" in finding.message
    assert finding.tasks == ("t[0]", "t[1]", "t[2]")


@pytest.mark.parametrize(("count", "estimate"), [(99, 0.1), (100, 2.0)])
def test_ms204_near_miss_fewer_tasks_or_larger_ones(count, estimate):
    assert found(context(*group("t", [estimate] * count), cpu=1, io=1), "MS204") == []


# ---------------------------------------------------------------------------- MS301


def test_ms301_estimates_close_to_the_per_task_overhead():
    """Overhead 10 ms: a task estimated at 50 ms spends a fifth of it starting."""
    ctx = context(task("fine", estimate=0.05), task("fine2", estimate=0.0),
                  task("ok", estimate=0.2), overhead=0.01)
    [finding] = found(ctx, "MS301")
    assert finding.tasks == ("fine", "fine2")
    assert finding.field == "estimate"


def test_ms301_near_miss_larger_estimates_or_none_given():
    graph = TaskGraph.build([task("ok", estimate=0.11), Task("unknown", "true")])
    ctx = LintContext(graph, [0.11, 0.001], Resources(4, 12, GiB), 4, 0.01)
    assert found(ctx, "MS301") == []


# ---------------------------------------------------------------------------- MS302


def test_ms302_a_task_past_five_minutes_that_is_most_of_the_critical_path():
    """prep -> compile (10 min) -> pack, with a few short tasks beside it."""
    ctx = context(task("prep", estimate=5.0), task("compile", estimate=600.0, deps=("prep",)),
                  task("pack", estimate=5.0, deps=("compile",)), task("lint", estimate=30.0))
    [finding] = found(ctx, "MS302")
    assert finding.tasks == ("compile",)
    assert "98%" in finding.message  # 600 of 610 s


def test_ms302_near_miss_long_tasks_that_are_not_most_of_the_path():
    """a (10 min) -> b (15 min) -> c (15 min): none is half the path."""
    ctx = context(task("a", estimate=600.0), task("b", estimate=900.0, deps=("a",)),
                  task("c", estimate=900.0, deps=("b",)))
    assert found(ctx, "MS302") == []


def test_ms302_near_miss_the_whole_path_but_inside_the_sweet_spot():
    assert found(context(task("a", estimate=299.0)), "MS302") == []


# ---------------------------------------------------------------------------- MS303


def test_ms303_the_largest_in_a_for_each_is_over_4x_the_median():
    """The group is also stage 1: the task is reported once, for its group."""
    ctx = context(*group("test", [10.0, 10.0, 10.0, 41.0]))
    [finding] = found(ctx, "MS303")
    assert finding.tasks == ("test[3]",)
    assert "for_each 'test'" in finding.message
    assert "4.1x" in finding.message


def test_ms303_the_largest_in_a_stage_is_over_4x_the_median():
    ctx = context(task("a", estimate=1.0), task("b", estimate=1.0), task("c", estimate=5.0))
    [finding] = found(ctx, "MS303")
    assert "stage 1" in finding.message
    assert finding.tasks == ("c",)


def test_ms303_near_miss_exactly_4x_or_uneven_across_stages():
    """a (10 s) -> b, c, d (1 s each): uneven, but never side by side."""
    assert found(context(*group("test", [10.0, 10.0, 10.0, 40.0])), "MS303") == []
    ctx = context(task("a", estimate=10.0), *(task(n, estimate=1.0, deps=("a",)) for n in "bcd"))
    assert found(ctx, "MS303") == []


# ---------------------------------------------------------------------------- MS304


def test_ms304_a_chain_cannot_go_faster_with_more_workers():
    """a -> b -> c"""
    ctx = context(task("a"), task("b", deps=("a",)), task("c", deps=("b",)))
    [finding] = found(ctx, "MS304")
    assert "1.00x" in finding.message
    assert "a → b → c" in finding.message  # the reason: the critical path is all the work


def test_ms304_one_worker_is_given_as_the_reason():
    [finding] = found(context(*(task(n) for n in "abcd"), cpu=1), "MS304")
    assert "one CPU worker" in finding.message


def test_ms304_near_miss_independent_tasks_on_four_workers():
    assert found(context(*(task(n) for n in "abcdefgh"), cpu=4), "MS304") == []


# ---------------------------------------------------------------------------- MS401


def test_ms401_a_dependency_already_implied_by_another():
    """a -> b -> c, and c also lists a."""
    ctx = context(task("a"), task("b", deps=("a",)), task("c", deps=("a", "b")))
    [finding] = found(ctx, "MS401")
    assert finding.tasks == ("c",)
    assert finding.field == "deps"
    assert "remove 'a'" in finding.fix
    assert finding.level == "note"


def test_ms401_a_group_dependency_implied_through_another_task():
    """g[0], g[1] -> z -> c, and c also lists the group g."""
    ctx = context(*group("g", [1.0, 1.0]), task("z", deps=("g",)), task("c", deps=("g", "z")))
    [finding] = found(ctx, "MS401")
    assert "remove 'g'" in finding.fix


def test_ms401_near_miss_independent_dependencies():
    """a   b -> c (c needs both; neither implies the other)."""
    ctx = context(task("a"), task("b"), task("c", deps=("a", "b")))
    assert found(ctx, "MS401") == []


# ---------------------------------------------------------------------------- MS402


def test_ms402_tasks_without_an_estimate():
    ctx = context(Task("a", "true"), task("b"), Task("c", "true"))
    [finding] = found(ctx, "MS402")
    assert finding.tasks == ("a", "c")
    assert finding.level == "note"
    assert found(context(task("a"), task("b", estimate=0.0)), "MS402") == []


# ---------------------------------------------------------------------------- reachability


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), max_size=3), min_size=1, max_size=25))
def test_reach_by_search_agrees_with_bitsets_and_with_a_closure(picks):
    """Task i depends on some earlier tasks; the search used past BITSET_LIMIT tasks and the
    bitsets must both give the transitive closure."""
    tasks = [Task(f"t{i}", "true", deps=tuple(dict.fromkeys(f"t{p % i}" for p in ps)) if i else ())
             for i, ps in enumerate(picks)]
    graph = TaskGraph.build(tasks)
    closure = [set(graph.preds[v]) for v in range(len(graph))]
    for v in graph.order:
        for p in graph.preds[v]:
            closure[v] |= closure[p]
    bitsets = Reach(graph)
    original = reach.BITSET_LIMIT
    reach.BITSET_LIMIT = 0
    try:
        search = Reach(graph)
    finally:
        reach.BITSET_LIMIT = original
    assert bitsets.exact_for_all and not search.exact_for_all
    for u in range(len(graph)):
        for v in range(len(graph)):
            assert bitsets.reaches(u, v) == search.reaches(u, v) == (u in closure[v]), (u, v)


# ---------------------------------------------------------------------------- filters


def test_every_code_is_documented_with_its_severity():
    text = (Path(__file__).parents[1] / "docs" / "lint.md").read_text()
    for code, (severity, _) in CODES.items():
        section = text.split(f"## {code}", 1)
        assert len(section) == 2, code
        assert severity in section[1].split("\n## ", 1)[0].lower(), code


def doc_examples() -> list[tuple[str, str]]:
    """Each code's section in docs/lint.md and the first TOML example in it."""
    text = (Path(__file__).parents[1] / "docs" / "lint.md").read_text()
    sections = re.findall(r"^## (MS\d{3})\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return [(code, body.split("```toml\n", 1)[1].split("```", 1)[0]) for code, body in sections]


def test_the_docs_have_an_example_for_every_code():
    assert [code for code, _ in doc_examples()] == list(CODES)


@pytest.mark.parametrize(("code", "example"), doc_examples(), ids=[c for c, _ in doc_examples()])
def test_each_documented_example_triggers_its_code(code, example):
    """On a fixed machine: 8 cores, 5 ms per-task overhead, 16 GiB available."""
    settings_and_graph = taskfile.parse(tomllib.loads(example), Path("makespan.toml"))
    settings, graph = settings_and_graph.settings, settings_and_graph.graph
    cpu = settings.workers or 8
    resources = Resources(cpu, settings.io_workers or 3 * cpu, settings.memory or 16 * GiB)
    ctx = LintContext(graph, graph.estimates(settings.default_estimate), resources, 8, 0.005,
                      16 * GiB if settings.memory else None, settings.io_workers is not None)
    assert code in {f.code for f in lint(ctx)}


def test_a_task_that_ignores_a_code_silences_findings_naming_it():
    racing = context(task("a", outputs=("out.txt",), ignore=("MS101",)),
                     task("b", outputs=("out.txt",)))
    assert found(racing, "MS101") == []
    uneven = context(*group("t", [1.0, 1.0, 1.0, 1.0]), task("big", estimate=10.0,
                                                            ignore=("MS303",)))
    assert found(uneven, "MS303") == []
    other_code = context(task("a", outputs=("out.txt",), ignore=("MS303",)),
                         task("b", outputs=("out.txt",)))
    assert len(found(other_code, "MS101")) == 1


def test_a_task_ignoring_a_listing_finding_does_not_hide_the_other_tasks():
    ctx = context(Task("a", "true", ignore=("MS402",)), Task("b", "true"),
                  task("x", estimate=0.001, ignore=("MS301",)), task("y", estimate=0.001))
    assert [f.tasks for f in found(ctx, "MS402")] == [("b",)]
    assert [f.tasks for f in found(ctx, "MS301")] == [("y",)]


def test_select_and_ignore_take_codes_and_prefixes():
    """a -> b -> c with c listing a again (MS401), a race (MS101), no estimate (MS402)."""
    ctx = context(task("a", outputs=("o",)), task("b", deps=("a",)),
                  task("c", deps=("a", "b")), Task("d", "true", outputs=("o",)), cpu=1)
    every = {f.code for f in lint(ctx)}
    assert {"MS101", "MS401", "MS402", "MS304"} <= every
    assert {f.code for f in lint(ctx, select=["MS4"])} == {"MS401", "MS402"}
    assert {f.code for f in lint(ctx, select=["MS101", "MS402"])} == {"MS101", "MS402"}
    assert {f.code for f in lint(ctx, ignore=["MS4", "MS304"])} == every - {
        "MS401", "MS402", "MS304"}
    assert lint(ctx, select=["MS4"], ignore=["MS40"]) == []


# ---------------------------------------------------------------------------- command line


def write(directory: Path, text: str) -> Path:
    path = directory / "makespan.toml"
    path.write_text(textwrap.dedent(text))
    return path


RACE = """
    [settings]
    workers = 1

    [tasks.a]
    run = "touch ran-a"
    estimate = "2s"
    outputs = ["out.txt"]

    [tasks.b]
    run = "touch ran-b"
    estimate = "2s"
    outputs = ["out.txt"]
"""

WARNINGS_ONLY = """
    [settings]
    workers = 1

    [tasks.a]
    run = "touch ran-a"
    estimate = "2s"
    outputs = ["out.txt"]

    [tasks.b]
    run = "true"
"""
# one worker: MS304 (warning); b has no estimate: MS402 (note)


def lint_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["lint", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_lint_exits_1_when_an_error_remains(tmp_path, capsys):
    assert main(["lint", str(write(tmp_path, RACE))]) == 1
    out = capsys.readouterr().out
    assert "MS101 error" in out
    assert "fix:" in out


def test_lint_exits_0_with_warnings_and_notes_only(tmp_path, capsys):
    code, findings = lint_json(capsys, str(write(tmp_path, WARNINGS_ONLY)))
    assert code == 0
    assert {f["code"]: f["severity"] for f in findings} == {"MS304": "warning", "MS402": "note"}


def test_lint_json_shape(tmp_path, capsys):
    code, findings = lint_json(capsys, str(write(tmp_path, RACE)))
    assert code == 1
    [race] = [f for f in findings if f["code"] == "MS101"]
    assert set(race) == {"code", "severity", "message", "why", "fix", "tasks", "field"}
    assert race["severity"] == "error"
    assert race["tasks"] == ["a", "b"]
    assert race["field"] == "outputs"
    assert all(isinstance(race[k], str) and race[k] for k in ("message", "why", "fix"))


def test_lint_select_and_ignore_on_the_command_line(tmp_path, capsys):
    path = str(write(tmp_path, RACE))
    code, findings = lint_json(capsys, path, "--select", "ms1")
    assert (code, [f["code"] for f in findings]) == (1, ["MS101"])
    code, findings = lint_json(capsys, path, "--ignore", "MS101,MS3")
    assert code == 0
    assert not any(f["code"] == "MS101" or f["code"].startswith("MS3") for f in findings)


@pytest.mark.parametrize("option", ["--select", "--ignore"])
def test_lint_unknown_code_is_bad_usage(tmp_path, capsys, option):
    assert main(["lint", str(write(tmp_path, RACE)), option, "MS101,MS999"]) == 2
    assert "unknown lint code 'MS999'" in capsys.readouterr().err


def test_per_task_ignore_and_shared_locks_in_a_task_file(tmp_path, capsys):
    ignored = RACE.replace('outputs = ["out.txt"]\n\n    [tasks.b]',
                           'outputs = ["out.txt"]\n    ignore = ["MS101"]\n\n    [tasks.b]')
    code, findings = lint_json(capsys, str(write(tmp_path, ignored)))
    assert code == 0
    assert "MS101" not in [f["code"] for f in findings]
    locked = RACE.replace('outputs = ["out.txt"]', 'outputs = ["out.txt"]\n    locks = ["out"]')
    code, findings = lint_json(capsys, str(write(tmp_path, locked)))
    assert code == 0
    assert "MS101" not in [f["code"] for f in findings]


def test_run_refuses_to_start_when_lint_finds_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(write(tmp_path, RACE))]) == 1
    out = capsys.readouterr().out
    assert "MS101" in out and "--no-lint" in out
    assert not (tmp_path / "ran-a").exists()
    assert not (tmp_path / "ran-b").exists()
    assert not (tmp_path / ".makespan").exists()


def test_run_with_no_lint_runs_and_keeps_the_findings_in_the_record(tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(write(tmp_path, RACE)), "--no-lint"]) == 0
    assert (tmp_path / "ran-a").exists() and (tmp_path / "ran-b").exists()
    record = json.loads((tmp_path / ".makespan" / "last-run.json").read_text())
    [race] = [f for f in record["findings"] if f["code"] == "MS101"]
    assert race["severity"] == "error"
    assert race["tasks"] == ["a", "b"]


def test_run_prints_warnings_runs_and_records_them(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(write(tmp_path, WARNINGS_ONLY))]) == 0
    assert "MS304 warning" in capsys.readouterr().out
    assert (tmp_path / "ran-a").exists()
    record = json.loads((tmp_path / ".makespan" / "last-run.json").read_text())
    assert {f["code"]: f["severity"] for f in record["findings"]} == {
        "MS304": "warning", "MS402": "note"}
