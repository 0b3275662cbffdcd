"""`makespan bench FILE -j 1,2 --repeat N`: measured speedup next to the predicted one."""

import json
import xml.etree.ElementTree as ET

import pytest

from makespan.bench import serial
from makespan.cli import main
from makespan.model import Task, TaskGraph
from run_helpers import write_tasks

SVG = "{http://www.w3.org/2000/svg}"
TINY = """
    [settings]
    memory = "1GiB"
    [tasks.fetch]
    run = "true"
    kind = "io"
    estimate = "100ms"
    [tasks.work]
    run = ["true"]
    for_each = [1, 2, 3]
    deps = ["fetch"]
    estimate = "200ms"
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return write_tasks(tmp_path, TINY)


def test_bench_runs_serially_then_at_each_count_and_writes_the_curve(tiny, capsys):
    assert main(["bench", str(tiny), "-j", "1,2", "--repeat", "2", "--optimize", "0",
                 "--json", "--no-history"]) == 0
    result = json.loads(capsys.readouterr().out)
    serial_wall = result["serial"]["wall"]
    assert len(result["serial"]["walls"]) == 2
    assert result["serial"]["predicted"] == pytest.approx(0.7)  # every task, one at a time
    assert [p["workers"] for p in result["points"]] == [1, 2]
    for point in result["points"]:
        assert len(point["walls"]) == 2
        assert point["speedup"] == pytest.approx(serial_wall / point["wall"])
        assert point["efficiency"] == pytest.approx(point["speedup"] / point["workers"])
        assert point["predicted_speedup"] == pytest.approx(0.7 / point["predicted"])
    assert [p["predicted"] for p in result["points"]] == pytest.approx([0.7, 0.5])
    assert len(list((tiny.parent / ".makespan" / "runs").glob("*.json"))) == 6

    curve = ET.parse(tiny.parent / ".makespan" / "bench.svg").getroot()
    assert curve.tag == f"{SVG}svg"
    labels = {t.text for t in curve.iter(f"{SVG}text")}
    assert {"measured", "predicted", "ideal (speedup = workers)"} <= labels
    assert len(list(curve.iter(f"{SVG}polyline"))) == 3


def test_bench_prints_a_table_and_the_report_can_show_the_curve(tiny, capsys):
    assert main(["bench", str(tiny), "-j", "2", "--optimize", "0", "--svg", "curve.svg"]) == 0
    out, err = capsys.readouterr()
    assert "serial" in out and "pred. speedup" in out and "wrote curve.svg" in err
    assert main(["report", "--html", "r.html", "--speedup", "curve.svg"]) == 0
    page = (tiny.parent / "r.html").read_text()
    assert 'alt="speedup curve" src="data:image/svg+xml;base64,' in page


def test_a_failing_task_stops_the_bench(tmp_path, capsys):
    path = write_tasks(tmp_path, '[settings]\nmemory = "1GiB"\n[tasks.no]\nrun = "false"\n')
    assert main(["bench", str(path), "-j", "1", "--optimize", "0"]) == 1
    assert "the serial run ended failed" in capsys.readouterr().err


def test_the_serial_graph_runs_everything_in_one_cpu_slot():
    graph = TaskGraph.build([Task("a", run="x", kind="io"), Task("b", run="x", slots=2,
                                                                   deps=("a",))])
    one = serial(graph)
    assert [(t.kind, t.slots) for t in one.tasks] == [("cpu", 1), ("cpu", 1)]
    assert one.preds == graph.preds
