"""Run the stages of ``dvc.yaml`` one at a time through DVC's own command line.

The Prefect flow runs each stage through here, so ``dvc repro`` and the flow produce the
same versioned outputs, use the same cache and skip the same unchanged stages.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from shoprec.errors import ShoprecError, StageFailed

log = logging.getLogger(__name__)


def _environment() -> dict[str, str]:
    """PATH with this interpreter's bin directory first, so stage commands find ``python``."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def _dvc() -> str:
    local = Path(sys.executable).parent / "dvc"
    return str(local) if local.exists() else "dvc"


def run_dvc(args: list[str], project_dir: str | Path = ".") -> subprocess.CompletedProcess:
    """Run ``dvc ARGS`` in ``project_dir`` with this environment's DVC; output captured."""
    return subprocess.run(
        [_dvc(), *args],
        cwd=project_dir,
        capture_output=True,
        text=True,
        env=_environment(),
        check=False,
    )


def last_error(output: str) -> str:
    """The most telling line of a failed DVC command: our own one-line error, else DVC's."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    ours = [line for line in lines if re.match(r"^shoprec [\w@-]+: error:", line)]
    if ours:
        return ours[-1]
    errors = [line for line in lines if line.startswith("ERROR") or "Error" in line]
    return (errors or lines or ["no output"])[-1]


@dataclass
class StageOutcome:
    stage: str
    skipped: bool
    output: str


def list_stages(project_dir: str | Path = ".") -> list[str]:
    """Stage names in ``dvc.yaml`` order (``foreach`` stages expanded, e.g. ``train@ease``)."""
    project_dir = Path(project_dir)
    if not (project_dir / "dvc.yaml").is_file():
        raise ShoprecError(f"{project_dir}: no dvc.yaml here; run from the project root")
    proc = run_dvc(["stage", "list", "--name-only"], project_dir)
    if proc.returncode != 0:
        raise StageFailed(f"dvc stage list failed: {last_error(proc.stdout + proc.stderr)}")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def repro_stage(stage: str, project_dir: str | Path = ".", force: bool = False) -> StageOutcome:
    """``dvc repro --single-item STAGE``; raise ``StageFailed`` with a readable message."""
    args = ["repro", "--single-item", stage] + (["--force"] if force else [])
    proc = run_dvc(args, project_dir)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise StageFailed(f"stage '{stage}' failed: {last_error(output)}")
    skipped = "didn't change, skipping" in output or "is cached - skipping run" in output
    return StageOutcome(stage=stage, skipped=skipped, output=output)
