"""`makespan report --trace`: Chrome trace-event JSON, checked against the format's rules.

The Trace Event Format (JSON object form) requires `traceEvents`, a list of events that each
have `name`, `ph` (the phase), `ts` (microseconds), `pid` and `tid`; complete events (`X`) also
need `dur`; metadata events (`M`) carry their value in `args` (`name` for `process_name` and
`thread_name`, `sort_index` for `thread_sort_index`); counter events (`C`) carry numbers in
`args`. Perfetto and chrome://tracing open such a file.
"""

import itertools
import json
from numbers import Number

import pytest

from makespan.cli import main
from run_helpers import read_run, write_tasks

PHASES = {"X", "M", "C"}
METADATA = {"process_name": "name", "thread_name": "name", "thread_sort_index": "sort_index"}


def check_trace_format(trace):
    """Assert `trace` is a valid trace-event JSON object; return its events by phase."""
    assert isinstance(trace, dict) and isinstance(trace["traceEvents"], list)
    assert trace.get("displayTimeUnit", "ms") in ("ms", "ns")
    by_phase = {phase: [] for phase in PHASES}
    for event in trace["traceEvents"]:
        assert isinstance(event["name"], str) and event["ph"] in PHASES
        assert isinstance(event["ts"], Number) and event["ts"] >= 0
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        assert isinstance(event.get("args", {}), dict)
        if event["ph"] == "X":
            assert isinstance(event["dur"], Number) and event["dur"] >= 0
            assert isinstance(event["cat"], str)
        elif event["ph"] == "M":
            assert METADATA[event["name"]] in event["args"]
        else:
            assert event["args"] and all(isinstance(v, Number) for v in event["args"].values())
        by_phase[event["ph"]].append(event)
    json.dumps(trace, allow_nan=False)  # strict JSON: no NaN or Infinity
    return by_phase


@pytest.fixture
def traced(tmp_path, capsys):
    """A run with two slots, a task that fails once and is retried, and one that fails."""
    path = write_tasks(tmp_path, """
        [settings]
        workers = 2
        memory = "1GiB"
        [tasks.flaky]
        run = "test -e tried || { touch tried; exit 1; }"
        retries = 1
        [tasks.steady]
        run = "true"
        for_each = [1, 2, 3]
        [tasks.broken]
        run = ["sh", "-c", "exit 4"]
        deps = ["flaky"]
    """)
    main(["run", str(path), "--optimize", "0", "-q", "--keep-going"])
    record = read_run(tmp_path)
    assert main(["report", record["record"], "--trace", str(tmp_path / "trace.json")]) == 0
    capsys.readouterr()
    return record, json.loads((tmp_path / "trace.json").read_text())


def test_the_trace_has_the_required_fields(traced):
    _, trace = traced
    check_trace_format(trace)


def test_one_named_track_per_slot_and_one_event_per_attempt(traced):
    record, trace = traced
    events = check_trace_format(trace)
    tracks = {e["tid"]: e["args"]["name"] for e in events["M"] if e["name"] == "thread_name"}
    slots = {e["slot"] for e in record["events"] if e["kind"] == "started"}
    assert sorted(tracks.values()) == sorted(slots) and slots <= {"cpu-0", "cpu-1"}
    attempts = [(e["name"], e["cat"], e["args"]["attempt"]) for e in events["X"]]
    assert sorted(attempts) == sorted([
        ("flaky", "retried", 1), ("flaky", "ok", 2), ("broken", "failed", 1),
        ("steady[1]", "ok", 1), ("steady[2]", "ok", 1), ("steady[3]", "ok", 1),
    ])  # fmt: skip
    assert {e["tid"] for e in events["X"]} <= set(tracks)
    [broken] = [e for e in events["X"] if e["name"] == "broken"]
    assert broken["args"]["exit_code"] == 4
    row = record["tasks"]["broken"]
    assert broken["ts"] == round(row["start"] * 1e6)
    assert broken["dur"] == pytest.approx((row["end"] - row["start"]) * 1e6, abs=1)


def test_a_slot_runs_one_attempt_at_a_time(traced):
    _, trace = traced
    events = check_trace_format(trace)["X"]
    for tid in {e["tid"] for e in events}:
        spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e["tid"] == tid)
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
