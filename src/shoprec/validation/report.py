"""The human report of a validation run: one self-contained HTML page, plus the JSON summary."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from shoprec.io import write_json

REPORT_HTML = "index.html"
SUMMARY_JSON = "summary.json"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:75rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}.num{text-align:right}
.ok{color:#17702a;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#777}
.verdict{padding:.8rem 1rem;border-radius:.4rem;margin:1rem 0}
.verdict.ok{background:#e7f6ea}.verdict.bad{background:#fde7ea}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(summary: dict[str, Any], title: str = "shoprec data validation") -> str:
    accepted = summary["accepted"]
    verdict = (
        '<div class="verdict ok">Batch accepted.</div>'
        if accepted
        else f'<div class="verdict bad">Batch rejected: {_e(summary["message"])}</div>'
    )
    counts = [
        [_e(t), f"{c['in']:,}", f"{c['accepted']:,}", f"{c['quarantined']:,}"]
        for t, c in summary["counts"].items()
    ]
    reasons = [
        [_e(t), _e(reason), f"{n:,}"]
        for t, by_reason in summary["quarantine_reasons"].items()
        for reason, n in by_reason.items()
    ]
    expectations = []
    for suite in summary["suites"]:
        failed = {(f["expectation"], f["column"]): f for f in suite["failed"]}
        level = "row rules" if suite.get("level") == "row" else "batch rules"
        status = (
            '<span class="ok">passed</span>'
            if suite["success"]
            else '<span class="bad">failed</span>'
        )
        expectations.append(
            [
                _e(suite["table"]),
                _e(level),
                f"{suite['rows']:,}",
                str(suite["expectations"]),
                status,
            ]
        )
        for f in failed.values():
            examples = ", ".join(repr(v) for v in f["examples"]) or _e(f["observed_value"])
            expectations.append(
                [
                    "",
                    f'<span class="bad">{_e(f["expectation"])}</span>',
                    _e(f["column"] or ""),
                    _e(f["unexpected_count"] if f["unexpected_count"] is not None else ""),
                    _e(examples),
                ]
            )
        for skipped in suite.get("skipped", []):
            expectations.append(
                ["", f'<span class="muted">skipped: {_e(skipped)}</span>', "", "", ""]
            )
    notes = "".join(f"<li>{_e(n)}</li>" for n in summary.get("notes", []))
    compared = summary.get("compared_with")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{_e(title)}</h1>
<p class="muted">Compared with the previous accepted batch:
{_e(compared) if compared else "none"}.</p>
{verdict}
<h2>Rows</h2>
{_table(["table", "rows in", "accepted", "quarantined"], counts, {1, 2, 3})}
<h2>Quarantine reasons</h2>
{_table(["table", "reason", "rows"], reasons, {2}) if reasons else "<p>None.</p>"}
<h2>Expectations</h2>
{
        _table(
            [
                "table",
                "suite / failed expectation",
                "rows / column",
                "expectations / unexpected",
                "status / examples",
            ],
            expectations,
        )
    }
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
</body></html>
"""


def write_report(summary: dict[str, Any], directory: str | Path) -> Path:
    """Write ``index.html`` and ``summary.json`` into ``directory``; returns the HTML path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / SUMMARY_JSON, summary)
    page = directory / REPORT_HTML
    tmp = page.with_suffix(".html.tmp")
    tmp.write_text(render_html(summary), encoding="utf-8")
    tmp.replace(page)
    return page
