"""README.md and docs/*.md quote the benchmark results that benchmarks/results/*.json hold:
every marked block must be what ``benchmarks/readme_tables.py`` renders from the JSON."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "readme_tables", ROOT / "benchmarks" / "readme_tables.py"
)
readme_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_tables)


def _row(model, ndcg, recall, ndcg_ci, recall_ci, precision, hitrate, coverage, fit, top):
    return {
        "model": model,
        "fit_seconds": fit,
        "recommend_seconds": top,
        "metrics": {
            "ndcg@10": ndcg,
            "recall@20": recall,
            "precision@10": precision,
            "hitrate@10": hitrate,
            "coverage@10": coverage,
        },
        "intervals": {"ndcg@10": ndcg_ci, "recall@20": recall_ci},
    }


def test_readme_and_docs_match_the_benchmark_results():
    problems = readme_tables.check()
    assert not problems, (
        "README.md or docs/*.md differ from benchmarks/results/*.json; run "
        "`python benchmarks/readme_tables.py` to rewrite them:\n" + "\n".join(problems)
    )


def test_baselines_table_from_a_hand_made_result():
    data = {
        "protocol": {"ks": [10, 20]},
        "results": [
            _row(
                "most_popular",
                0.0,
                0.01,
                [0.0, 0.0],
                [0.0049, 0.0151],
                0.002,
                0.0625,
                0.4225,
                0.001,
                0.024,
            ),
            _row(
                "ease",
                0.05605,
                0.14345,
                [0.04, 0.07249],
                [0.1, 0.2],
                0.02164,
                0.2,
                0.5,
                1.2351,
                12.0,
            ),
        ],
    }
    lines = readme_tables.baselines_table(data).splitlines()
    assert lines[0] == (
        "| model | NDCG@10 | Recall@20 | Precision@10 | HitRate@10 | Coverage@10 | fit"
        " | top-20, all users |"
    )
    assert lines[2:] == [
        # half up on the JSON digits: 0.0625 -> 0.063, 0.4225 -> 0.423, 0.0049 -> 0.005
        "| most-popular | 0 (0.000–0.000) | 0.0100 (0.005–0.015) | 0.0020 | 0.063 | 0.423"
        " | 0.00 s | 0.02 s |",
        # the best NDCG@10 and Recall@20 are bold; 0.05605 -> 0.0561, 0.14345 -> 0.1435
        "| EASE | **0.0561** (0.040–0.072) | **0.1435** (0.100–0.200) | 0.0216 | 0.200 | 0.500"
        " | 1.24 s | 12.00 s |",
    ]


def test_ranking_rows_best_first_and_identical_sources_merged():
    popular = _row(
        "source:popular_recent", 0.02, 0.03, [0.01, 0.03], [0.02, 0.04], 0, 0, 0, None, 0.1
    )
    data = {
        "candidates": {
            "n_per_source": {"popular_recent": 30, "popular_category": 30, "ease": 100},
            "test_recall": {
                "popular_recent": 0.0793,
                "popular_category": 0.0793,
                "ease": 0.2635,
                "union": 0.4,
                "union_size": 231.5,
            },
        },
        "results": [
            popular,
            {**popular, "model": "source:popular_category"},
            _row("ease", 0.07, 0.1, [0.06, 0.08], [0.09, 0.11], 0, 0, 0, 1.0, 0.5),
            _row("two_stage", 0.1, 0.12, [0.09, 0.11], [0.1, 0.13], 0, 0, 0, 30.0, 1.5),
        ],
    }
    rows = [(label, text) for label, _, text in readme_tables.ranking_rows(data)]
    assert rows == [
        ("two-stage", "union 0.400 (232 items)"),
        ("EASE", "0.264 @100"),
        ("recent popularity, per-category popularity (identical)", "0.079 @30"),
    ]


def test_rewrite_replaces_only_what_is_between_the_markers():
    machine = {"cpu": "Some CPU", "cores": 4, "memory": "8 GiB"}
    results = {f"baselines_{d}": {"machine": machine} for d in ("online_retail", "synthetic")}
    text = (
        "Run on <!-- results:baselines_machine -->an old machine<!-- /results:baselines_machine -->"
        ", shared.\n"
    )
    assert readme_tables.rewrite(text, results) == (
        "Run on <!-- results:baselines_machine -->Some CPU, 4 cores, 8 GiB"
        "<!-- /results:baselines_machine -->, shared.\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        "<!-- results:no_such_block -->x<!-- /results:no_such_block -->",
        "<!-- results:ranking -->x",
        "<!-- results:ranking -->x<!-- /results:retrieval -->",
    ],
)
def test_bad_markers_are_refused(text):
    with pytest.raises(ValueError):
        readme_tables.block_names(text)


def _scale_step(frm, to, ratio, same):
    return {
        "from_millions": frm,
        "to_millions": to,
        "events_ratio": 2.5,
        "time_ratio": 2.5 * ratio,
        "time_over_events": ratio,
        "same_commit": same,
        "goal_met": ratio <= 1.2 if same else None,
    }


def test_scale_summary_judges_only_sizes_of_one_commit_and_the_goal_at_its_size():
    summary = {
        "largest_millions": 50,
        "largest_completed_on_dask": False,
        "largest_dask_peak_gib": 9.46,
        "goal_millions": 50,
        "peak_goal_met": False,
    }
    steps = [_scale_step(5, 20, 1.3, True), _scale_step(20, 50, 0.5, False)]
    text = readme_tables.scale_summary({"scale": {"scaling": {"dask": steps}, "summary": summary}})
    assert "(1.30; goal ≤ 1.2: **not met**)" in text
    assert "(0.50; measured at different commits: not judged)" in text
    assert "peak 9.5 GiB on the dask engine (it did not complete: see the table)" in text
    assert "under 16 GiB): **not met**." in text
    summary.update(largest_millions=20, largest_completed_on_dask=True)
    text = readme_tables.scale_summary({"scale": {"scaling": {}, "summary": summary}})
    assert text == "Largest size run: 20M events, peak 9.5 GiB on the dask engine."
