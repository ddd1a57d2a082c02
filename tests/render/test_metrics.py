"""The metrics table: the columns some model has, values to four decimals with intervals."""

from __future__ import annotations

from shoprec.render.metrics import TITLE, metrics_table
from shoprec.render.table import to_html, to_markdown

METRICS = {
    "ease": {"ndcg@10": 0.0123456, "recall@20": 0.2, "map@10": 0.5},
    "most_popular": {"ndcg@10": 0.01, "recall@20": None},
}
INTERVALS = {"ease": {"ndcg@10": [0.01, 0.02], "recall@20": [0.15, None]}}


def test_rows_show_values_and_their_intervals():
    table = metrics_table(METRICS, INTERVALS)
    assert table.title.text == TITLE
    assert table.headers == ["model", "ndcg@10", "recall@20"]  # map@10 is not a shown column
    assert table.texts() == [
        ["ease", "0.0123 [0.0100, 0.0200]", "0.2000"],  # an interval with a missing bound: none
        ["most_popular", "0.0100", "—"],  # null in the JSON (a NaN metric)
    ]
    assert [s.style for s in table.rows[0][1].spans] == ["", "muted"]


def test_a_metric_no_model_has_is_left_out_and_the_order_is_the_columns():
    table = metrics_table({"a": {"novelty@10": 3.0, "ndcg@10": 0.1}}, None)
    assert table.headers == ["model", "ndcg@10", "novelty@10"]
    assert table.texts() == [["a", "0.1000", "3.0000"]]


def test_markdown_and_html_hold_the_same_cells():
    markdown = to_markdown(metrics_table(METRICS, INTERVALS))
    assert markdown.startswith(f"# {TITLE}\n")
    assert "| ease | 0.0123 [0.0100, 0.0200] | 0.2000 |" in markdown
    page = to_html(metrics_table(METRICS, INTERVALS))
    assert '<td class="num">0.0123<span class="muted"> [0.0100, 0.0200]</span></td>' in page
