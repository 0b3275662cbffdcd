"""`makespan run`, in-process through `makespan.cli.main`, with real subprocesses throughout.

Tasks that must overlap wait for each other's marker files (bounded) instead of trusting timing;
tasks that must be stopped record their PIDs (and their grandchild's) so the tests can check
with psutil that nothing they started is left running.
"""

import itertools
import json
import signal
import subprocess
import sys

import pytest

from makespan.cli import main
from makespan.record import write_record
from run_helpers import (
    alive_after,
    assert_no_process_left,
    events,
    idle_on_purpose_tasks,
    kill_leftovers,
    read_run,
    tree,
    wait_for,
    write_tasks,
)

q = json.dumps  # a TOML basic string holding any shell script


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path
    kill_leftovers(tmp_path)


def run(capsys, *args):
    code = main(["run", "--optimize", "0", *args])
    out, err = capsys.readouterr()
    return code, out, err


SETTINGS = """
    [settings]
    workers = {workers}
    io_workers = 2
    memory = "{memory}"
"""


def tasks(project, body, workers=2, memory="1GiB"):
    write_tasks(project, SETTINGS.format(workers=workers, memory=memory) + body)


# ---------------------------------------------------------------- success


def test_a_successful_run_exits_0_and_records_every_task(project, capsys):
    tasks(project, f"""
        [tasks.a]
        run = {q("echo made-by-a; touch a.done")}
        [tasks.b]
        run = "test -e a.done"
        deps = ["a"]
        [tasks.c]
        run = ["echo", "c-ran"]
    """)
    code, out, _ = run(capsys)
    assert code == 0
    record = read_run(project)
    assert record["status"] == "ok"
    rows = record["tasks"]
    assert {row["status"] for row in rows.values()} == {"ok"}
    assert all(row["exit_code"] == 0 and row["attempts"] == 1 for row in rows.values())
    assert rows["b"]["start"] >= rows["a"]["end"]
    assert {row["slot"] for row in rows.values()} <= {"cpu-0", "cpu-1"}
    assert record["metrics"]["work"] > 0
    assert "made-by-a" in out and "Run " in out


def test_each_task_log_holds_its_stdout_and_stderr_in_order(project, capsys):
    tasks(project, f"""
        [tasks.mixed]
        run = {q("echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2")}
    """)
    assert run(capsys)[0] == 0
    record = read_run(project)
    log = project / ".makespan" / "runs" / record["id"] / "logs" / "mixed.log"
    assert log.read_text() == "out-1\nerr-1\nout-2\nerr-2\n"


# ---------------------------------------------------------------- failures


def test_fail_fast_starts_nothing_new_and_stops_running_trees(project, capsys):
    # broken fails once long is running; later (ready, lower priority) must never start.
    tasks(project, f"""
        [tasks.broken]
        run = {q(wait_for("long.started") + "; echo 'boom: disk full'; exit 3")}
        estimate = "10s"
        [tasks.long]
        run = ["sh", "-c", {q(tree("long"))}]
        estimate = "10s"
        [tasks.later]
        run = "touch later.ran"
        estimate = "1s"
    """)
    code, out, _ = run(capsys)
    assert code == 1
    record = read_run(project)
    rows = record["tasks"]
    assert record["status"] == "failed"
    assert (rows["broken"]["status"], rows["broken"]["exit_code"]) == ("failed", 3)
    assert rows["long"]["status"] == "cancelled"
    assert rows["later"]["status"] == "skipped"
    assert "broken" in rows["later"]["reason"]
    assert not (project / "later.ran").exists()
    assert_no_process_left(project, "long")
    assert "failed: broken" in out
    assert "| boom: disk full" in out  # the tail of its log, in the summary


def test_keep_going_runs_everything_independent_and_skips_dependents(project, capsys):
    tasks(project, """
        [tasks.broken]
        run = "false"
        estimate = "10s"
        [tasks.child]
        run = "touch child.ran"
        deps = ["broken"]
        [tasks.grandchild]
        run = "touch grandchild.ran"
        deps = ["child"]
        [tasks.other]
        run = "touch other.ran"
        [tasks.after-other]
        run = "touch after-other.ran"
        deps = ["other"]
    """, workers=1)
    code, _, _ = run(capsys, "--keep-going")
    assert code == 1
    record = read_run(project)
    rows = record["tasks"]
    assert record["status"] == "failed"
    assert rows["broken"]["status"] == "failed"
    for name in ("child", "grandchild"):
        assert rows[name]["status"] == "skipped"
        assert rows[name]["reason"] == "needs 'broken', which failed"
        assert not (project / f"{name}.ran").exists()
    for name in ("other", "after-other"):
        assert rows[name]["status"] == "ok"
        assert (project / f"{name}.ran").exists()


