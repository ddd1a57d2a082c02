"""Run the stages of ``dvc.yaml`` one at a time through DVC's own command line.

The Prefect flow runs each stage through here, so ``dvc repro`` and the flow produce the
same versioned outputs, use the same cache and skip the same unchanged stages.
"""

from __future__ import annotations

import json
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


# -- stages that can run at once --------------------------------------------------------------
# DVC holds one lock per repository while it runs a stage, so two `dvc repro` cannot run in one
# project at the same time. Stages that do not depend on each other can still run at once: their
# commands run side by side (outside DVC, exactly as `dvc repro` would run them), then
# `dvc commit` records what they read and wrote in dvc.lock, one commit for the group, under
# the lock. A later `dvc repro` finds them up to date.
def stage_waves(project_dir: str | Path = ".") -> list[list[str]]:
    """The stages of ``dvc.yaml`` in groups: every input of a group's stages comes from
    earlier groups, so the stages of one group can run at once (each group in dvc.yaml order)."""
    import networkx as nx
    from dvc.repo import Repo

    order = {name: i for i, name in enumerate(list_stages(project_dir))}
    with Repo(str(project_dir)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it reads from
        waves = nx.topological_generations(graph.reverse(copy=False))
        named = [[s.name for s in wave if s.name in order] for wave in waves]
    return [sorted(wave, key=order.__getitem__) for wave in named if wave]


def stage_command(stage: str, project_dir: str | Path = ".") -> str:
    """The command ``dvc repro`` runs for ``stage`` (``foreach`` items filled in)."""
    from dvc.repo import Repo

    with Repo(str(project_dir)) as repo:
        for s in repo.index.stages:
            if s.name == stage:
                return s.cmd if isinstance(s.cmd, str) else " && ".join(s.cmd)
    raise ShoprecError(f"dvc.yaml has no stage {stage!r}")


def stage_changed(stage: str, project_dir: str | Path = ".") -> bool:
    """True when ``dvc status`` finds a changed input or a missing output of ``stage``."""
    proc = run_dvc(["status", "--json", stage], project_dir)
    if proc.returncode != 0:
        raise StageFailed(f"dvc status {stage} failed: {last_error(proc.stdout + proc.stderr)}")
    return bool(json.loads(proc.stdout or "{}"))


def run_stage_command(stage: str, project_dir: str | Path = ".") -> StageOutcome:
    """Run ``stage``'s command as ``dvc repro`` would (project root, this environment), without
    DVC's lock; ``commit_stages`` then records it. Raises ``StageFailed`` with the stage's error."""
    proc = subprocess.run(
        stage_command(stage, project_dir),
        shell=True,
        cwd=project_dir,
        capture_output=True,
        text=True,
        env=_environment(),
        check=False,
    )
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise StageFailed(f"stage '{stage}' failed: {last_error(output)}")
    return StageOutcome(stage=stage, skipped=False, output=output)


def commit_stages(stages: list[str], project_dir: str | Path = ".") -> None:
    """Record the inputs and outputs of stages whose commands ran in dvc.lock and the cache."""
    if not stages:
        return
    proc = run_dvc(["commit", "--force", *stages], project_dir)
    if proc.returncode != 0:
        raise StageFailed(
            f"dvc commit {' '.join(stages)} failed: {last_error(proc.stdout + proc.stderr)}"
        )
