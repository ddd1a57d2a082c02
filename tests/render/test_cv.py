"""The cross-validation table (``shoprec.render.cv``) on hand-made ``metrics/cv.json`` dicts:
every fold × model, the spread per model, chosen metrics, and a file without folds."""

from __future__ import annotations

from rich.console import Console

from shoprec.render.cv import NO_FOLDS, cv_table
from shoprec.render.table import to_markdown, to_rich


def fold(start: str, users: int, **models: dict) -> dict:
    return {
        "window": {"test_start": f"{start}T00:00:00+00:00", "test_end": f"{start}T23:00:00"},
        "test_users": users,
        "metrics": models,
    }


CV = {
    "folds": {
        "0": fold(
            "2026-02-02",
            95,
            ease={"ndcg@10": 0.1355, "recall@20": 0.3, "mrr@10": 0.2},
            two_stage={"ndcg@10": 0.16, "recall@20": 0.35},
        ),
        "1": fold(
            "2026-01-19",
            80,
            ease={"ndcg@10": 0.0858, "recall@20": 0.2},
            two_stage={"ndcg@10": 0.12, "recall@20": 0.25},
        ),
    },
    "summary": {
        "ease": {
            "ndcg@10": {"mean": 0.11065, "std": 0.035143, "min": 0.0858, "folds": 2},
            "recall@20": {"mean": 0.25, "std": 0.070711, "min": 0.2, "folds": 2},
        },
        "two_stage": {
            "ndcg@10": {"mean": 0.14, "std": 0.028284, "min": 0.12, "folds": 2},
            "recall@20": {"mean": 0.3, "std": 0.070711, "min": 0.25, "folds": 2},
        },
    },
}


def test_every_fold_and_model_has_a_row_then_one_spread_row_per_model():
    table = cv_table(CV)
    assert table.headers == ["fold", "model", "ndcg@10", "recall@20"]
    assert table.column("model") == ["ease", "two_stage"] * 3
    rows = table.texts()
    assert rows[1] == [
        "0 (test 2026-02-02 to 2026-02-02, 95 users)",
        "two_stage",
        "0.1600",
        "0.3500",
    ]
    assert rows[2][0].startswith("1 (test 2026-01-19") and rows[2][2:] == ["0.0858", "0.2000"]
    assert rows[4] == [
        "mean ± std (min)",
        "ease",
        "0.1106 ± 0.0351 (0.0858)",
        "0.2500 ± 0.0707 (0.2000)",
    ]
    assert rows[5][2] == "0.1400 ± 0.0283 (0.1200)"
    assert table.notes == []


def test_the_metrics_are_chosen_and_a_missing_one_is_a_dash():
    table = cv_table(CV, columns=("mrr@10",))
    assert table.headers == ["fold", "model", "mrr@10"]
    assert table.column("mrr@10") == ["0.2000", "—", "—", "—", "—", "—"]


def test_it_renders_to_markdown_and_to_rich():
    markdown = to_markdown(cv_table(CV))
    assert markdown.startswith("# Cross-validation folds")
    assert "| mean ± std (min) |" in markdown.replace("**", "") and "0.1355" in markdown
    console = Console(width=200, record=True)
    console.print(to_rich(cv_table(CV)))
    text = console.export_text()
    assert "0.1106 ± 0.0351 (0.0858)" in text and "two_stage" in text


def test_a_spread_without_std_or_min_still_shows_its_mean():
    cv = {"folds": CV["folds"], "summary": {"ease": {"ndcg@10": {"mean": 0.1, "folds": 1}}}}
    assert cv_table(cv).texts()[-1][2:] == ["0.1000", "—"]


def test_no_folds_gives_no_rows_and_the_files_note_or_a_default_one():
    note = "evaluation.cv.folds is empty: no cross-validation folds were run"
    table = cv_table({"folds": {}, "summary": {}, "note": note})
    assert table.rows == [] and table.notes == [note]
    assert note in to_markdown(table)
    assert cv_table({}).notes == [NO_FOLDS]
