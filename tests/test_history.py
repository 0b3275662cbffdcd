"""History: the SQLite store of past runs, learned estimates, and how plan and run use them."""

import json
import multiprocessing
import sqlite3
import subprocess
import sys

import pytest

from makespan import history
from makespan.cli import main
from makespan.history import DATABASE, History, Learned, Result, choose, command_key
from makespan.model import Task, TaskGraph
from run_helpers import read_run, wait_for, write_tasks

q = json.dumps


def result(name, duration, status="ok", peak=None, command="c1", run_id="r"):
    return Result(name, command, run_id, 0.0, status, duration, peak, 1)


@pytest.fixture
def db(tmp_path):
    return tmp_path / ".makespan" / "history.sqlite"


# ---------------------------------------------------------------- the store


def test_round_trip_keeps_every_field_newest_first(db):
    with History.open(db) as h:
        h.add("run-1", [Result("a", "c1", "run-1", 10.0, "ok", 1.5, 300, 1)])
        h.add("run-2", [Result("a", "c1", "run-2", 20.0, "failed", 0.2, None, 2)])
    with History.open(db) as h:
        assert h.results("a") == [Result("a", "c1", "run-2", 20.0, "failed", 0.2, None, 2),
                                  Result("a", "c1", "run-1", 10.0, "ok", 1.5, 300, 1)]
        [summary] = h.summaries()
    assert (summary.name, summary.runs, summary.ok, summary.last_status) == ("a", 2, 1, "failed")
    assert summary.learned == Learned(1, 1.5, 300)
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_learned_duration_is_the_median_of_recent_successes(db):
    # Two old runs of 100 s fall out of the last RECENT; a failure and an outlier barely count.
    durations = [100.0, 100.0, *range(1, history.RECENT), 50.0]
    with History.open(db) as h:
        h.add("r", [result("a", d, peak=int(d) * 10) for d in durations])
        h.add("r2", [result("a", 999.0, status="failed", peak=10**9)])
        learned = h.learned([("a", "c1"), ("missing", "c1"), ("a", "other-command")])
    assert history.RECENT == 10  # the last ten successes: 1, 2, ..., 9 and 50
    assert list(learned) == [("a", "c1")]
    assert learned["a", "c1"] == Learned(runs=10, duration=5.5, peak_rss=500)


def test_each_task_keeps_its_newest_rows_and_never_twice_as_many(db):
    keep, counts = history.KEEP, []
    with History.open(db) as h:
        for k in range(3 * keep):
            h.add(f"run-{k}", [result("a", float(k)), result("b", float(k))])
            counts.append(len(h.results("a")))
        kept = [r.duration for r in h.results("a")]
    assert max(counts) <= 2 * keep - 1
    assert min(counts[2 * keep:]) == keep  # pruned at least once in the last KEEP runs
    assert kept == [float(k) for k in reversed(range(3 * keep - len(kept), 3 * keep))]


def test_the_key_changes_with_the_command_its_directory_and_environment():
    base = Task("t", run="make all")
    keys = {command_key(t) for t in (
        base, Task("t", run="make test"), Task("t", run=("make", "all")),
        Task("t", run="make all", cwd="sub"), Task("t", run="make all", env=(("X", "1"),)),
    )}  # fmt: skip
    assert len(keys) == 5
    assert command_key(Task("t", run="make all", estimate=9.0, memory=5)) == command_key(base)


# ---------------------------------------------------------------- estimate selection


