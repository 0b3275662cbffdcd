"""The HTML report of a real run, opened in headless Chromium as a person would open it.

The run has a task whose name is a script that would retitle the page, and a failing task whose
output is another; the page must show both as text, with a bar per attempt, and keep its own
title. The screenshot is kept in the test's temporary directory; with MAKESPAN_SCREENSHOT=PATH
it is also copied to PATH (`docs/report-screenshot.png` is made that way).
"""

import json
import os
import re
import shutil
import struct

import pytest

from browser import CHROMIUM, dump_dom, screenshot
from makespan.cli import main
from run_helpers import read_run, write_tasks

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed: `make test` installs Debian's chromium package where "
           "it runs as root with apt-get; elsewhere install chromium to run this test",
)

q = json.dumps
NAME = "<script>document.title='pwned'</script>"
OUTPUT = "<script>document.title='pwned by output'</script>"
WIDTH, HEIGHT = 1240, 1900


@pytest.fixture
def report(tmp_path, capsys):
    path = write_tasks(tmp_path, f"""
        [settings]
        workers = 2
        io_workers = 2
        memory = "1GiB"
        [tasks.fetch]
        run = "sleep 0.4"
        kind = "io"
        estimate = "300ms"
        [tasks.build]
        run = "sleep 0.5"
        for_each = ["core", "cli", "api"]
        deps = ["fetch"]
        estimate = "400ms"
        [tasks.{q(NAME)}]
        run = "sleep 0.3"
        deps = ["build[core]"]
        [tasks.flaky]
        run = "sleep 0.2; test -e tried || {{ touch tried; exit 1; }}"
        retries = 1
        deps = ["fetch"]
        [tasks.lint]
        run = {q(f"sleep 0.3; echo {q(OUTPUT)}; exit 2")}
        deps = ["fetch"]
        [tasks.package]
        run = "sleep 0.3"
        deps = ["build"]
    """)
    html = tmp_path / "report.html"
    assert main(["run", str(path), "--optimize", "0", "-q", "--keep-going",
                 "--report", str(html)]) == 1
    capsys.readouterr()
    return html, read_run(tmp_path)


def test_the_report_shows_its_bars_and_runs_no_injected_script(report):
    html, record = report
    dom = dump_dom(html)
    title = re.search(r"<head>.*?<title>(.*?)</title>", dom, re.DOTALL).group(1)
    assert title == f"makespan run {record['id']}: failed"
    assert "pwned" not in title and "<script" not in dom
    bars = re.findall(r'<rect class="bar[^"]*"', dom)
    attempts = sum(row["attempts"] for row in record["tasks"].values())
    assert len(bars) == attempts == 9  # flaky ran twice
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "&lt;script&gt;document.title='pwned by output'&lt;/script&gt;" in dom


def test_a_screenshot_of_the_report_is_kept(report):
    html, _ = report
    png = html.with_suffix(".png")
    screenshot(html, png, WIDTH, HEIGHT)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (WIDTH, HEIGHT)
    assert len(data) > 50_000  # a blank page of this size compresses to a few kB
    print(f"screenshot: {png}")
    keep = os.environ.get("MAKESPAN_SCREENSHOT")
    if keep:
        shutil.copyfile(png, keep)
