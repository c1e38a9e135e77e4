"""Charts for the dashboard as inline SVG: drawn on the server, so the page needs no script and no CDN.

Each function returns markup safe to embed (every text it writes is escaped).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from html import escape

from markupsafe import Markup

# One colour per series, readable on white and distinct for the common kinds of colour blindness.
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#a463f2", "#97bbf5")

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value`: 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value * (1 - 1e-9))


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _frame(title: str, y_max: float, unit: str) -> list[str]:
    inner_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for k in range(5):
        y = TOP + inner_h * (1 - k / 4)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        label = _fmt(round(y_max * k / 4, 6)) + (unit if k == 4 else "")
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{escape(label)}</text>'
        )
    return parts


def stacked_bars(
    title: str, hours: Sequence[datetime], series: dict[str, Sequence[int]], *, unit: str = ""
) -> Markup:
    """One bar per hour, its segments the series stacked in order; a day's first hour is labelled."""
    n = len(hours)
    totals = [sum(values[i] for values in series.values()) for i in range(n)]
    y_max = _nice_max(max(totals, default=0))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(n, 1)
    parts = _frame(title, y_max, unit)
    for i, hour in enumerate(hours):
        x = LEFT + i * step
        base = 0
        for (name, values), colour in zip(series.items(), PALETTE, strict=False):
            v = values[i]
            if v:
                h = inner_h * v / y_max
                y = TOP + inner_h * (1 - (base + v) / y_max)
                tip = escape(f"{hour:%a %d %b %H:00} UTC: {v} {name}")
                parts.append(
                    f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(step - 0.5, 0.5):.2f}" height="{h:.2f}" '
                    f'fill="{colour}"><title>{tip}</title></rect>'
                )
                base += v
        if hour.hour == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 8}" class="tick">{escape(f"{hour:%a %d %b}")}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def line(
    title: str, xs: Sequence[int], ys: Sequence[float | None], *, colour: str = PALETTE[0], unit: str = ""
) -> Markup:
    """A line over integer x (model versions); a missing y breaks the line, each point has a dot."""
    known = [y for y in ys if y is not None]
    y_max = _nice_max(max(known, default=0))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    lo, hi = (min(xs), max(xs)) if xs else (0, 1)
    span = max(hi - lo, 1)

    def at(x: int, y: float) -> tuple[float, float]:
        px = LEFT + inner_w * (x - lo) / span if len(xs) > 1 else LEFT + inner_w / 2
        return px, TOP + inner_h * (1 - y / y_max)

    parts = _frame(title, y_max, unit)
    path: list[str] = []
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            path.append("|")
            continue
        px, py = at(x, y)
        path.append(f"{px:.1f},{py:.1f}")
        parts.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
            f"<title>{escape(f'version {x}: {y:g}{unit}')}</title></circle>"
        )
    for run in " ".join(path).split("|"):
        points = run.split()
        if len(points) > 1:
            parts.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
    for x in sorted({xs[0], xs[-1]} if xs else set()):
        px, _ = at(x, 0)
        parts.append(f'<text x="{px:.1f}" y="{HEIGHT - 8}" class="tick" text-anchor="middle">v{x}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
