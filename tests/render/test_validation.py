"""The validation summary: counts with thousands separators, reasons, the verdict, escaping."""

from __future__ import annotations

from shoprec.render.table import to_html, to_markdown
from shoprec.render.validation import expectations_table, validation_table
from shoprec.validation.report import render_html

SUMMARY = {
    "accepted": False,
    "message": "events rejected by suite 'events': <script>alert(1)</script>",
    "counts": {
        "items": {"in": 2000, "accepted": 2000, "quarantined": 0},
        "events": {"in": 1234567, "accepted": 1233000, "quarantined": 1567},
    },
    "quarantine_reasons": {
        "items": {},
        "events": {"unknown_event_type": 1500, "<script>bad()</script>": 67},
    },
    "compared_with": "1,200,000 events, 2,000 items",
    "suites": [
        {
            "suite": "events",
            "table": "events",
            "level": "row",
            "rows": 1234567,
            "success": False,
            "expectations": 15,
            "failed": [
                {
                    "expectation": "expect_column_values_to_be_in_set",
                    "column": "event_type",
                    "unexpected_count": 1500,
                    "examples": ["<b>oops</b>", "x"],
                    "observed_value": None,
                }
            ],
            "skipped": ["volume: no previous accepted batch"],
        },
        {
            "suite": "items",
            "table": "items",
            "level": "batch",
            "rows": 2000,
            "success": True,
            "expectations": 3,
            "failed": [],
            "skipped": [],
        },
    ],
    "notes": ["no previous accepted batch: volume and mix not compared"],
}


def test_counts_have_thousands_separators_and_reasons_their_rows():
    table = validation_table(SUMMARY)
    assert table.headers == ["table", "in", "accepted", "quarantined", "reasons"]
    assert table.texts() == [
        ["items", "2,000", "2,000", "0", "—"],
        [
            "events",
            "1,234,567",
            "1,233,000",
            "1,567",
            "unknown_event_type 1,500, <script>bad()</script> 67",
        ],
    ]
    assert table.notes == ["no previous accepted batch: volume and mix not compared"]


def test_the_title_is_the_verdict():
    assert validation_table(SUMMARY).title.text == (
        "Data validation: rejected: events rejected by suite 'events': <script>alert(1)</script>"
    )
    accepted = {**SUMMARY, "accepted": True, "message": None}
    assert validation_table(accepted).title.text == "Data validation: accepted"


def test_markdown_escapes_a_reason_and_keeps_the_counts():
    markdown = to_markdown(validation_table(SUMMARY))
    assert markdown.startswith("# Data validation: **rejected**: events rejected by suite")
    assert "<script>" not in markdown
    assert "| events | 1,234,567 | 1,233,000 | 1,567 | unknown_event_type 1,500, " in markdown


def test_expectations_list_failures_examples_and_skips():
    table = expectations_table(SUMMARY)
    assert table.texts() == [
        ["events", "row rules", "1,234,567", "15", "failed"],
        ["", "expect_column_values_to_be_in_set", "event_type", "1500", "'<b>oops</b>', 'x'"],
        ["", "skipped: volume: no previous accepted batch", "", "", ""],
        ["items", "batch rules", "2,000", "3", "passed"],
    ]


def test_the_html_report_escapes_every_value_from_the_data():
    page = render_html(SUMMARY)
    assert "<script>" not in page and "<b>oops</b>" not in page
    assert "&lt;script&gt;bad()&lt;/script&gt; 67" in page
    assert "&#x27;&lt;b&gt;oops&lt;/b&gt;&#x27;" in page
    assert '<td class="num">1,234,567</td>' in page
    assert "Batch rejected: events rejected by suite" in page
    assert "<h2>Rows</h2>" in page and "<h2>Expectations</h2>" in page
    assert "<li>no previous accepted batch: volume and mix not compared</li>" in page
    assert to_html(validation_table(SUMMARY), heading=None) in page
