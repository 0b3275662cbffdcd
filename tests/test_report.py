"""`makespan report` and `run --report`: the text summary, and an HTML report that escapes
every string that came from the task file or a task's output."""

import html.parser
import json
from pathlib import Path

import pytest

from makespan.cli import main
from makespan.report_html import render
from makespan.timeline import Bar, bars, busy, utilization
from run_helpers import read_run, write_tasks


def q(text: str) -> str:
    """`text` as a TOML basic string (JSON's escapes are TOML's; non-ASCII stays as it is)."""
    return json.dumps(text, ensure_ascii=False)


SCRIPT = "<script>document.title='pwned'</script>"
QUOTES = "quote\" onmouseover=\"alert(1)\" x='y'"
AMPERSANDS = "R&D &amp; <b>bold</b>"
LONG = "long-" + "x" * 600
UNICODE = "ünïcødé 任务 🚀"
OUTPUT = "<img src=x onerror=alert(1)> & </pre><script>alert(2)</script>"
NAMES = (SCRIPT, QUOTES, AMPERSANDS, LONG, UNICODE)


class Page(html.parser.HTMLParser):
    """Every tag with its attributes, and all the text, as a browser's parser sees them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all_text(self) -> str:
        return "".join(self.text)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A real run whose task names and output try to break out of the HTML."""
    root = tmp_path_factory.mktemp("hostile")
    body = "".join(f"[tasks.{q(name)}]\nrun = \"true\"\n" for name in NAMES)
    body += f"[tasks.noisy]\nrun = {q(f'echo {q(OUTPUT)}; exit 3')}\ndeps = [{q(SCRIPT)}]\n"
    path = write_tasks(root, "[settings]\nworkers = 2\nmemory = \"1GiB\"\n" + body)
    assert main(["run", str(path), "--optimize", "0", "-q", "--keep-going",
                 "--report", str(root / "report.html")]) == 1
    return root


def test_every_name_and_output_line_is_text_not_markup(hostile):
    text = (hostile / "report.html").read_bytes().decode("utf-8")
    page = Page(text)
    tags = [tag for tag, _ in page.tags]
    assert "script" not in tags and "img" not in tags
    assert not [(tag, a) for tag, attrs in page.tags for a in attrs if a.startswith("on")]
    words = page.all_text()
    for name in NAMES:
        assert name in words
    assert OUTPUT in words  # the failed task's log tail, in the summary
    assert SCRIPT not in text and OUTPUT not in text and QUOTES not in text
    assert "R&amp;D &amp;amp; &lt;b&gt;" in text


def test_the_page_is_self_contained_and_allows_no_script(hostile):
    text = (hostile / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    [csp] = [a["content"] for tag, a in page.tags
             if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'none'" in csp
    assert ("meta", {"charset": "utf-8"}) in page.tags
    fetched = [(tag, a) for tag, attrs in page.tags for a in ("src", "href")
               if a in attrs and not str(attrs[a]).startswith("data:")]
    assert fetched == [] and "<link" not in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_timeline_has_a_bar_per_attempt_with_the_details_on_hover(hostile):
    record = read_run(hostile)
    page = Page((hostile / "report.html").read_text(encoding="utf-8"))
    rects = [a for tag, a in page.tags if tag == "rect" and "bar" in str(a.get("class"))]
    assert len(rects) == len(record["tasks"]) == 6
    words = page.all_text()
    assert "exit code 3" in words and "failed, attempt 1" in words
    labels = [t for t in page.text if t.startswith("long-") and t.endswith("…")]
    assert labels and all(len(label) < 200 for label in labels)  # cut to fit its bar
    assert LONG in words  # and whole in the hover text and the table
    critical = [a for a in rects if "cp" in str(a["class"]).split()]
    assert len(critical) == len(record["metrics"]["critical_path"])


def test_report_prints_the_same_summary_as_the_end_of_the_run(tmp_path, capsys):
    path = write_tasks(tmp_path, """
        [settings]
        memory = "1GiB"
        [tasks.a]
        run = "echo hello"
        [tasks.b]
        run = "true"
        deps = ["a"]
    """)
    assert main(["run", str(path), "--optimize", "0"]) == 0
    at_the_end = capsys.readouterr().out
    record = read_run(tmp_path)
    assert main(["report", record["record"]]) == 0
    summary = capsys.readouterr().out
    assert summary.startswith("\nRun ") and at_the_end.endswith(summary)


def test_report_writes_html_trace_and_json_from_the_last_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tasks(tmp_path, '[settings]\nmemory = "1GiB"\n[tasks.a]\nrun = "true"\n')
    assert main(["run", "--optimize", "0", "-q"]) == 0
    capsys.readouterr()
    assert main(["report", "--json", "--html", "out/r.html", "--trace", "t.json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == json.loads(Path(".makespan/last-run.json").read_text())
    assert "wrote out/r.html" in err and Path("out/r.html").stat().st_size > 0
    assert "traceEvents" in json.loads(Path("t.json").read_text())


def test_report_without_a_record_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 2
    assert "makespan run" in capsys.readouterr().err


def test_an_empty_run_still_renders():
    document = {"id": "x", "status": "ok", "wall": 0.0, "events": [], "tasks": [],
                "workers": {"cpu": 1, "io": 1, "memory": 1}, "metrics": {
                    "critical_path": [], "work": 0.0, "span": 0.0, "speedup": 1.0,
                    "efficiency": 1.0, "pool_utilization": {}, "targets": []}}
    text = render(document)
    assert "No task ran" in text and "No memory samples" in text


# ---------------------------------------------------------------- the series it draws


def bar(slot, start, end, status="ok"):
    return Bar("t", slot, start, end, status, 1, 0, None)


def test_busy_counts_slots_and_ends_before_starts_at_a_tie():
    shown = [bar("cpu-0", 0, 2), bar("cpu-1", 1, 3), bar("cpu-0", 2, 4), bar("io-0", 0, 9)]
    assert busy(shown, "cpu") == [(0.0, 1), (1, 2), (2, 2), (3, 1), (4, 0)]


def test_utilization_averages_each_bucket():
    # One of two slots busy for the first half of bucket 0, both for all of bucket 1.
    shown = [bar("cpu-0", 0.5, 2), bar("cpu-1", 1, 2)]
    assert utilization(shown, "cpu", 2, 2.0, 2) == [(0.0, 0.25), (1.0, 1.0), (2.0, 1.0)]


def test_a_retried_task_has_a_bar_per_attempt():
    events = [
        {"kind": "started", "time": 0.0, "task": "t", "attempt": 1, "slot": "cpu-0"},
        {"kind": "retrying", "time": 1.0, "task": "t", "attempt": 1, "exit_code": 1},
        {"kind": "started", "time": 1.5, "task": "t", "attempt": 2, "slot": "cpu-1"},
        {"kind": "finished", "time": 2.0, "task": "t", "status": "ok", "exit_code": 0,
         "peak_rss": 10},
    ]
    assert bars({"events": events}) == [Bar("t", "cpu-0", 0.0, 1.0, "retried", 1, 1, None),
                                        Bar("t", "cpu-1", 1.5, 2.0, "ok", 2, 0, 10)]
