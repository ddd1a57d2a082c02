"""``shoprec metrics --cv`` / ``--segments`` with ``--cv-path`` / ``--segments-path``: the
tables from any file, a file without folds, and one readable line for a missing or broken file."""

from __future__ import annotations

import json

from tests.cli.helpers import invoke, one_line_error

FOLD = {
    "window": {"test_start": "2026-02-02T00:00:00+00:00", "test_end": "2026-02-09T00:00:00"},
    "test_users": 42,
    "metrics": {"ease": {"ndcg@10": 0.1355, "recall@20": 0.3}},
}
CV = {
    "folds": {"0": FOLD},
    "summary": {
        "ease": {
            "ndcg@10": {"mean": 0.1355, "std": 0.0, "min": 0.1355, "folds": 1},
            "recall@20": {"mean": 0.3, "std": 0.0, "min": 0.3, "folds": 1},
        }
    },
}
SEGMENTS = {
    "segments": {"history_edges": [3, 10], "head_items": 0.2},
    "models": {
        "ease": {
            "users": {
                "history:1-2": {"users": 0},
                "arrival:returning": {"users": 9, "ndcg@10": 0.2468, "recall@20": 0.5},
            },
            "items": {"tail": {"users": 4, "targets": 6, "ndcg@10": 0.0123, "recall@20": 0.25}},
        }
    },
}


def write(path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_cv_path_and_segments_path_name_the_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing under ./metrics
    cv = write(tmp_path / "elsewhere" / "cv.json", CV)
    segments = write(tmp_path / "elsewhere" / "seg.json", SEGMENTS)
    out = invoke("metrics", "--cv", "--cv-path", cv)
    assert out.exit_code == 0, out.output
    assert "Cross-validation folds" in out.stdout
    assert "0 (test 2026-02-02 to 2026-02-09, 42 users)" in out.stdout
    assert "0.1355 ± 0.0000 (0.1355)" in out.stdout
    out = invoke("metrics", "--segments", "--segments-path", segments)
    assert out.exit_code == 0, out.output
    assert "user arrival:returning" in out.stdout and "0.2468" in out.stdout
    assert "item tail" in out.stdout and "0.0123" in out.stdout
    assert "—" in out.stdout  # the empty history:1-2 segment


def test_both_tables_at_once_from_the_default_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "metrics" / "cv.json", CV)
    write(tmp_path / "metrics" / "segments.json", SEGMENTS)
    out = invoke("metrics", "--cv", "--segments")
    assert out.exit_code == 0, out.output
    assert out.stdout.index("Cross-validation folds") < out.stdout.index("per segment")


def test_a_cv_file_without_folds_prints_its_note_not_an_empty_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    note = "evaluation.cv.folds is empty: no cross-validation folds were run"
    write(tmp_path / "metrics" / "cv.json", {"folds": {}, "summary": {}, "note": note})
    out = invoke("metrics", "--cv")
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == note


def test_a_missing_file_is_one_line_naming_the_stage_that_writes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert one_line_error(invoke("metrics", "--cv")) == (
        "error: metrics/cv.json is missing: list folds in evaluation.cv.folds and run "
        "`dvc repro cv`"
    )
    assert one_line_error(invoke("metrics", "--segments")) == (
        "error: metrics/segments.json is missing: run `dvc repro evaluate`"
    )
    line = one_line_error(invoke("metrics", "--cv", "--cv-path", "nowhere/cv.json"))
    assert "nowhere/cv.json is missing" in line


def test_a_broken_file_is_one_line_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "metrics" / "cv.json", "{not json")
    write(tmp_path / "metrics" / "segments.json", "[1, 2]")
    assert "metrics/cv.json is not valid JSON" in one_line_error(invoke("metrics", "--cv"))
    line = one_line_error(invoke("metrics", "--segments"))
    assert "metrics/segments.json is not a JSON object" in line


def test_without_the_flags_it_is_still_the_metrics_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "metrics" / "evaluation.json", {"ease": {"ndcg@10": 0.12345}})
    write(tmp_path / "metrics" / "cv.json", CV)
    out = invoke("metrics")
    assert out.exit_code == 0, out.output
    assert "Test metrics" in out.stdout and "0.1235" in out.stdout
    assert "Cross-validation" not in out.stdout
