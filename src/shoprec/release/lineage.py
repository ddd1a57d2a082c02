"""What a registered version was made from: data hashes, params, code version and metrics.

Read from the project at registration time: the DVC-tracked outputs in ``dvc.lock`` (so that
``dvc pull`` can fetch the exact data back), ``params.yaml``, the git commit (and whether the
work tree had uncommitted changes) and the model's test metrics.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from shoprec.io import read_json


def dvc_lock_hashes(root: Path) -> dict[str, dict[str, Any]]:
    """``{stage: {output path: md5}}`` of every output recorded in ``dvc.lock``."""
    lock_path = root / "dvc.lock"
    if not lock_path.is_file():
        return {}
    lock = yaml.safe_load(lock_path.read_text()) or {}
    hashes: dict[str, dict[str, Any]] = {}
    for stage, body in (lock.get("stages") or {}).items():
        outs = {o["path"]: o.get("md5") for o in body.get("outs", []) if o.get("md5")}
        if outs:
            hashes[stage] = outs
    return hashes


def git_commit(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None
    return {"commit": commit or None, "dirty": dirty}


def restore_command(commit: str | None, remote: str | None) -> str | None:
    """The commands that bring a version's code and data back, once its data was pushed to
    ``remote`` (``dvc push`` at promotion or ``shoprec registry push-data``); None before."""
    if not commit or not remote:
        return None
    return (
        f"git checkout {commit} && dvc remote add --local -f shoprec {remote} && "
        "dvc pull --remote shoprec"
    )


def lineage(root: str | Path, model: str) -> dict[str, Any]:
    root = Path(root)
    params_path = root / "params.yaml"
    metrics_path = root / "metrics" / "evaluation.json"
    metrics = read_json(metrics_path).get(model, {}) if metrics_path.is_file() else {}
    return {
        "data": dvc_lock_hashes(root),
        "params": yaml.safe_load(params_path.read_text()) if params_path.is_file() else {},
        "git": git_commit(root),
        "metrics": metrics,
    }
