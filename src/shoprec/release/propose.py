"""From a trained model to a registry version waiting for a human: gate, register, servability.

``propose`` runs the evaluation gate on the pipeline's outputs (the champion behind the
``production`` alias is fetched, verified and re-scored on today's test split), registers the
model only if it passes, then checks that the uploaded files, read back from the registry, load
in a fresh process and answer ``recommend()`` exactly as the local model did. A version is only
approvable once that check has passed.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shoprec import layout
from shoprec.config import Params
from shoprec.errors import ConfigError
from shoprec.evaluation.evaluate import TestTargets, build_targets
from shoprec.evaluation.profiles import project_data_profile, served_profile
from shoprec.evaluation.report import read_metrics
from shoprec.features.interactions import Interactions
from shoprec.io import read_json, read_parquet
from shoprec.models.base import METADATA_FILE, disabled_by
from shoprec.registry import RegistryError
from shoprec.registry.registry import Registry, sha256_file
from shoprec.release.gate import GateResult, run_gate
from shoprec.release.lineage import lineage
from shoprec.training.model_table import BASELINES, EVENT_MODELS, load_model

log = logging.getLogger(__name__)
SERVABILITY_USERS = 20


@dataclass
class Proposal:
    gate: GateResult | None  # None: these exact files were registered before
    version: int | None  # None: the gate stopped the model


def _recommend_in_fresh_process(model_dir: Path, users: list[str], k: int) -> list[tuple]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shoprec",
            "recommend",
            *users,
            "--model",
            str(model_dir),
            "-k",
            str(k),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RegistryError(f"the registered model does not load: {proc.stderr.strip()[-300:]}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return [(r["user_id"], r["rank"], r["item_id"]) for r in rows]


def check_servability(
    registry: Registry,
    name: str,
    version: int,
    local_dir: Path,
    users: list[str] | None = None,
    k: int = 10,
) -> dict:
    """Fetch the version (checksums verified), load it in a new process, and compare its
    recommendations for ``users`` (default: the first of the model's own users) with the local
    model's; the result is recorded in the registry."""
    model = load_model(local_dir)
    if users is None:
        users = [str(u) for u in model.history.user_ids[:SERVABILITY_USERS]]
    local = model.recommend(users, k=k)
    expected = list(zip(local["user_id"], local["rank"], local["item_id"], strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        fetched = registry.download(name, version, Path(tmp) / name)
        served = _recommend_in_fresh_process(fetched, users, k)
    same = served == [(str(u), int(r), str(i)) for u, r, i in expected]
    result = {"passed": same, "users": len(users), "k": k}
    if not same:
        result["detail"] = "recommendations after the round trip differ from before upload"
    registry.record_check(name, version, "servability", result)
    return result


def _same_files_as(registry: Registry, name: str, model_dir: Path) -> int | None:
    """The newest complete version whose files are exactly these, if any."""
    local = {
        p.relative_to(model_dir).as_posix(): sha256_file(p)
        for p in model_dir.rglob("*")
        if p.is_file()
    }
    for info in reversed(registry.versions(name)):
        if info.complete and info.manifest.get("files") == local:
            return info.version
    return None


def _check_not_disabled(params: Params, name: str, model_dir: Path) -> None:
    """The gate's model must be one the pipeline trains: say which switch or param to change."""
    switched_off = getattr(params.train, name, True) is False
    marker = None if (model_dir / METADATA_FILE).is_file() else disabled_by(model_dir)
    if not (switched_off or marker):
        return
    trained = list(params.train.models) + [
        m for m in EVENT_MODELS if getattr(params.train, m, False) is True
    ]
    why = (
        f"train.{name}: false turns it off"
        if switched_off
        else f"{model_dir} still holds the disabled marker of {marker}"
    )
    raise ConfigError(
        f"gate.model is {name}, but {why}, so there is nothing to gate; set "
        f"train.{name}: true and run dvc repro, or set gate.model to a model the "
        f"pipeline trains ({', '.join(trained)}), and serving.model and batch_scoring.model "
        "to the same name to serve it"
    )


def cross_validation(root: Path, params: Params) -> dict:
    """``metrics/cv.json`` when ``evaluation.cv.folds`` lists folds (it must be of those
    folds: a stale file would gate on other folds), else ``{}``."""
    folds = params.evaluation.cv.folds
    if not folds:
        return {}
    path = root / layout.CV
    if not path.is_file():
        raise ConfigError(f"evaluation.cv.folds is {folds} but {path} is missing; run dvc repro")
    cv = read_json(path)
    found = sorted(int(k) for k in cv.get("folds", {}))
    if found != folds:
        raise ConfigError(
            f"{path} holds folds {found}, but evaluation.cv.folds is {folds}; run dvc repro"
        )
    return cv


def registered_folds(cv: dict, name: str) -> dict:
    """What the manifest keeps of the folds: each fold's window and this model's metrics, so
    that a later candidate's gate can compare with it fold by fold."""
    folds = {
        k: {"window": fold["window"], "metrics": fold["metrics"][name]}
        for k, fold in (cv.get("folds") or {}).items()
        if name in fold["metrics"]
    }
    return {"folds": folds} if folds else {}


def registered_evaluation(
    name: str,
    baselines: list[str],
    metrics: dict,
    intervals: dict,
    cv: dict,
    segments: dict | None,
) -> dict:
    """What the review console (``shoprec console``) shows beside the gate: the test metrics
    and bootstrap intervals of this model and of the baselines of the same run, each fold's
    metrics of those models (their windows are in ``cross_validation``) and their segments.
    ``{}`` when the run has no metrics of this model."""
    if name not in metrics:
        return {}
    models = [name, *(b for b in baselines if b in metrics and b != name)]
    record: dict = {
        "models": models,
        "metrics": {m: metrics[m] for m in models},
        "intervals": {m: intervals[m] for m in models if m in intervals},
    }
    folds = {
        k: {m: fold["metrics"][m] for m in models if m in fold["metrics"]}
        for k, fold in (cv.get("folds") or {}).items()
        if name in fold["metrics"]
    }
    if folds:
        record["folds"] = folds
    if segments and name in (segments.get("models") or {}):
        record["segments"] = {
            "segments": segments.get("segments") or {},
            "models": {m: segments["models"][m] for m in models if m in segments["models"]},
        }
    return record


def reference_profiles(root: Path, params: Params, model, targets: TestTargets) -> dict:
    """What monitoring compares with later: the training data's profile and the version's
    own top-K for the test users (``shoprec.evaluation.profiles``); ``{}`` without a split."""
    data = project_data_profile(root)
    if data is None:
        log.warning("%s: no data/split to profile; monitoring will use the project's", root)
        return {}
    served = served_profile(
        model,
        targets.user_rows,
        params.serving.default_k,
        data,
        exclude_seen=not params.targets.repeat_purchases,
    )
    return {"data_profile": data, "served_profile": served}


def propose(root: str | Path, params: Params, registry: Registry, by: str) -> Proposal:
    root = Path(root)
    g = params.gate
    name = g.model
    model_dir = root / layout.MODELS / name
    _check_not_disabled(params, name, model_dir)
    model = load_model(model_dir)
    existing = _same_files_as(registry, name, model_dir)
    if existing is not None:
        log.info("%s: these files are already registered as v%d", name, existing)
        return Proposal(None, existing)
    current = Interactions.load(root / layout.BEFORE_TEST)
    e = params.targets
    targets = build_targets(
        read_parquet(root / layout.SPLIT / "test.parquet"),
        current,
        e.relevant_event_types,
        e.repeat_purchases,
    )
    run_metrics, intervals = read_metrics(
        root / layout.EVALUATION_METRICS, root / layout.CONFIDENCE_INTERVALS
    )
    cv = cross_validation(root, params)
    segments_path = root / layout.SEGMENTS
    segments = read_json(segments_path) if segments_path.is_file() else None
    champion = champion_version = None
    champion_cv: dict = {}
    alias = registry.alias(name, params.promotion.alias)
    with tempfile.TemporaryDirectory() as tmp:
        if alias is not None:
            champion_version = alias["version"]
            fetched = registry.download(name, champion_version, Path(tmp) / "champion")
            champion = load_model(fetched)
            champion_cv = registry.info(name, champion_version).manifest.get("cross_validation", {})
        result = run_gate(
            name,
            model,
            model_dir,
            targets,
            current,
            run_metrics,
            list(BASELINES),
            g,
            champion,
            champion_version,
            exclude_seen=not e.repeat_purchases,
            cv=cv,
            champion_cv=champion_cv,
            segments=segments,
        )
    if not result.passed:
        registry.audit(name, "gate_failed", by, "; ".join(result.reasons))
        return Proposal(result, None)
    version = registry.register(
        name,
        model_dir,
        by,
        {
            "gate": result.as_dict(),
            "lineage": lineage(root, name),
            "cross_validation": registered_folds(cv, name),
            "evaluation": registered_evaluation(
                name, list(BASELINES), run_metrics, intervals, cv, segments
            ),
            **reference_profiles(root, params, model, targets),
        },
    )
    users = [str(u) for u in current.user_ids[targets.user_rows[:SERVABILITY_USERS]]]
    check_servability(registry, name, version, model_dir, users)
    return Proposal(result, version)