def test_timeout_kills_the_whole_tree_and_marks_the_task_timed_out(project, capsys):
    tasks(project, f"""
        [tasks.slow]
        run = ["sh", "-c", {q(tree("slow"))}]
        timeout = "300ms"
    """)
    code, out, _ = run(capsys)
    assert code == 1
    row = read_run(project)["tasks"]["slow"]
    assert (row["status"], row["reason"]) == ("timeout", "timed out")
    assert_no_process_left(project, "slow")
    assert "timeout: slow" in out


def test_a_tree_that_ignores_sigterm_is_killed_after_the_grace_period(project, capsys):
    stubborn = "trap '' TERM; " + tree("stubborn")  # the grandchild inherits the ignored TERM
    tasks(project, f"""
        [tasks.stubborn]
        run = ["sh", "-c", {q(stubborn)}]
        timeout = "200ms"
    """)
    assert run(capsys)[0] == 1
    row = read_run(project)["tasks"]["stubborn"]
    assert (row["status"], row["exit_code"]) == ("timeout", -signal.SIGKILL)
    assert_no_process_left(project, "stubborn")


def test_a_background_process_left_by_a_finished_task_is_killed(project, capsys):
    tasks(project, f"""
        [tasks.leaky]
        run = {q("echo $$ > leaky.pid; sleep 1000 & echo $! > leaky.grandchild.pid")}
    """)
    assert run(capsys)[0] == 0
    assert read_run(project)["tasks"]["leaky"]["status"] == "ok"
    assert_no_process_left(project, "leaky")


# ---------------------------------------------------------------- retries


FLAKY = "echo attempt >> attempts; [ $(wc -l < attempts) -ge {succeed_at} ]"


def test_a_retry_reruns_a_failed_task_until_it_succeeds(project, capsys):
    tasks(project, f"""
        [tasks.flaky]
        run = {q(FLAKY.format(succeed_at=2))}
        retries = 2
    """)
    assert run(capsys)[0] == 0
    record = read_run(project)
    row = record["tasks"]["flaky"]
    assert (row["status"], row["attempts"]) == ("ok", 2)
    assert (project / "attempts").read_text().count("attempt") == 2
    [retry] = events(record, "retrying", "flaky")
    assert retry["attempt"] == 1 and retry["delay"] > 0


def test_exhausted_retries_leave_the_task_failed_with_every_attempt_counted(project, capsys):
    tasks(project, f"""
        [tasks.hopeless]
        run = {q("echo attempt >> attempts; exit 5")}
        retries = 1
    """)
    code, out, _ = run(capsys)
    assert code == 1
    row = read_run(project)["tasks"]["hopeless"]
    assert (row["status"], row["attempts"], row["exit_code"]) == ("failed", 2, 5)
    assert (project / "attempts").read_text().count("attempt") == 2
    assert "2 attempt(s)" in out


# ---------------------------------------------------------------- memory admission


def test_tasks_whose_memory_estimates_cannot_fit_together_never_overlap(project, capsys):
    body = "".join(f"""
        [tasks.{name}]
        run = "sleep 0.2"
        memory = "60MB"
    """ for name in ("big-1", "big-2", "big-3"))
    tasks(project, body, workers=3, memory="100MB")
    assert run(capsys)[0] == 0
    rows = sorted(read_run(project)["tasks"].values(), key=lambda row: row["start"])
    assert [row["status"] for row in rows] == ["ok"] * 3
    for before, after in itertools.pairwise(rows):
        assert after["start"] >= before["end"]


def test_tasks_whose_memory_estimates_fit_together_run_at_the_same_time(project, capsys):
    # Each waits for the other to have started: they succeed only if they really overlap.
    tasks(project, f"""
        [tasks.left]
        run = {q("touch left.started; " + wait_for("right.started"))}
        memory = "40MB"
        [tasks.right]
        run = {q("touch right.started; " + wait_for("left.started"))}
        memory = "40MB"
    """, workers=2, memory="100MB")
    assert run(capsys)[0] == 0
    rows = read_run(project)["tasks"]
    assert rows["left"]["status"] == rows["right"]["status"] == "ok"
    assert rows["left"]["start"] < rows["right"]["end"]
    assert rows["right"]["start"] < rows["left"]["end"]


# ---------------------------------------------------------------- output


