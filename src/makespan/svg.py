"""Small SVG charts drawn in Python, so the reports need no script and no charting library.

A chart is a few dozen elements whose text is all escaped (`esc`); the same markup works inline
in the HTML report and as a standalone `.svg` file (it names its own namespace). Writing it here
costs less than a dependency such as matplotlib and keeps the report one self-contained file.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Point = tuple[float, float]
Format = Callable[[float], str]

MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 28
MARGIN_BOTTOM = 40


def esc(text: object) -> str:
    """Text made safe for an element's content or a quoted attribute (HTML and XML alike)."""
    return html.escape(str(text), quote=True)


def ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (steps of 1, 2 or 5 times a power of ten)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    n = math.ceil(top / step - 1e-9)
    return [k * step for k in range(n + 1)]


def plain(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: Sequence[Point]
    color: str
    dashed: bool = False
    step: bool = False
    """Hold each value until the next point (a level that changes at instants)."""
    markers: bool = False
    line: bool = True
    tips: Sequence[str] = ()
    """Hover text for each point's marker."""


@dataclass(frozen=True, slots=True)
class Axis:
    label: str
    top: float | None = None
    """The largest value shown (None: fit the data)."""
    fmt: Format = plain


def line_chart(series: Sequence[Series], x: Axis, y: Axis, width: int = 760,
               height: int = 260, css_class: str = "chart") -> str:
    """An SVG chart of `series` on linear axes from 0, with grid lines and a legend."""
    xs = [p[0] for s in series for p in s.points]
    ys = [p[1] for s in series for p in s.points]
    x_ticks = ticks(x.top if x.top is not None else max(xs, default=1.0))
    y_ticks = ticks(y.top if y.top is not None else max(ys, default=1.0))
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM

    def px(value: float) -> float:
        return MARGIN_LEFT + value / x_ticks[-1] * plot_w

    def py(value: float) -> float:
        return MARGIN_TOP + plot_h - value / y_ticks[-1] * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="{esc(css_class)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" '
             'fill="#fff"/>']
    for value in y_ticks:
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" y1="{py(value):.1f}" '
                     f'y2="{py(value):.1f}" stroke="#ddd"/>'
                     f'<text x="{MARGIN_LEFT - 6}" y="{py(value) + 4:.1f}" '
                     f'text-anchor="end">{esc(y.fmt(value))}</text>')
    for value in x_ticks:
        parts.append(f'<line x1="{px(value):.1f}" x2="{px(value):.1f}" y1="{MARGIN_TOP}" '
                     f'y2="{MARGIN_TOP + plot_h}" stroke="#eee"/>'
                     f'<text x="{px(value):.1f}" y="{MARGIN_TOP + plot_h + 16}" '
                     f'text-anchor="middle">{esc(x.fmt(value))}</text>')
    parts.append(f'<text x="{MARGIN_LEFT + plot_w / 2:.1f}" y="{height - 6}" '
                 f'text-anchor="middle">{esc(x.label)}</text>'
                 f'<text transform="translate(14 {MARGIN_TOP + plot_h / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{esc(y.label)}</text>')
    for k, s in enumerate(series):
        points = _steps(s.points) if s.step else s.points
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        if s.line and points:
            coords = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in points)
            parts.append(f'<polyline fill="none" stroke="{esc(s.color)}" stroke-width="2"'
                         f'{dash} points="{coords}"/>')
        if s.markers:
            for i, (a, b) in enumerate(s.points):
                tip = f"<title>{esc(s.tips[i])}</title>" if i < len(s.tips) else ""
                parts.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3.5" '
                             f'fill="{esc(s.color)}">{tip}</circle>')
        lx = MARGIN_LEFT + 8 + 150 * k
        key = (f'<line x1="{lx}" x2="{lx + 18}" y1="12" y2="12" stroke="{esc(s.color)}" '
               f'stroke-width="2"{dash}/>' if s.line else
               f'<circle cx="{lx + 9}" cy="12" r="3.5" fill="{esc(s.color)}"/>')
        parts.append(f'{key}<text x="{lx + 22}" y="16">{esc(s.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _steps(points: Sequence[Point]) -> list[Point]:
    out: list[Point] = []
    for a, b in points:
        if out:
            out.append((a, out[-1][1]))
        out.append((a, b))
    return out
