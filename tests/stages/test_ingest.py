"""The ingest stage script (pipelines/ingest.py, which runs shoprec.stages.ingest)."""

from __future__ import annotations

import subprocess
import sys

from tests.projects import REPO_ROOT


def test_a_stage_script_with_a_wrong_data_path_exits_1_with_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text(
        "data: {source: files, events: nowhere/events.csv, items: nowhere/items.csv}\n"
    )
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "pipelines/ingest.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "shoprec ingest: error: nowhere/events.csv: no such file" in proc.stderr
    assert "Traceback" not in proc.stderr
