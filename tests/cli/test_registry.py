"""``shoprec registry``: the whole cycle against S3 (the first command in a new process, as a
user runs it; the rest in-process)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.cli.helpers import invoke
from tests.conftest import new_bucket
from tests.projects import REPO_ROOT
from tests.registries import registry_at, servable


def test_the_cli_runs_the_whole_cycle_against_s3(s3_env, fake_model_dir, tmp_path, monkeypatch):
    uri = f"s3://{new_bucket(s3_env)}/models"
    project = tmp_path / "project"  # a project folder without DVC outputs
    project.mkdir()
    shutil.copy(REPO_ROOT / "params.yaml", project)
    monkeypatch.setenv("SHOPREC_REGISTRY_URI", uri)
    monkeypatch.chdir(project)

    def cli(*args: str, ok: bool = True):
        result = invoke("registry", *args)
        assert (result.exit_code == 0) == ok, (result.stdout, result.stderr)
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        ), result.exception
        return result

    register = [sys.executable, "-m", "shoprec", "registry", "register", "two_stage"]
    proc = subprocess.run(
        [*register, str(fake_model_dir), "--by", "ci"],
        capture_output=True,
        text=True,
        env={**os.environ},
        cwd=project,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "registered two_stage v1" in proc.stdout and "Traceback" not in proc.stderr
    assert "is pending" in cli("promote", "two_stage", "1", "--by", "ana", ok=False).stderr
    assert (
        "servability"
        in cli("approve", "two_stage", "1", "--by", "a", "--reason", "x", ok=False).stderr
    )
    servable(registry_at(uri), 1)  # random bytes are no model: the check is recorded by hand
    cli("approve", "two_stage", "1", "--by", "ana", "--reason", "good")
    promoted = " ".join(cli("promote", "two_stage", "1", "--by", "ana").stdout.split())
    assert "production → v1" in promoted and "data not pushed" in promoted
    listing = cli("list").stdout
    assert "approved" in listing and "production" in listing
    cli("verify", "two_stage", "1")
    lineage = cli("lineage", "two_stage", "1").stdout
    assert '"action": "promote"' in lineage and '"data"' in lineage and '"commit"' in lineage
    registry_at(uri).store.put("two_stage/versions/1/files/card.json", b"{}")
    failed = cli("verify", "two_stage", "1", ok=False)
    assert "sha256 mismatch" in failed.stderr and failed.stderr.strip().count("\n") == 0
    assert (
        "invalid model name"
        in cli("register", "../x", str(fake_model_dir), "--by", "ci", ok=False).stderr
    )
