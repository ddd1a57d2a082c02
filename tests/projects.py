"""Helpers that build a tiny shoprec project in a temporary git + DVC repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent
PROJECT_FILES = (
    "dvc.yaml",
    "params.yaml",
    "pipelines",
    "expectations",
    "src",
    "flows",
    "metrics/cv/README.md",  # keeps the folder stage cv depends on, as in a fresh clone
    "privacy/erasures/.gitkeep",  # the deletion list ingest depends on, as in a fresh clone
)

TINY_PARAMS = {
    "data": {"source": "synthetic", "users": 400, "items": 250, "days": 28, "seed": 3},
    "split": {"test_days": 7, "validation_days": 7},
    # every model on: the tests cover the two-tower stage, off in the default params
    "train": {"two_tower": True, "sequential": True, "two_stage": True},
    "models": {
        "itemknn": {"neighbors": 50},
        "ease": {"l2": 100.0},
        "two_tower": {
            "embedding_dim": 16,
            "history_length": 8,
            "batch_size": 256,
            "epochs": 2,
            "user_hash_bins": 2000,
        },
        "sequential": {
            "embedding_dim": 16,
            "max_length": 10,
            "blocks": 1,
            "batch_size": 128,
            "epochs": 2,
            "title_hash_bins": 1024,
        },
        "two_stage": {
            "candidates": {
                "two_tower": 30,
                "sequential": 30,
                "itemknn": 30,
                "ease": 30,
                "covisit": 20,
            },
            "booster": {"num_boost_round": 60, "early_stopping_rounds": 10},
        },
    },
    "evaluation": {"bootstrap": {"samples": 200}},
}


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "data":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def project_env(project: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env["DVC_SITE_CACHE_DIR"] = str(project / ".dvc-site-cache")
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "shoprec tests"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "tests@shoprec.invalid"
    return env


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd, cwd=cwd, env=project_env(cwd), capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def write_params(project: Path, overrides: dict, base: Path | None = None) -> None:
    """Merge ``overrides`` into the project's params.yaml (or into ``base``'s)."""
    params = yaml.safe_load((base or project / "params.yaml").read_text())
    (project / "params.yaml").write_text(yaml.safe_dump(_merge(params, overrides), sort_keys=False))


def make_project(root: Path, overrides: dict | None = None) -> Path:
    """Copy the pipeline definition into ``root``, with tiny params, as a git + DVC repo."""
    root.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    write_params(root, _merge(TINY_PARAMS, overrides or {}), base=REPO_ROOT / "params.yaml")
    run(["git", "init", "-q"], root)
    run([str(BIN_DIR / "dvc"), "init", "-q"], root)
    run([str(BIN_DIR / "dvc"), "config", "core.analytics", "false"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny shoprec project"], root)
    return root


def dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([str(BIN_DIR / "dvc"), *args], project, check=check)