def _chatty(name: str, other: str) -> str:
    """Starts, waits for `other` to start (so both run together), then prints slowly."""
    return (f"touch {name}.started; {wait_for(other + '.started')}; "
            f"for i in 1 2 3 4 5 6 7 8 9 10; do echo {name}-line-$i; sleep 0.01; done")


CHATTY = f"""
    [tasks.alpha]
    run = {q(_chatty("alpha", "beta"))}
    [tasks.beta]
    run = {q(_chatty("beta", "alpha"))}
"""


def test_grouped_output_prints_each_task_as_one_unbroken_block(project, capsys):
    tasks(project, CHATTY)
    code, out, _ = run(capsys)
    assert code == 0
    lines = out.splitlines()
    for name in ("alpha", "beta"):
        expected = [f"{name}-line-{i}" for i in range(1, 11)]
        first = lines.index(expected[0])
        assert lines[first:first + 10] == expected


def test_stream_output_prefixes_every_line_with_its_task(project, capsys):
    tasks(project, CHATTY)
    code, out, _ = run(capsys, "--output", "stream")
    assert code == 0
    lines = out.splitlines()
    for name in ("alpha", "beta"):
        mine = [line for line in lines if f"{name}-line-" in line]
        assert mine == [f"[{name}] {name}-line-{i}" for i in range(1, 11)]


def test_stream_output_is_complete_when_the_task_exits_before_it_is_read(project, capsys):
    # More than a pipe holds: the task exits while makespan still has output to read.
    code = "print('\\n'.join(f'n{i} ' + 'x' * 40 for i in range(3000)))"
    tasks(project, f"""
        [tasks.loud]
        run = [{q(sys.executable)}, "-c", {q(code)}]
    """)
    exit_code, out, _ = run(capsys, "--output", "stream")
    assert exit_code == 0
    lines = [line for line in out.splitlines() if line.startswith("[loud] n")]
    assert lines == [f"[loud] n{i} " + "x" * 40 for i in range(3000)]


@pytest.mark.parametrize("mode", ["grouped", "stream"])
def test_long_output_lines_are_printed_whole(project, capsys, mode):
    line = "x" * 150 + " end"
    tasks(project, f"""
        [tasks.wide]
        run = ["echo", "{line}"]
    """)
    code, out, _ = run(capsys, "--output", mode)
    assert code == 0
    assert (f"[wide] {line}" if mode == "stream" else line) in out.splitlines()


def test_output_off_a_terminal_has_no_control_codes(project, capsys):
    tasks(project, """
        [tasks.fine]
        run = "echo fine"
        [tasks.broken]
        run = "false"
    """)
    code, out, err = run(capsys, "--keep-going")
    assert code == 1
    assert "failed" in out
    assert "\x1b" not in out + err


def test_quiet_prints_only_failures_and_the_summary(project, capsys):
    tasks(project, f"""
        [tasks.fine]
        run = "echo all-is-well"
        [tasks.broken]
        run = {q("echo went-wrong; exit 1")}
    """)
    code, out, _ = run(capsys, "--keep-going", "--quiet")
    assert code == 1
    assert "all-is-well" not in out
    assert "went-wrong" in out
    assert "Run " in out


def test_json_prints_the_record_that_was_written(project, capsys):
    tasks(project, """
        [tasks.a]
        run = "echo to-the-log"
    """)
    code, out, _ = run(capsys, "--json")
    assert code == 0
    printed = json.loads(out)
    written = read_run(project)
    assert printed["id"] == written["id"]
    assert printed["tasks"][0]["status"] == "ok"


# ---------------------------------------------------------------- what runs, and how


def test_named_tasks_run_with_only_what_they_need(project, capsys):
    tasks(project, """
        [tasks.base]
        run = "touch base.ran"
        [tasks.wanted]
        run = "touch wanted.ran"
        deps = ["base"]
        [tasks.unrelated]
        run = "touch unrelated.ran"
    """)
    assert run(capsys, "makespan.toml", "wanted")[0] == 0
    assert set(read_run(project)["tasks"]) == {"base", "wanted"}
    assert (project / "wanted.ran").exists() and (project / "base.ran").exists()
    assert not (project / "unrelated.ran").exists()


def test_dry_run_prints_the_order_and_runs_nothing(project, capsys):
    tasks(project, """
        [tasks.first]
        run = "touch first.ran"
        estimate = "3s"
        [tasks.second]
        run = "touch second.ran"
        estimate = "1s"
        deps = ["first"]
    """)
    code, out, _ = run(capsys, "--dry-run")
    assert code == 0
    [second] = [line for line in out.splitlines() if "second" in line and "1.0s" in line]
    assert "3.0s" in second  # its predicted start: when first ends
    assert out.index("first") < out.index("second")
    assert not list(project.glob("*.ran"))
    assert not (project / ".makespan").exists()


