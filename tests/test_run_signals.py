"""`makespan run` as a real process, stopped with Ctrl-C (SIGINT) or SIGTERM.

Each test waits until the task has really started (it creates a marker file), then signals the
`makespan` process itself; the tasks record their PIDs so the test can check that none survives.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from run_helpers import (
    assert_no_process_left,
    events,
    kill_leftovers,
    read_run,
    tree,
    write_tasks,
)

q = json.dumps
MAKESPAN = [sys.executable, "-m", "makespan", "run", "--optimize", "0"]
NO_COLOR_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


@pytest.fixture
def project(tmp_path):
    started: list[subprocess.Popen[str]] = []
    yield tmp_path, started
    for process in started:  # only after a failed test is any of these still running
        if process.poll() is None:
            process.kill()
            process.wait()
    kill_leftovers(tmp_path)


def start(project):
    root, started = project
    env = {k: v for k, v in os.environ.items() if k not in NO_COLOR_ENV}
    process = subprocess.Popen(MAKESPAN, cwd=root, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started.append(process)
    return process


def wait_for_file(process, path, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"makespan ended early: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def finish(process):
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_every_tree_writes_the_record_and_exits_130(project, signum):
    root, _ = project
    write_tasks(root, f"""
        [tasks.long]
        run = ["sh", "-c", {q(tree("long"))}]
        [tasks.after]
        run = "touch after.ran"
        deps = ["long"]
    """)
    makespan = start(project)
    wait_for_file(makespan, root / "long.started")
    makespan.send_signal(signum)
    code, out, err = finish(makespan)
    assert code == 130, err
    record = read_run(root)
    assert record["status"] == "interrupted"
    assert record["tasks"]["long"]["status"] == "cancelled"
    assert record["tasks"]["after"]["status"] == "skipped"
    assert record["tasks"]["after"]["reason"] == "not started: interrupted"
    assert not (root / "after.ran").exists()
    assert_no_process_left(root, "long")
    assert "interrupted" in out  # the summary was printed
    assert "Traceback" not in err


def test_a_second_ctrl_c_kills_at_once_without_waiting_for_the_grace_period(project):
    # The task survives SIGTERM (it notes it in stubborn.term) and its grandchild ignores it.
    script = ("trap 'touch stubborn.term' TERM; echo $$ > stubborn.pid; "
              "(trap '' TERM; exec sleep 1000) & echo $! > stubborn.grandchild.pid; "
              "touch stubborn.started; while :; do wait; done")
    root, _ = project
    write_tasks(root, f"""
        [tasks.stubborn]
        run = ["sh", "-c", {q(script)}]
    """)
    makespan = start(project)
    wait_for_file(makespan, root / "stubborn.started")
    makespan.send_signal(signal.SIGINT)
    wait_for_file(makespan, root / "stubborn.term")  # the first Ctrl-C has been handled
    makespan.send_signal(signal.SIGINT)
    code, _, err = finish(makespan)
    assert code == 130, err
    record = read_run(root)
    row = record["tasks"]["stubborn"]
    assert record["status"] == "interrupted"
    assert (row["status"], row["reason"]) == ("cancelled", "killed: the run stopped at once")
    assert len(events(record, "interrupted")) == 2
    assert_no_process_left(root, "stubborn")


def test_an_interrupt_cancels_a_retry_waiting_for_its_backoff_at_once(project):
    root, _ = project
    write_tasks(root, """
        [tasks.flaky]
        run = "echo $$ >> attempts; exit 1"
        retries = 2
    """)
    makespan = start(project)
    attempts = root / "attempts"
    deadline = time.monotonic() + 20
    while len(attempts.read_text().split() if attempts.exists() else []) < 2:
        assert makespan.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    second = int(attempts.read_text().split()[1])
    # Once makespan has reaped the second attempt, the 1 s backoff before the third has begun.
    with contextlib.suppress(psutil.NoSuchProcess):
        _, alive = psutil.wait_procs([psutil.Process(second)], timeout=10)
        assert alive == []
    makespan.send_signal(signal.SIGINT)
    code, _, err = finish(makespan)
    assert code == 130, err
    record = read_run(root)
    row = record["tasks"]["flaky"]
    assert (row["status"], row["attempts"]) == ("cancelled", 2)
    assert row["reason"] == "retry not started: interrupted"
    [retry] = events(record, "retrying", "flaky")[1:]
    [cancelled] = events(record, "finished", "flaky")
    assert cancelled["time"] < retry["time"] + retry["delay"]  # not when the retry was due
    assert len(attempts.read_text().split()) == 2
