"""The neutral table and its three outputs: structure kept, every text escaped."""

from __future__ import annotations

import pytest
from rich.console import Console

from shoprec.render.table import Column, Table, cell, to_html, to_markdown, to_rich


def small() -> Table:
    return Table(
        title=cell("Verdict: ", ("rejected", "bad")),
        columns=[Column("name", key=True), Column("count", numeric=True)],
        rows=[[cell("a|b"), cell("1,234")], [cell(("<script>x</script>", "muted")), "5"]],
        notes=["a note & more"],
    )


def rich_text(table: Table) -> str:
    console = Console(width=120, record=True, color_system=None)
    console.print(to_rich(table))
    return console.export_text()


def test_cells_keep_their_spans_and_plain_text():
    value = cell("0.1234", (" [0.1000, 0.2000]", "muted"))
    assert value.text == "0.1234 [0.1000, 0.2000]"
    assert [s.style for s in value.spans] == ["", "muted"]
    assert small().texts() == [["a|b", "1,234"], ["<script>x</script>", "5"]]
    assert small().column("count") == ["1,234", "5"]


def test_a_row_of_the_wrong_width_and_an_unknown_style_are_refused():
    with pytest.raises(ValueError, match="2 cells in a table of 1"):
        Table("t", [Column("a")], [["x", "y"]])
    with pytest.raises(ValueError, match="unknown style"):
        cell(("x", "blink"))


def test_markdown_has_a_heading_a_table_and_the_notes():
    lines = to_markdown(small()).splitlines()
    assert lines[0] == "# Verdict: **rejected**"
    assert lines[2] == "| name | count |"
    assert lines[3] == "|---|---|"
    assert lines[4] == "| a\\|b | 1,234 |"  # a pipe in a cell does not split it
    assert lines[5] == "| &lt;script&gt;x&lt;/script&gt; | 5 |"
    assert lines[-1] == "- a note & more"
    assert not to_markdown(small(), heading=None).startswith("#")


def test_markdown_headers_may_be_empty_and_code_is_backticked():
    table = Table("", [Column(""), Column("")], [["output", cell(("s3://b/p", "code"))]])
    assert to_markdown(table).splitlines() == ["| | |", "|---|---|", "| output | `s3://b/p` |"]


def test_html_escapes_every_text_and_marks_numbers_and_styles():
    page = to_html(small())
    assert "<script>" not in page
    assert '<span class="muted">&lt;script&gt;x&lt;/script&gt;</span>' in page
    assert '<h2>Verdict: <span class="bad">rejected</span></h2>' in page
    assert "<tr><th>name</th><th>count</th></tr>" in page
    assert '<tr><td>a|b</td><td class="num">1,234</td></tr>' in page
    assert '<ul class="notes"><li>a note &amp; more</li></ul>' in page
    assert "<h2>" not in to_html(small(), heading=None)


def test_rich_shows_the_text_as_it_is_never_as_markup():
    table = Table("[red]t[/red]", [Column("a")], [["[bold]x[/bold]"]], ["the note"])
    shown = rich_text(table)
    assert "[red]t[/red]" in shown and "[bold]x[/bold]" in shown
    assert "the note" in shown
    rich = to_rich(small())
    assert [c.justify for c in rich.columns] == ["left", "right"]
    assert rich.columns[0].style == "bold"
