"""Inline SVG charts for the console: K curves, grouped bars and one interval on a number line.

No JavaScript and no build step: each function returns an ``<svg>`` string (every text
escaped) that the page embeds. Colours follow the role of a series: the candidate blue,
production green, the baseline grey. Each point and bar carries a ``<title>`` (the browser's
tooltip) with its value and interval.
"""

from __future__ import annotations

from html import escape

from shoprec.console.views import Chart, Measure

COLOURS = {"candidate": "#2563eb", "production": "#16a34a", "baseline": "#6b7280"}
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _tip(label: str, where: str, m: Measure) -> str:
    interval = f" [{_fmt(m.interval[0])}, {_fmt(m.interval[1])}]" if m.interval else ""
    return escape(f"{label} {where}: {_fmt(m.value)}{interval}")


def _top(chart: Chart) -> float:
    highs = [
        (m.interval[1] if m.interval else m.value)
        for s in chart.series
        for m in s.values
        if m.value is not None
    ]
    top = max(highs, default=0.0)
    return top * 1.1 if top > 0 else 1.0


def _legend(chart: Chart, x: float, y: float) -> list[str]:
    out = []
    for s in chart.series:
        colour = COLOURS.get(s.role, "#000")
        out.append(f'<rect x="{x:.1f}" y="{y - 8:.1f}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y:.1f}" {FONT}>{escape(s.label)}</text>')
        x += 22 + 6.2 * len(s.label)
    return out


def line_chart(chart: Chart, width: int = 460, height: int = 260) -> str:
    """One line per series over the K of ``chart.labels``, with interval whiskers."""
    left, right, top_margin, bottom = 52, 14, 34, 34
    plot_w, plot_h = width - left - right, height - top_margin - bottom
    top = _top(chart)
    n = len(chart.labels)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return top_margin + plot_h * (1 - v / top)

    parts = _frame(chart, width, height, left, top_margin, plot_w, plot_h, top)
    for i, label in enumerate(chart.labels):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" {FONT}>'
            f"K={escape(label)}</text>"
        )
    for j, s in enumerate(chart.series):
        colour = COLOURS.get(s.role, "#000")
        offset = (j - (len(chart.series) - 1) / 2) * 4  # whiskers side by side
        points = [(i, x(i) + offset, m) for i, m in enumerate(s.values) if m.value is not None]
        if len(points) > 1:
            line = " ".join(f"{px:.1f},{y(m.value):.1f}" for _, px, m in points)
            parts.append(
                f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for i, px, m in points:
            tip = _tip(s.label, f"K={chart.labels[i]}", m)
            if m.interval:
                lo, hi = y(m.interval[0]), y(m.interval[1])
                parts.append(
                    f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{lo:.1f}" y2="{hi:.1f}" '
                    f'stroke="{colour}" stroke-width="1.2"/>'
                )
            parts.append(
                f'<circle cx="{px:.1f}" cy="{y(m.value):.1f}" r="3.5" fill="{colour}">'
                f"<title>{tip}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(chart: Chart, width: int = 620) -> str:
    """Horizontal grouped bars: one group per label (a fold, a segment), one bar per series."""
    left, right, top_margin = 190, 60, 34
    bar_h, gap = 11, 10
    per_group = bar_h * len(chart.series) + gap
    plot_w = width - left - right
    height = top_margin + per_group * len(chart.labels) + 24
    top = _top(chart)

    def w(v: float) -> float:
        return plot_w * max(v, 0.0) / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(chart.title)}</title>",
        f'<text x="4" y="14" {FONT} font-weight="600">{escape(chart.title)}</text>',
        *_legend(chart, left, 28),
        f'<line x1="{left}" x2="{left}" y1="{top_margin - 4}" y2="{height - 20}" stroke="#999"/>',
    ]
    for g, label in enumerate(chart.labels):
        y0 = top_margin + g * per_group
        parts.append(
            f'<text x="{left - 6}" y="{y0 + per_group / 2:.1f}" text-anchor="end" {FONT}>'
            f"{escape(label)}</text>"
        )
        for j, s in enumerate(chart.series):
            m = s.values[g]
            yb = y0 + j * bar_h
            colour = COLOURS.get(s.role, "#000")
            if m.value is None:
                parts.append(
                    f'<text x="{left + 4}" y="{yb + bar_h - 2}" {FONT} fill="#999">'
                    f"{escape(s.label)}: —</text>"
                )
                continue
            tip = _tip(s.label, label, m)
            parts.append(
                f'<rect x="{left}" y="{yb:.1f}" width="{w(m.value):.1f}" height="{bar_h - 2}" '
                f'fill="{colour}"><title>{tip}</title></rect>'
            )
            if m.interval:
                parts.append(
                    f'<line x1="{left + w(m.interval[0]):.1f}" x2="{left + w(m.interval[1]):.1f}" '
                    f'y1="{yb + bar_h / 2 - 1:.1f}" y2="{yb + bar_h / 2 - 1:.1f}" stroke="#111"/>'
                )
            parts.append(
                f'<text x="{left + w(m.value) + 4:.1f}" y="{yb + bar_h - 2}" {FONT}>'
                f"{_fmt(m.value)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(
    diff: float, low: float, high: float, label: str, width: int = 460, height: int = 70
) -> str:
    """The paired difference and its interval on a number line through zero."""
    lo, hi = min(low, 0.0), max(high, 0.0)
    pad = (hi - lo) * 0.15 or 0.01
    lo, hi = lo - pad, hi + pad
    left, right = 20, 20

    def x(v: float) -> float:
        return left + (width - left - right) * (v - lo) / (hi - lo)

    colour = "#16a34a" if low > 0 else ("#dc2626" if high < 0 else "#6b7280")
    tip = escape(f"{label}: {diff:+.4f} [{low:+.4f}, {high:+.4f}]")
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
            f"<title>{escape(label)}</title>",
            f'<line x1="{left}" x2="{width - right}" y1="35" y2="35" stroke="#999"/>',
            f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="18" y2="52" stroke="#111" '
            'stroke-dasharray="3 2"/>',
            f'<text x="{x(0):.1f}" y="64" text-anchor="middle" {FONT}>0</text>',
            f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="35" y2="35" stroke="{colour}" '
            'stroke-width="6"/>',
            f'<circle cx="{x(diff):.1f}" cy="35" r="5" fill="#111"><title>{tip}</title></circle>',
            f'<text x="{x(low):.1f}" y="16" text-anchor="middle" {FONT}>{low:+.4f}</text>',
            f'<text x="{x(high):.1f}" y="16" text-anchor="middle" {FONT}>{high:+.4f}</text>',
            "</svg>",
        ]
    )


def _frame(chart, width, height, left, top_margin, plot_w, plot_h, top) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(chart.title)}</title>",
        f'<text x="4" y="14" {FONT} font-weight="600">{escape(chart.title)}</text>',
        *_legend(chart, left, 28),
    ]
    for tick in range(5):
        v = top * tick / 4
        ty = top_margin + plot_h * (1 - tick / 4)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#e5e7eb"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{ty + 4:.1f}" text-anchor="end" {FONT}>{v:.3f}</text>'
        )
    return parts