def test_choose_prefers_history_then_the_file_then_the_default():
    graph = TaskGraph.build([
        Task("learned", run="x", estimate=10.0, memory=100),
        Task("filed", run="x", estimate=2.0, memory=50),
        Task("bare", run="x"),
        Task("huge", run="x", estimate=1.0),
        Task("no-peak", run="x", memory=7),
    ])  # fmt: skip
    known = {
        ("learned", command_key(graph.tasks[0])): Learned(3, 4.0, 80),
        ("huge", command_key(graph.tasks[3])): Learned(1, 5.0, 10**12),
        ("no-peak", command_key(graph.tasks[4])): Learned(1, 0.5, None),
        ("filed", "another command"): Learned(1, 99.0, 99),
    }
    chosen = choose(graph, 1.5, known, memory_budget=1000)
    assert chosen.durations == (4.0, 2.0, 1.5, 5.0, 0.5)
    assert chosen.duration_source == ("history", "file", "default", "history", "history")
    assert [t.memory for t in chosen.graph.tasks] == [80, 50, None, 1000, 7]
    assert chosen.memory_source == ("history", "file", None, "history", "file")
    assert chosen.graph.preds == graph.preds and chosen.graph.order == graph.order
    assert chosen.counts() == {"duration": {"history": 3, "file": 1, "default": 1},
                               "memory": {"history": 2, "file": 2}}


# ---------------------------------------------------------------- through the CLI

WRONG_ESTIMATES = """
    [settings]
    workers = 2
    memory = "1GiB"
    [tasks.quick]
    run = "true"
    estimate = "30s"
    [tasks.after]
    run = ["true"]
    deps = ["quick"]
    estimate = "20s"
"""


def plan_json(capsys, *args):
    assert main(["plan", "--optimize", "0", "--json", *args]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


def test_a_run_teaches_the_next_plan_and_no_history_ignores_it(tmp_path, capsys):
    path = write_tasks(tmp_path, WRONG_ESTIMATES)
    before, _ = plan_json(capsys, str(path))
    assert before["estimates"]["counts"]["duration"] == {"file": 2}
    assert main(["run", str(path), "--optimize", "0", "-q"]) == 0
    record = read_run(tmp_path)
    capsys.readouterr()

    after, err = plan_json(capsys, str(path))
    assert err == ""
    learned = after["estimates"]["tasks"]["quick"]
    assert learned["duration_source"] == "history"
    took = record["tasks"]["quick"]["end"] - record["tasks"]["quick"]["start"]
    assert learned["duration"] == pytest.approx(took)
    assert after["work"] < before["work"] / 10
    ignored, _ = plan_json(capsys, str(path), "--no-history")
    assert ignored["work"] == before["work"]

    assert main(["plan", str(path), "--optimize", "0"]) == 0
    assert "2 learned from history" in capsys.readouterr().out


def test_the_second_run_predicts_with_what_the_first_one_measured(tmp_path, capsys):
    path = write_tasks(tmp_path, WRONG_ESTIMATES)
    assert main(["run", str(path), "--optimize", "0", "-q"]) == 0
    first = read_run(tmp_path)
    assert first["predicted"]["makespan"] == 50.0
    assert main(["run", str(path), "--optimize", "0", "-q"]) == 0
    second = read_run(tmp_path)
    assert second["estimates"]["duration"] == {"history": 2}
    learned = sum(row["end"] - row["start"] for row in first["tasks"].values())
    assert second["predicted"]["makespan"] == pytest.approx(learned)
    with History.open(tmp_path / DATABASE) as h:
        assert [r.run_id for r in h.results("quick")] == [second["id"], first["id"]]


def test_no_history_neither_reads_nor_writes_it(tmp_path, capsys):
    path = write_tasks(tmp_path, WRONG_ESTIMATES)
    assert main(["run", str(path), "--optimize", "0", "-q", "--no-history"]) == 0
    assert not (tmp_path / DATABASE).exists()


def test_history_command_lists_tasks_and_one_tasks_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["history"]) == 0
    assert "No history yet" in capsys.readouterr().out
    path = write_tasks(tmp_path, WRONG_ESTIMATES)
    for _ in range(2):
        assert main(["run", str(path), "--optimize", "0", "-q"]) == 0
    run_id = read_run(tmp_path)["id"]
    capsys.readouterr()
    assert main(["history"]) == 0
    listing = capsys.readouterr().out
    assert "quick" in listing and "after" in listing and "2/2" in listing
    assert main(["history", "quick"]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["history", "nothing-by-this-name"]) == 0
    assert "No history for 'nothing-by-this-name'" in capsys.readouterr().out


