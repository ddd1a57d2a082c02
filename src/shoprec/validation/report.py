"""The human report of a validation run: one self-contained HTML page, plus the JSON summary."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from shoprec.io import write_json
from shoprec.render.table import to_html
from shoprec.render.validation import expectations_table, validation_table

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
.notes{color:#777}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def render_html(summary: dict[str, Any], title: str = "shoprec data validation") -> str:
    """The page: the verdict, the validation summary table (``shoprec.render.validation``, as
    the CLI and the training flow show it) with its notes, then every expectation."""
    verdict = (
        '<div class="verdict ok">Batch accepted.</div>'
        if summary["accepted"]
        else f'<div class="verdict bad">Batch rejected: {_e(summary["message"])}</div>'
    )
    compared = summary.get("compared_with")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{_e(title)}</h1>
<p class="muted">Compared with the previous accepted batch:
{_e(compared) if compared else "none"}.</p>
{verdict}
<h2>Rows</h2>
{to_html(validation_table(summary), heading=None)}
{to_html(expectations_table(summary), heading=2)}
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
