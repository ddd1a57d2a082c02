"""``shoprec batch score``: resumable after a SIGKILL, a clash in one line, and its options."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pandas as pd

from shoprec.batch_scoring.score import (
    SUCCESS_FILE,
    model_fingerprint,
)
from tests.batches import (
    SCORE,
    fit_itemknn,
    synthetic_events,
    write_project,
)

USERS, CHUNKS = 1200, 300  # chunks of 4 users: many small parts, so the kill lands mid-run


def test_the_cli_resumes_after_a_sigkill(tmp_path):
    events = synthetic_events(USERS, 300, per_user=5, seed=2)
    events.to_parquet(tmp_path / "events.parquet", index=False)
    fit_itemknn(events, 300).save(tmp_path / "model")
    batch = {"events": str(tmp_path / "events.parquet"), "active_days": 0}
    params = write_project(tmp_path / "project", batch)
    command = [
        *SCORE,
        *("--model-dir", str(tmp_path / "model"), "--output", "out", "-p", str(params)),
        *("--chunk-size", "4", "--k", "5"),
    ]
    fingerprint = model_fingerprint(tmp_path / "model")
    run_dir = tmp_path / "out" / f"2026-03-01_itemknn-local-{fingerprint[:8]}"
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(run_dir.glob("part-*.parquet"))) < 5:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no parts appeared"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in run_dir.glob("part-*")}
    assert 5 <= len(before) < CHUNKS, (
        "the run must be killed half-way for this test to mean anything"
    )
    assert not (run_dir / SUCCESS_FILE).exists()

    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "already there" in done.stdout
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in run_dir.glob("part-*")}
    assert len(after) == CHUNKS and all(after[name] == same for name, same in before.items())
    success = json.loads((run_dir / SUCCESS_FILE).read_text())
    assert success["chunks_skipped"] == len(before) > 0
    assert success["chunks_written"] == CHUNKS - len(before)
    table = pd.read_parquet(run_dir)  # the _files are skipped by Parquet readers
    assert table["user_id"].value_counts().eq(5).all() and table["user_id"].nunique() == USERS
    assert len(table) == success["rows"] == USERS * 5
    assert not list(run_dir.glob(".*"))  # the killed run's temporary file is gone


def test_the_cli_explains_a_clash_in_one_line(batch_shop, tmp_path):
    from typer.testing import CliRunner

    from shoprec.cli import app

    params = write_project(tmp_path / "project", {"events": str(batch_shop["events"])})
    base = ["batch", "score", "--model-dir", str(batch_shop["dir"]), "-p", str(params)]
    base += ["--output", str(tmp_path / "out")]
    runner = CliRunner()
    first = runner.invoke(app, [*base, "-k", "4"])
    assert first.exit_code == 0, first.output
    assert "450 users" in first.stdout  # u % 40 < 30: active within batch_scoring.active_days
    clash = runner.invoke(app, [*base, "-k", "6"])
    assert clash.exit_code == 1
    assert clash.stderr.startswith("error:") and "holds another batch" in clash.stderr
    assert len(clash.stderr.strip().splitlines()) == 1
    empty = runner.invoke(app, ["batch", "score", "-p", str(params)])  # nothing promoted yet
    assert empty.exit_code == 1 and "has no 'production' version" in empty.stderr


def test_the_batch_command_has_help():
    from typer.testing import CliRunner

    from shoprec.cli import app

    result = CliRunner().invoke(app, ["batch", "score", "--help"])
    assert result.exit_code == 0
    assert all(o in result.stdout for o in ("--output", "--k", "--chunk-size", "--model-dir"))