def test_env_and_cwd_are_applied(project, capsys):
    (project / "sub").mkdir()
    tasks(project, f"""
        [tasks.here]
        run = {q("pwd > where; echo $GREETING > greeting")}
        cwd = "sub"
        env = {{ GREETING = "bonjour" }}
    """)
    assert run(capsys)[0] == 0
    assert (project / "sub" / "where").read_text().strip() == str(project / "sub")
    assert (project / "sub" / "greeting").read_text() == "bonjour\n"


def test_a_string_goes_through_the_shell_and_an_array_does_not(project, capsys):
    tasks(project, """
        [tasks.shell]
        run = "echo $((6 * 7)) > shell.out"
        [tasks.direct]
        run = ["sh", "-c", "echo \\"$0\\" > direct.out", "$((6 * 7)) *"]
    """)
    assert run(capsys)[0] == 0
    assert (project / "shell.out").read_text() == "42\n"
    assert (project / "direct.out").read_text() == "$((6 * 7)) *\n"


@pytest.mark.parametrize("args", [["nosuch"], ["missing.toml"]])
def test_bad_input_exits_2_and_runs_nothing(project, capsys, args):
    tasks(project, """
        [tasks.a]
        run = "touch a.ran"
    """)
    code, _out, err = run(capsys, *args)
    assert code == 2
    assert "makespan: error:" in err and "Traceback" not in err
    assert not (project / "a.ran").exists()
    assert not (project / ".makespan").exists()


# ---------------------------------------------------------------- the record


def test_peak_rss_measures_the_task_not_makespan_itself(project, capsys):
    # 'true' needs a megabyte or two; the test process running makespan needs far more.
    hungry = "import time; data = b'x' * (200 * 2**20); time.sleep(0.5)"
    tasks(project, f"""
        [tasks.tiny]
        run = ["true"]
        [tasks.hungry]
        run = [{q(sys.executable)}, "-c", {q(hungry)}]
    """)
    assert run(capsys)[0] == 0
    rows = read_run(project)["tasks"]
    assert (rows["tiny"]["peak_rss"] or 0) < 20 * 2**20
    assert rows["hungry"]["peak_rss"] >= 200 * 2**20


def test_a_failed_record_write_leaves_the_previous_record_whole(project, monkeypatch):
    write_record({"id": "first", "status": "ok"}, project)
    before = (project / ".makespan" / "last-run.json").read_text()

    def no_rename(src, dst):
        raise OSError("disk full")

    with monkeypatch.context() as patch, pytest.raises(OSError):
        patch.setattr("makespan.record.os.replace", no_rename)
        write_record({"id": "second", "status": "ok"}, project)
    assert (project / ".makespan" / "last-run.json").read_text() == before
    assert [p.name for p in (project / ".makespan" / "runs").iterdir()] == ["first.json"]


def test_no_process_check_sees_a_live_process(project):
    # Guards the helper every "no process left" assertion relies on.
    with subprocess.Popen(["sleep", "1000"]) as child:
        try:
            assert alive_after([child.pid], timeout=0.1) == [child.pid]
        finally:
            child.kill()
    assert alive_after([child.pid], timeout=1) == []


def test_a_shell_builtin_without_shell_syntax_still_runs_in_the_shell(project, capsys):
    tasks(project, """
        [tasks.leave]
        run = "exit 4"
    """)
    code, _, _ = run(capsys)
    assert code == 1
    assert read_run(project)["tasks"]["leave"]["exit_code"] == 4


# ---------------------------------------------------------------- planned order


def test_a_run_holds_a_task_back_when_the_plan_is_a_strict_sequence(project, capsys):
    """The graph of tests/test_optimize.py where no list schedule is optimal: the planner holds
    b back until c and d have started, and the real run (estimates 1 s per unit, commands ten
    times shorter) follows that sequence instead of starting b at once on the free slot."""
    tasks(project, idle_on_purpose_tasks(lambda estimate: f"sleep {estimate / 10}"))
    code = main(["run", "--optimize", "1", "--no-history", "--quiet"])
    capsys.readouterr()
    assert code == 0
    record = read_run(project)
    assert (record["predicted"]["makespan"], record["predicted"]["order"]) == (
        4.0, "strict sequence")
    start = {name: row["start"] for name, row in record["tasks"].items()}
    assert start["b"] >= max(start["c"], start["d"])
