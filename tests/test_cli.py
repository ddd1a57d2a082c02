"""The `shoprec` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.projects import REPO_ROOT

SHOPREC = [sys.executable, "-m", "shoprec"]
COMMANDS = [
    [],
    ["data"],
    ["data", "generate"],
    ["stage"],
    ["params"],
    ["metrics"],
    ["recommend"],
    ["registry"],
    *(["registry", c] for c in ("register", "list", "show", "approve", "reject", "promote")),
    *(["registry", c] for c in ("rollback", "verify", "lineage", "propose", "push-data")),
    ["serve"],
    ["batch"],
    ["batch", "score"],
    ["flow"],
    ["flow", "train"],
]


def shoprec(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*SHOPREC, *args], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "shoprec")
def test_every_command_has_clear_help(command):
    proc = shoprec(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: shoprec" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_top_level_help_lists_every_command():
    out = shoprec("--help").stdout
    names = [
        "data",
        "stage",
        "params",
        "metrics",
        "recommend",
        "registry",
        "serve",
        "batch",
        "flow",
    ]
    for name in names:
        assert name in out


def test_data_generate_writes_the_same_shop_for_the_same_seed(tmp_path):
    for out in ("a", "b"):
        proc = shoprec(
            "data",
            "generate",
            "--out",
            str(tmp_path / out),
            "--users",
            "200",
            "--items",
            "100",
            "--days",
            "14",
            "--seed",
            "5",
        )
        assert proc.returncode == 0, proc.stderr
        assert "events" in proc.stdout
    for name in ("events.parquet", "items.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "a" / name), pd.read_parquet(tmp_path / "b" / name)
        )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_wrong_paths_give_one_readable_line(tmp_path):
    assert "no such parameters file" in one_line_error(
        shoprec("params", "-p", str(tmp_path / "x.yaml"))
    )
    assert "not found" in one_line_error(shoprec("metrics", "--path", str(tmp_path / "m.json")))
    assert "flow not found" in one_line_error(
        shoprec("flow", "train", "--project-dir", str(tmp_path))
    )
    assert "unknown stage" in one_line_error(shoprec("stage", "bogus"))
    assert "not a saved model" in one_line_error(
        shoprec("recommend", "u1", "--model", str(tmp_path))
    )


def test_a_bad_param_gives_one_readable_line_naming_the_key(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("models:\n  ease:\n    l2: -1\n")
    line = one_line_error(shoprec("params", "-p", str(bad)))
    assert "models.ease.l2" in line and "greater than 0" in line
    bad.write_text("data: {source: online_retail}\n")
    assert "data.path: Field required" in one_line_error(shoprec("params", "-p", str(bad)))
    bad.write_text("split: [unclosed\n")
    assert "not valid YAML" in one_line_error(shoprec("params", "-p", str(bad)))


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
