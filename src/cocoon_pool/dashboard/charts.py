"""Small inline SVG charts drawn on the server: no chart library, nothing to download, and
they print and screenshot like the rest of the page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH = 480
HEIGHT = 240
PAD_LEFT = 52
PAD_RIGHT = 12
PAD_TOP = 14
PAD_BOTTOM = 30


@dataclass(frozen=True)
class Point:
    label: str
    """The x-axis label (an epoch number)."""
    value: float
    text: str
    """The value as shown in the tooltip."""


def _frame(title: str, body: list[str]) -> Markup:
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )
    return Markup(svg)  # every interpolated text above is escaped


def compact(value: float) -> str:
    """A tick label: 3 significant digits with k/M/G (598752000 -> 599M)."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _axes(top: float, unit: str) -> list[str]:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    parts: list[str] = []
    for i in range(5):
        y = PAD_TOP + plot_h * i / 4
        value = top * (4 - i) / 4
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" '
            f'y2="{y:.1f}"/><text class="tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{compact(value)}{escape(unit)}</text>'
        )
    return parts


def _x(i: int, n: int) -> float:
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    return PAD_LEFT + plot_w * (i + 0.5) / n


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    return PAD_TOP + plot_h * (1 - (value / top if top else 0))


def _empty(title: str) -> Markup:
    return _frame(
        title,
        [
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "no data yet</text>"
        ],
    )


def line_chart(title: str, points: Sequence[Point], *, top: float, unit: str = "") -> Markup:
    """A line over the points (top: the y-axis maximum, e.g. 100 for a percentage)."""
    if not points:
        return _empty(title)
    top = max(top, *(p.value for p in points)) or 1
    n = len(points)
    body = _axes(top, unit)
    coords = [(_x(i, n), _y(p.value, top)) for i, p in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    body.append(f'<polyline class="line" points="{path}"/>')
    for (x, y), p in zip(coords, points, strict=True):
        body.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="4"><title>{escape(p.label)}: '
            f"{escape(p.text)}</title></circle>"
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
            f"{escape(p.label)}</text>"
        )
    return _frame(title, body)


def bar_chart(title: str, points: Sequence[Point], *, unit: str = "") -> Markup:
    """One bar per point."""
    if not points:
        return _empty(title)
    top = max(p.value for p in points) or 1
    n = len(points)
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / n
    bar = min(slot * 0.6, 48)
    body = _axes(top, unit)
    for i, p in enumerate(points):
        x, y = _x(i, n), _y(p.value, top)
        body.append(
            f'<rect class="bar" x="{x - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
            f'height="{HEIGHT - PAD_BOTTOM - y:.1f}"><title>{escape(p.label)}: '
            f"{escape(p.text)}</title></rect>"
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
            f"{escape(p.label)}</text>"
        )
    return _frame(title, body)
