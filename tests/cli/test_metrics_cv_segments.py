"""``shoprec metrics --cv`` and ``--segments``: the tables from the files, or one clear error."""

from __future__ import annotations

import json

from tests.cli.helpers import invoke


def write(root, name, data):
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics" / name).write_text(json.dumps(data))


def test_cv_and_segments_print_their_tables(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fold = {"window": {}, "test_users": 7, "metrics": {"itemknn": {"ndcg@10": 0.4321}}}
    write(tmp_path, "cv.json", {"folds": {"0": fold}, "summary": {}})
    write(
        tmp_path,
        "segments.json",
        {"models": {"itemknn": {"users": {"arrival:new": {"users": 3, "ndcg@10": 0.1234}}}}},
    )
    out = invoke("metrics", "--cv")
    assert out.exit_code == 0, out.output
    assert "0.4321" in out.stdout and "itemknn" in out.stdout
    out = invoke("metrics", "--segments")
    assert out.exit_code == 0, out.output
    assert "arrival:new" in out.stdout and "0.1234" in out.stdout


def test_a_missing_file_is_one_line_saying_which_stage_writes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = invoke("metrics", "--cv")
    assert out.exit_code == 1
    assert "metrics/cv.json is missing" in out.stderr and "evaluation.cv.folds" in out.stderr
    out = invoke("metrics", "--segments")
    assert out.exit_code == 1 and "dvc repro evaluate" in out.stderr
