"""The monitoring report a person reads: one self-contained HTML page (no scripts, inline SVG
bars of the shares that drift: reference against latest) and its JSON twin, written to
``monitoring.report_dir`` as ``<time>.html``/``<time>.json`` and ``latest.html``/``latest.json``.
"""

from __future__ import annotations

from pathlib import Path

from shoprec.io import write_json
from shoprec.monitoring.verdict import MonitoringReport
from shoprec.render.monitoring import monitoring_table
from shoprec.render.page import escape as _e
from shoprec.render.page import report_page
from shoprec.render.table import to_html, to_markdown

LATEST = "latest"
_COLOURS = ("#8aa1c1", "#d9822b")  # reference, latest
BAR_ROWS = 12  # the largest shares shown in a chart


def share_bars(title: str, reference: dict[str, float], latest: dict[str, float]) -> str:
    """Inline SVG: for each key, a bar of its reference share above one of its latest share."""
    keys = sorted(
        set(reference) | set(latest), key=lambda k: -max(reference.get(k, 0), latest.get(k, 0))
    )
    keys = keys[:BAR_ROWS]
    label_w, bar_w, row_h = 160, 420, 26
    top = max([*reference.values(), *latest.values(), 1e-9])
    parts = []
    for i, key in enumerate(keys):
        y = i * row_h + 18
        parts.append(f'<text x="0" y="{y + 11}" font-size="12">{_e(key)[:24]}</text>')
        for j, (shares, colour) in enumerate(zip((reference, latest), _COLOURS, strict=True)):
            share = shares.get(key, 0.0)
            width = bar_w * share / top
            parts.append(
                f'<rect x="{label_w}" y="{y + j * 10}" width="{width:.1f}" height="9" '
                f'fill="{colour}"/><text x="{label_w + width + 4:.1f}" y="{y + j * 10 + 8}" '
                f'font-size="9">{share:.1%}</text>'
            )
    legend = (
        f'<rect x="0" y="0" width="10" height="10" fill="{_COLOURS[0]}"/>'
        f'<text x="14" y="9" font-size="11">reference (training data)</text>'
        f'<rect x="180" y="0" width="10" height="10" fill="{_COLOURS[1]}"/>'
        f'<text x="194" y="9" font-size="11">latest</text>'
    )
    height = len(keys) * row_h + 24
    return (
        f"<figure><figcaption>{_e(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" '
        f'height="{height}" role="img">{legend}{"".join(parts)}</svg></figure>'
    )


def _charts(report: MonitoringReport) -> str:
    out = []
    for check in report.checks:
        for stat in check.statistics:
            ref, cur = stat.reference, stat.current
            if (
                isinstance(ref, dict)
                and isinstance(cur, dict)
                and stat.name
                in (
                    "event mix",
                    "category",
                )
            ):
                out.append(share_bars(f"{check.name}: {stat.name}", ref, cur))
    return "\n".join(out)


def render_html(report: MonitoringReport) -> str:
    data = report.to_dict()
    verdict = data["verdict"]
    style = {"ok": "ok", "breach": "bad"}.get(verdict, "muted")
    lines = "".join(f"<li>{_e(b)}</li>" for b in data["breaches"])
    summary = f"Breach:<ul>{lines}</ul>" if lines else verdict.capitalize() + "."
    counts = ", ".join(f"{v:,} {k}" for k, v in data["counts"].items())
    title = f"shoprec monitoring: {report.model} v{report.version}"
    body = f"""<p class="muted">{_e(report.window.get("since"))} → {_e(report.window.get("until"))}
({_e(counts)})</p>
<div class="verdict {style}">{summary}</div>
{to_html(monitoring_table(data), heading=None)}
{_charts(report)}"""
    return report_page(title, body)


def report_markdown(data: dict, link: str | None = None) -> str:
    """The verdict table as Markdown (the Prefect artifact), with a link to the HTML page."""
    text = to_markdown(monitoring_table(data))
    return text + (f"\n\n[The full report (HTML)]({link})" if link else "")


def write_report(report: MonitoringReport, directory: str | Path) -> Path:
    """Write the page and the JSON under ``directory`` (stamped and ``latest``); sets
    ``report.html`` and ``report.json``; returns the stamped HTML path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = report.time.replace(":", "").replace("-", "").split(".")[0].replace("+0000", "Z")
    page, doc = directory / f"{stamp}.html", directory / f"{stamp}.json"
    report.html, report.json = str(page), str(doc)
    text = render_html(report)
    data = report.to_dict()
    for path in (page, directory / f"{LATEST}.html"):
        path.write_text(text, encoding="utf-8")
    for path in (doc, directory / f"{LATEST}.json"):
        write_json(path, data)
    return page
