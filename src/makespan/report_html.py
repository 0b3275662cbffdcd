"""The HTML report of a run: one self-contained file a person opens in a browser.

It holds the end-of-run summary, the timeline (a row per slot, a bar per attempt coloured by
status, the critical path outlined, details on hover), each pool's utilization over time, the
memory the tasks held against the budget, and predicted versus actual for every task. The charts
are SVG drawn here, the hover text is SVG's own `<title>`, so the page runs no script at all:
its Content-Security-Policy forbids scripts and any fetch, and every string that came from the
task file or a task's output is escaped (`svg.esc`), so a task named `<script>…` shows as text.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console

from makespan import timeline
from makespan.render import print_run_summary
from makespan.svg import Axis, Series, esc, line_chart, ticks
from makespan.timeline import Bar
from makespan.units import format_duration, format_size

STATUS_COLORS = {
    "ok": "#43a047", "failed": "#e53935", "timeout": "#fb8c00", "cancelled": "#9e9e9e",
    timeline.RETRIED: "#f48fb1",
}  # fmt: skip
POOL_COLORS = {"cpu": "#1e88e5", "io": "#8e24aa"}
OTHER_COLOR = "#607d8b"
SUMMARY_WIDTH = 110

TIMELINE_WIDTH = 1100
LABEL_WIDTH = 70
ROW_HEIGHT = 18
AXIS_HEIGHT = 22
CHAR_WIDTH = 6.5
"""Roughly how wide one character of a bar's label is, to shorten labels to their bar."""

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
       "base-uri 'none'; form-action 'none'")
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1180px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
pre.summary { background: #f6f8fa; padding: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; font-size: 12px; }
svg text { fill: #333; } svg .label { font-size: 10px; fill: #fff; pointer-events: none; }
svg .bar { stroke: #fff; stroke-width: 0.5; } svg .bar:hover { opacity: 0.75; }
svg .bar.cp { stroke: #111; stroke-width: 2; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: -1px; }
table { border-collapse: collapse; font-size: 12px; }
td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: right; }
td.name, th.name { text-align: left; overflow-wrap: anywhere; max-width: 420px; }
tr.slow td { background: #fff3e0; }
.note { color: #666; font-size: 12px; }
"""
UTILIZATION_BUCKETS = 100
BUDGET_SCALE = 4
"""The memory chart shows the budget line when it is at most this many times the peak."""
TABLE_ROWS = 100
SLOW = 1.5
"""A task that took this many times its prediction is marked in the table."""


def render(document: Mapping[str, Any], speedup_svg: str | None = None) -> str:
    """The whole report of the run `document` (a record); `speedup_svg` from `makespan bench`."""
    bars = timeline.bars(document)
    wall = max(document["wall"], max((b.end for b in bars), default=0.0))
    critical = set(document["metrics"]["critical_path"])
    title = f"makespan run {document['id']}: {document['status']}"
    sections = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="note">{esc(document.get("file", ""))} · started '
        f'{esc(document.get("started_at", ""))} · wall {esc(format_duration(wall))}</p>',
        f'<pre class="summary">{esc(_summary_text(document))}</pre>',
        "<h2>Timeline</h2>",
        _legend(),
        _timeline(bars, critical, wall),
        '<p class="note">One row per slot, one bar per attempt; the critical path is outlined. '
        "Hover over a bar for its times, exit code and peak memory.</p>",
        "<h2>Utilization of each pool</h2>",
        _utilization(document, bars, wall),
        "<h2>Memory</h2>",
        _memory(document, wall),
        "<h2>Predicted versus actual</h2>",
        _predicted_vs_actual(document),
    ]
    if speedup_svg is not None:
        data = base64.b64encode(speedup_svg.encode()).decode()
        sections += ["<h2>Speedup (makespan bench)</h2>",
                     f'<img alt="speedup curve" src="data:image/svg+xml;base64,{data}">']
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections) + "</body></html>\n"
    )


def _summary_text(document: Mapping[str, Any]) -> str:
    """The summary `makespan run` prints at the end, as plain text."""
    out = io.StringIO()
    console = Console(file=out, width=SUMMARY_WIDTH, color_system=None, highlight=False,
                      force_terminal=False)
    print_run_summary(dict(document), console)
    return out.getvalue().strip("\n")


def _legend() -> str:
    items = "".join(f'<span><i style="background:{color}"></i>{esc(status)}</span>'
                    for status, color in STATUS_COLORS.items())
    return (f'<p class="legend">{items}<span><i style="border:2px solid #111;width:8px;'
            'height:8px"></i>critical path</span></p>')


def _timeline(bars: Sequence[Bar], critical: set[str], wall: float) -> str:
    rows = timeline.slots(bars)
    row_of = {slot: k for k, slot in enumerate(rows)}
    marks = ticks(wall, 10)
    scale = (TIMELINE_WIDTH - LABEL_WIDTH - 10) / marks[-1]
    height = AXIS_HEIGHT + ROW_HEIGHT * len(rows) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{TIMELINE_WIDTH}"'
             f' height="{height}" viewBox="0 0 {TIMELINE_WIDTH} {height}" '
             'font-family="sans-serif" font-size="11">']
    for k, slot in enumerate(rows):
        y = AXIS_HEIGHT + k * ROW_HEIGHT
        shade = "#f7f7f7" if k % 2 else "#fff"
        parts.append(f'<rect x="0" y="{y}" width="{TIMELINE_WIDTH}" height="{ROW_HEIGHT}" '
                     f'fill="{shade}"/><text x="4" y="{y + 13}">{esc(slot)}</text>')
    for value in marks:
        x = LABEL_WIDTH + value * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{AXIS_HEIGHT - 4}" y2="{height}" '
                     f'stroke="#ddd"/><text x="{x:.1f}" y="12" text-anchor="middle">'
                     f"{esc(format_duration(value))}</text>")
    for bar in bars:
        x = LABEL_WIDTH + bar.start * scale
        width = max(1.0, bar.duration * scale)
        y = AXIS_HEIGHT + row_of[bar.slot] * ROW_HEIGHT + 2
        on_path = bar.task in critical and bar.status != timeline.RETRIED
        color = STATUS_COLORS.get(bar.status, OTHER_COLOR)
        parts.append(f'<rect class="bar{" cp" if on_path else ""}" x="{x:.1f}" y="{y}" '
                     f'width="{width:.1f}" height="{ROW_HEIGHT - 4}" fill="{color}">'
                     f"<title>{esc(_tip(bar, on_path))}</title></rect>")
        room = int((width - 6) / CHAR_WIDTH)
        if room >= 4:
            label = bar.task if len(bar.task) <= room else bar.task[:room - 1] + "…"
            parts.append(f'<text class="label" x="{x + 3:.1f}" y="{y + 11}">{esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _tip(bar: Bar, on_path: bool) -> str:
    lines = [
        bar.task,
        f"{bar.status}, attempt {bar.attempt}, slot {bar.slot}",
        f"{format_duration(bar.start)} → {format_duration(bar.end)} "
        f"({format_duration(bar.duration)})",
        f"exit code {'—' if bar.exit_code is None else bar.exit_code}",
        f"peak memory {'—' if bar.peak_rss is None else format_size(bar.peak_rss)}",
    ]
    if on_path:
        lines.append("on the critical path")
    return "\n".join(lines)


def _utilization(document: Mapping[str, Any], bars: Sequence[Bar], wall: float) -> str:
    workers = document["workers"]
    series = []
    for pool in sorted({timeline.pool_of(bar.slot) for bar in bars}):
        size = workers.get(pool) or 1
        shares = timeline.utilization(bars, pool, size, wall, UTILIZATION_BUCKETS)
        series.append(Series(f"{pool} ({size} slots)", [(t, 100 * u) for t, u in shares],
                             POOL_COLORS.get(pool, OTHER_COLOR), step=True))
    if not series:
        return '<p class="note">No task ran.</p>'
    return (line_chart(series, Axis("time", wall, format_duration),
                       Axis("busy slots (%)", 100, lambda v: f"{v:g}%"))
            + f'<p class="note">Share of each pool\'s slots busy, averaged over '
            f"{esc(format_duration(wall / UTILIZATION_BUCKETS))} steps.</p>")


def _memory(document: Mapping[str, Any], wall: float) -> str:
    used = timeline.memory_used(document)
    budget = document["workers"]["memory"]
    if not used:
        return ('<p class="note">No memory samples: every task ended before the first one '
                "was taken.</p>")
    peak = max(v for _, v in used)
    series = [Series("held by running tasks", used, "#1e88e5")]
    if budget <= BUDGET_SCALE * peak:
        series.append(Series("budget", [(0.0, budget), (wall, budget)], "#e53935", dashed=True))
        where = "the dashed line"
    else:
        where = "far above this scale"
    chart = line_chart(series, Axis("time", wall, format_duration),
                       Axis("memory", None, format_size))
    share = f" ({peak / budget:.1%})" if budget else ""
    return (chart + f'<p class="note">Peak {esc(format_size(peak))} of the '
            f"{esc(format_size(budget))} budget{share}, {where}.</p>")


def _predicted_vs_actual(document: Mapping[str, Any]) -> str:
    """A point per task (predicted against actual duration), and a table of the largest misses.

    The table stops at `TABLE_ROWS`: thousands of rows cost a browser more than all the charts
    together, and the tasks that missed by the most are the ones a person looks for.
    """
    predicted = document.get("predicted", {})
    starts = predicted.get("start", {})
    durations = predicted.get("duration", {})
    misses, points, tips = [], [], []
    for task in document["tasks"]:
        name = task["name"]
        actual = task["end"] - task["start"] if task["start"] is not None else None
        estimate = durations.get(name)
        miss = -1.0
        if actual is not None and estimate is not None:
            points.append((estimate, actual))
            tips.append(f"{name}\npredicted {format_duration(estimate)}, "
                        f"took {format_duration(actual)}")
            miss = abs(actual - estimate)
        misses.append((miss, task, starts.get(name), estimate, actual))
    misses.sort(key=lambda m: -m[0])  # stable: the task order among equal misses
    rows = [_miss_row(*m[1:]) for m in misses[:TABLE_ROWS]]
    top = max((max(p) for p in points), default=1.0)
    chart = line_chart(
        [Series("tasks", points, "#1e88e5", markers=True, line=False, tips=tips),
         Series("actual = predicted", [(0.0, 0.0), (top, top)], "#9e9e9e", dashed=True)],
        Axis("predicted duration", top, format_duration),
        Axis("actual duration", top, format_duration), width=520, height=360)
    shown = ("every task" if len(misses) <= TABLE_ROWS else
             f"the {TABLE_ROWS} of {len(misses)} tasks whose durations missed the most "
             "(every task is a point in the chart; `makespan report --json` has them all)")
    note = (f'<p class="note">Predicted makespan {esc(_seconds(predicted.get("makespan")))}, '
            f'wall {esc(_seconds(document["wall"]))}. The table shows {esc(shown)}, largest '
            f"miss first; rows in orange took at least {SLOW:g}x their prediction.</p>")
    head = ('<tr><th class="name">task</th><th>status</th><th>predicted start</th>'
            "<th>start</th><th>predicted</th><th>took</th><th>took / predicted</th></tr>")
    return chart + note + f"<table>{head}{''.join(rows)}</table>"


def _miss_row(task: Mapping[str, Any], predicted_start: float | None, estimate: float | None,
              actual: float | None) -> str:
    ratio = actual / estimate if actual is not None and estimate else None
    slow = ' class="slow"' if ratio is not None and ratio >= SLOW else ""
    cells = [_seconds(predicted_start), _seconds(task["start"]), _seconds(estimate),
             _seconds(actual), "—" if ratio is None else f"{ratio:.2f}x"]
    return (f'<tr{slow}><td class="name">{esc(task["name"])}</td><td>{esc(task["status"])}'
            "</td>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")


def _seconds(value: float | None) -> str:
    return "—" if value is None else format_duration(value)
