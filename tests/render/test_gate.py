"""The gate verdict: one row per check, a failing one with its detail."""

from __future__ import annotations

from shoprec.render.gate import gate_table
from shoprec.render.table import to_markdown

GATE = {
    "model": "two_stage",
    "metric": "ndcg@10",
    "passed": False,
    "checks": [
        {
            "name": "floor ndcg@10",
            "value": 0.012345,
            "threshold": "≥ 0.02",
            "passed": False,
            "detail": "ndcg@10 0.012345 below the floor 0.02",
        },
        {
            "name": "lift over production",
            "value": None,
            "threshold": "no production model yet",
            "passed": True,
            "detail": "",
        },
        {"name": "model size (MB)", "value": 1.5, "threshold": "≤ 200", "passed": True},
    ],
}


def test_each_check_is_a_row_and_a_failure_shows_its_detail():
    table = gate_table(GATE)
    assert table.title.text == "Evaluation gate for two_stage: FAILED"
    assert table.headers == ["check", "value", "threshold", "verdict"]
    assert table.texts() == [
        ["floor ndcg@10", "0.0123", "≥ 0.02", "fail ndcg@10 0.012345 below the floor 0.02"],
        ["lift over production", "—", "no production model yet", "pass"],
        ["model size (MB)", "1.5000", "≤ 200", "pass"],
    ]
    assert [s.style for s in table.rows[0][3].spans] == ["bad", ""]


def test_the_verdict_comes_from_the_checks_when_the_dict_does_not_say():
    checks = [{"name": "c", "value": 1.0, "threshold": "t", "passed": True}]
    assert gate_table({"model": "m", "checks": checks}).title.text.endswith(": PASSED")
    failing = [{**checks[0], "passed": False}]  # no detail: just "fail"
    table = gate_table({"model": "m", "checks": failing})
    assert table.title.text.endswith(": FAILED") and table.column("verdict") == ["fail"]


def test_markdown_marks_the_failure():
    lines = to_markdown(gate_table(GATE)).splitlines()
    assert lines[0] == "# Evaluation gate for two_stage: **FAILED**"
    assert (
        "| floor ndcg@10 | 0.0123 | ≥ 0.02 | **fail** ndcg@10 0.012345 below the floor 0.02 |"
        in lines
    )
