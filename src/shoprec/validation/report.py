"""The human report of a validation run: one self-contained HTML page, plus the JSON summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shoprec.io import write_json
from shoprec.render.page import escape as _e
from shoprec.render.page import report_page
from shoprec.render.table import to_html
from shoprec.render.validation import expectations_table, validation_table

REPORT_HTML = "index.html"
SUMMARY_JSON = "summary.json"


def render_html(summary: dict[str, Any], title: str = "shoprec data validation") -> str:
    """The page: the verdict, the validation summary table (``shoprec.render.validation``, as
    the CLI and the training flow show it) with its notes, then every expectation."""
    verdict = (
        '<div class="verdict ok">Batch accepted.</div>'
        if summary["accepted"]
        else f'<div class="verdict bad">Batch rejected: {_e(summary["message"])}</div>'
    )
    compared = summary.get("compared_with")
    body = f"""<p class="muted">Compared with the previous accepted batch:
{_e(compared) if compared else "none"}.</p>
{verdict}
<h2>Rows</h2>
{to_html(validation_table(summary), heading=None)}
{to_html(expectations_table(summary), heading=2)}"""
    return report_page(title, body)


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
