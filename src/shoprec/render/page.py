"""The shell shared by shoprec's self-contained HTML reports (validation, monitoring): one
style sheet, escaping, and the page around a report's body. No scripts, nothing fetched."""

from __future__ import annotations

import html

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:75rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}.num{text-align:right}
.ok{color:#17702a;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#777}
.verdict{padding:.8rem 1rem;border-radius:.4rem;margin:1rem 0}
.verdict.ok{background:#e7f6ea}.verdict.bad{background:#fde7ea}.verdict.muted{background:#eee}
.notes{color:#777}figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.3rem}
"""


def escape(value: object) -> str:
    """HTML text of ``value`` (None is empty)."""
    return html.escape("" if value is None else str(value))


def report_page(title: str, body: str) -> str:
    """A whole HTML document: ``title`` as its title and first heading, then ``body``."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{escape(title)}</h1>
{body}
</body></html>
"""
