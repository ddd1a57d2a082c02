"""A neutral table (title, columns, rows of styled cells, notes) and its three outputs.

Every table a person reads is built once, as a ``Table``, from the plain dicts the stages
write; the CLI prints ``to_rich``, the Prefect artifacts hold ``to_markdown`` and the HTML
reports embed ``to_html``. Cells carry meaning (``good``, ``bad``, ``muted``, ``strong``,
``code``), not colours: each output decides how to show it. Every output escapes the text it
is given, so a cell can hold anything a data file held.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is only imported by to_rich
    import rich.table
    import rich.text

STYLES = ("", "strong", "good", "bad", "muted", "code")
_RICH = {"strong": "bold", "good": "green", "bad": "red", "muted": "dim", "code": "cyan"}
_HTML = {
    "strong": ("<strong>", "</strong>"),
    "good": ('<span class="ok">', "</span>"),
    "bad": ('<span class="bad">', "</span>"),
    "muted": ('<span class="muted">', "</span>"),
    "code": ("<code>", "</code>"),
}


@dataclass(frozen=True)
class Span:
    text: str
    style: str = ""

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown style {self.style!r}; styles: {', '.join(STYLES[1:])}")


@dataclass(frozen=True)
class Cell:
    """The text of one cell (or a title), in spans that may each have a style."""

    spans: tuple[Span, ...] = ()

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.spans)

    def __str__(self) -> str:
        return self.text


def cell(*parts: str | tuple[str, str] | Span | Cell) -> Cell:
    """``cell("0.1234", (" [0.1, 0.2]", "muted"))``: plain strings, ``(text, style)`` pairs."""
    spans: list[Span] = []
    for part in parts:
        if isinstance(part, Cell):
            spans.extend(part.spans)
        elif isinstance(part, Span):
            spans.append(part)
        elif isinstance(part, tuple):
            spans.append(Span(*part))
        else:
            spans.append(Span(str(part)))
    return Cell(tuple(s for s in spans if s.text))


@dataclass(frozen=True)
class Column:
    name: str
    numeric: bool = False  # right-aligned, never wrapped
    key: bool = False  # the column that names the row (bold in a terminal)


@dataclass
class Table:
    title: Cell
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.title, Cell):
            self.title = cell(self.title)
        self.rows = [[c if isinstance(c, Cell) else cell(c) for c in row] for row in self.rows]
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"a row of {len(row)} cells in a table of {len(self.columns)}")

    @property
    def headers(self) -> list[str]:
        return [c.name for c in self.columns]

    def texts(self) -> list[list[str]]:
        """The rows as plain text (what every output shows, without styles)."""
        return [[c.text for c in row] for row in self.rows]

    def column(self, name: str) -> list[str]:
        """One column's cells as plain text."""
        i = self.headers.index(name)
        return [row[i].text for row in self.rows]


# -- rich ------------------------------------------------------------------------------------
def _rich_text(value: Cell) -> rich.text.Text:
    from rich.text import Text

    text = Text()
    for span in value.spans:
        text.append(span.text, style=_RICH.get(span.style, ""))
    return text


def to_rich(table: Table) -> rich.table.Table:
    """A rich table for the terminal; the notes are its caption. Text is never read as markup."""
    from rich.table import Table as RichTable

    out = RichTable(
        title=_rich_text(table.title) if table.title.spans else None,
        title_justify="left",
        caption="\n".join(table.notes) or None,
        caption_justify="left",
    )
    for column in table.columns:
        out.add_column(
            column.name,
            justify="right" if column.numeric else "left",
            no_wrap=column.numeric,
            style="bold" if column.key else None,
        )
    for row in table.rows:
        out.add_row(*(_rich_text(c) for c in row))
    return out


# -- Markdown --------------------------------------------------------------------------------
def _md_escape(text: str, code: bool = False) -> str:
    text = " ".join(text.splitlines()).replace("|", "\\|")
    if code:
        return text.replace("`", "'")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _md(value: Cell) -> str:
    out = []
    for span in value.spans:
        if span.style == "code":
            out.append(f"`{_md_escape(span.text, code=True)}`")
        elif span.style in ("strong", "bad") and span.text.strip():
            out.append(f"**{_md_escape(span.text)}**")
        else:
            out.append(_md_escape(span.text))
    return "".join(out)


def _md_row(cells: Iterable[str]) -> str:
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def to_markdown(table: Table, heading: int | None = 1) -> str:
    """GitHub-flavoured Markdown (the Prefect UI renders it): the title as a heading of level
    ``heading`` (None: no title), the table, then the notes as a list."""
    lines = []
    if heading and table.title.spans:
        lines += [f"{'#' * heading} {_md(table.title)}", ""]
    lines.append(_md_row(_md_escape(c.name) for c in table.columns))
    lines.append("|---" * len(table.columns) + "|")
    lines += [_md_row(_md(c) for c in row) for row in table.rows]
    if table.notes:
        lines += ["", *(f"- {_md_escape(n)}" for n in table.notes)]
    return "\n".join(lines)


# -- HTML ------------------------------------------------------------------------------------
def _html(value: Cell) -> str:
    out = []
    for span in value.spans:
        start, end = _HTML.get(span.style, ("", ""))
        out.append(f"{start}{html.escape(span.text)}{end}")
    return "".join(out)


def _html_row(tag: str, cells: Sequence[str], columns: Sequence[Column]) -> str:
    return (
        "<tr>"
        + "".join(
            f'<{tag} class="num">{c}</{tag}>'
            if col.numeric and tag == "td"
            else f"<{tag}>{c}</{tag}>"
            for c, col in zip(cells, columns, strict=True)
        )
        + "</tr>"
    )


def to_html(table: Table, heading: int | None = 2) -> str:
    """An HTML fragment, every text escaped: the title as ``<h{heading}>`` (None: no title),
    the ``<table>`` (numeric cells ``class="num"``), the notes as a list. Classes: ``ok``,
    ``bad``, ``muted``, ``num``, ``notes``."""
    parts = []
    if heading and table.title.spans:
        parts.append(f"<h{heading}>{_html(table.title)}</h{heading}>")
    head = _html_row("th", [html.escape(c.name) for c in table.columns], table.columns)
    body = "".join(_html_row("td", [_html(c) for c in row], table.columns) for row in table.rows)
    parts.append(f"<table>{head}{body}</table>")
    if table.notes:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in table.notes)
        parts.append(f'<ul class="notes">{notes}</ul>')
    return "\n".join(parts)
