"""Headless Chromium, for the test and the benchmark that look at a report as a person would.

`--dump-dom` prints the DOM once the page has loaded and any script on it has run, so a script
that got into the page would show there (and in the title it sets); `--screenshot` keeps what
a person would see; `open_time` measures, inside the running browser, how long a page takes
to load and lay out (the report itself allows no script, so a page beside it loads it in a
frame and times that).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
)  # fmt: skip
TIMEOUT = 120


def chromium(page: Path, *args: str) -> str:
    """Open `page` in a new, empty profile with `args`; return what Chromium printed."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=TIMEOUT, check=True,
        )
    return done.stdout


def dump_dom(page: Path) -> str:
    return chromium(page, "--dump-dom")


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    chromium(page, f"--screenshot={png}", f"--window-size={width},{height}")


TIMER = """<!DOCTYPE html><title>waiting</title>
<iframe id="page" style="width: %dpx; height: %dpx"></iframe>
<script>
const frame = document.getElementById("page");
let began = 0;
frame.onload = () => {
  frame.contentDocument.documentElement.getBoundingClientRect();  // forces layout
  document.title = "opened in " + (performance.now() - began).toFixed(1);
};
began = performance.now();
frame.src = %s;
</script>"""


def open_time(page: Path, width: int = 1240, height: int = 900) -> float:
    """Seconds from asking for `page` until it is loaded and laid out, in a running browser."""
    timer = page.with_name(f".timer-{page.name}")
    timer.write_text(TIMER % (width, height, repr(page.name)))
    try:
        dom = chromium(timer, "--allow-file-access-from-files", "--dump-dom")
    finally:
        timer.unlink()
    found = re.search(r"<title>opened in ([\d.]+)</title>", dom)
    if found is None:
        raise RuntimeError("the page did not finish loading")
    return float(found.group(1)) / 1000