# ---------------------------------------------------------------- damaged or busy databases


def test_a_corrupt_database_is_a_warning_and_the_run_still_happens(tmp_path, capsys):
    path = write_tasks(tmp_path, WRONG_ESTIMATES)
    (tmp_path / ".makespan").mkdir()
    (tmp_path / DATABASE).write_bytes(b"this is not a database" * 100)

    plan, err = plan_json(capsys, str(path))
    assert plan["estimates"]["counts"]["duration"] == {"file": 2}
    assert "warning" in err and "history.sqlite" in err and "delete it" in err

    assert main(["run", str(path), "--optimize", "0", "-q"]) == 0
    _, err = capsys.readouterr()
    assert "not added to the history" in err
    assert read_run(tmp_path)["status"] == "ok"

    assert main(["history", "--db", str(tmp_path / DATABASE)]) == 1
    assert "cannot be used" in capsys.readouterr().err


def test_a_database_locked_by_another_writer_is_a_warning(tmp_path, capsys, monkeypatch):
    path = write_tasks(tmp_path, WRONG_ESTIMATES)
    assert main(["run", str(path), "--optimize", "0", "-q"]) == 0
    monkeypatch.setattr(history, "BUSY_TIMEOUT", 0.1)
    other = sqlite3.connect(tmp_path / DATABASE, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another run in the middle of its write
    try:
        capsys.readouterr()
        assert main(["run", str(path), "--optimize", "0", "-q"]) == 0
        _, err = capsys.readouterr()
        assert "is locked" in err and "not added to the history" in err
        assert read_run(tmp_path)["status"] == "ok"
        learned, err = plan_json(capsys, str(path))  # readers are not blocked in WAL mode
        assert learned["estimates"]["counts"]["duration"] == {"history": 2}
    finally:
        other.execute("ROLLBACK")
        other.close()


def _write_many(path, name, rows, barrier):
    barrier.wait()
    with History.open(path) as h:
        for k in range(rows):
            h.add(f"{name}-{k}", [Result(f"{name}-{k}", "c", name, 0.0, "ok", 1.0, None, 1)])


def test_two_runs_writing_at_once_both_keep_every_row(db):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    writers = [context.Process(target=_write_many, args=(db, name, 200, barrier))
               for name in ("first", "second")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert [w.exitcode for w in writers] == [0, 0]
    with History.open(db) as h:
        names = {s.name for s in h.summaries()}
    assert names == {f"{n}-{k}" for n in ("first", "second") for k in range(200)}


def test_two_cli_runs_that_finish_together_both_reach_the_history(tmp_path):
    """Each run's only task waits for the other's to start, so both end at the same moment."""
    for name, other in (("one", "two"), ("two", "one")):
        (tmp_path / name).mkdir()
        write_tasks(tmp_path / name, f"""
            [settings]
            memory = "1GiB"
            [tasks.meet]
            run = {q(f"touch ../{name}.started; " + wait_for(f"../{other}.started"))}
        """)
    # Both projects share one history database: the first's, by a symlink from the second.
    (tmp_path / "one" / ".makespan").mkdir()
    (tmp_path / "two" / ".makespan").symlink_to(tmp_path / "one" / ".makespan")
    runs = [subprocess.Popen([sys.executable, "-m", "makespan", "run", "--optimize", "0", "-q"],
                             cwd=tmp_path / name, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for name in ("one", "two")]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all(b"warning" not in err for _, err in outputs)
    with History.open(tmp_path / "one" / DATABASE) as h:
        assert len(h.results("meet")) == 2
