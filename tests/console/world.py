"""A registry for the console: three versions of ItemKNN fit on the tiny synthetic shop
(``tests/tiny.make_shop``), each registered with the manifest ``shoprec registry propose`` writes.

Every part of a manifest comes from the function the pipeline uses: the gate is ``run_gate`` on
the real models (the second and third versions against the one in production then, with the
paired bootstrap), ``cross_validation`` is ``registered_folds`` and ``evaluation`` is
``registered_evaluation`` of a ``metrics/cv.json``-shaped record of three folds and of the
segments ``segment_metrics`` computes. The folds are the holdout scored three times with the
windows of three folds (fitting three more splits would only cost time here).

After ``build_world``: v1 was production and is retired, v2 is production, v3 is pending with a
passed servability check (so it can be approved).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from shoprec.config import GateParams, SegmentParams
from shoprec.evaluation.evaluate import evaluate_model
from shoprec.evaluation.segments import segment_labels
from shoprec.registry import LocalStore, Registry
from shoprec.release.gate import run_gate
from shoprec.release.propose import registered_evaluation, registered_folds
from shoprec.training.model_table import create_model
from tests import tiny

NAME = "itemknn"
BASELINES = ["most_popular", "ease"]
KS = [5, 10, 20, 50]
NEIGHBORS = {1: 120, 2: 40, 3: 10}  # each version's models.itemknn.neighbors
GATE = GateParams(
    model=NAME,
    floors={"ndcg@10": 0.001},
    min_lift_over_baselines=-1.0,
    min_lift_over_production=-1.0,
    require_significance=False,
    bootstrap_samples=200,
    latency_users=20,
    min_folds_won=0,
)


def fold_record(evaluations: dict, shop: dict) -> dict:
    """``metrics/cv.json`` of three folds, 14 days apart (each fold's metrics scaled a little:
    older folds are a little harder)."""
    t2 = shop["t2"]
    folds = {}
    for k, scale in ((0, 1.0), (1, 0.93), (2, 0.88)):
        start = t2 - pd.Timedelta(days=14 * k)
        window = {
            "strategy": "temporal",
            "fold": k,
            "validation_start": str(start - pd.Timedelta(days=7)),
            "test_start": str(start),
            "test_end": str(start + pd.Timedelta(days=7)),
        }
        folds[str(k)] = {
            "window": window,
            "test_users": 180 - 10 * k,
            "metrics": {
                m: {name: round(v * scale, 6) for name, v in e.values.items()}
                for m, e in evaluations.items()
            },
        }
    return {"folds": folds, "summary": {}}


def lineage_of(version: int, evaluation) -> dict:
    return {
        "data": {
            "ingest": {"data/raw": f"{version:02d}a1b2c3d4e5f60718293a4b5c6d7e8f.dir"},
            "split": {"data/split": f"{version:02d}f0e1d2c3b4a5968778695a4b3c2d1e.dir"},
            "features": {"data/features": "9d8c7b6a5f4e3d2c1b0a99887766554.dir"},
        },
        "params": {
            "data": {"source": "synthetic", "users": 500, "items": 300, "days": 28, "seed": 5},
            "models": {"itemknn": {"neighbors": NEIGHBORS[version], "shrinkage": 10.0}},
            "gate": {"metric": GATE.metric, "floors": dict(GATE.floors)},
        },
        "git": {"commit": f"{version}" * 7 + "0" * 33, "dirty": version == 3},
        "metrics": evaluation.values,
    }


def build_world(root: Path, shop: dict | None = None) -> Registry:
    """The three versions in a folder registry at ``root``; returns the registry."""
    shop = shop or tiny.make_shop()
    holdout = shop["holdout"]
    before_test = shop["events"][shop["events"]["timestamp"] < shop["t2"]]
    labels = segment_labels(
        before_test, holdout.cuts, holdout.history, holdout.targets.user_rows, SegmentParams()
    )
    registry = Registry(LocalStore(root))
    baselines = {}
    evaluations = {}
    for name in BASELINES:
        baselines[name] = create_model(name).fit(holdout.history)
        evaluations[name] = evaluate_model(
            baselines[name], holdout.targets, KS, bootstrap_samples=200, segments=labels
        )
    champion, champion_version = None, None
    with tempfile.TemporaryDirectory() as tmp:
        for version, neighbors in NEIGHBORS.items():
            model = create_model(NAME, neighbors=neighbors).fit(holdout.history)
            model_dir = model.save(Path(tmp) / f"v{version}")
            run = {**evaluations}
            run[NAME] = evaluate_model(
                model, holdout.targets, KS, bootstrap_samples=200, segments=labels
            )
            metrics = {m: e.values for m, e in run.items()}
            intervals = {m: {k: list(v) for k, v in e.intervals.items()} for m, e in run.items()}
            segments = {"segments": labels.info, "models": {m: e.segments for m, e in run.items()}}
            cv = fold_record(run, shop)
            champion_cv = (
                registry.info(NAME, champion_version).manifest["cross_validation"]
                if champion_version
                else {}
            )
            gate = run_gate(
                NAME,
                model,
                model_dir,
                holdout.targets,
                holdout.history,
                metrics,
                BASELINES,
                GATE,
                champion,
                champion_version,
                cv=cv,
                champion_cv=champion_cv,
                segments=segments,
            )
            registry.register(
                NAME,
                model_dir,
                f"trainer{version}",
                {
                    "gate": gate.as_dict(),
                    "lineage": lineage_of(version, run[NAME]),
                    "cross_validation": registered_folds(cv, NAME),
                    "evaluation": registered_evaluation(
                        NAME, BASELINES, metrics, intervals, cv, segments
                    ),
                },
            )
            registry.record_check(NAME, version, "servability", {"passed": True, "users": 20})
            if version < 3:
                registry.decide(NAME, version, "approved", "ana", f"v{version} looks good")
                registry.promote(NAME, version, "ana", "first" if version == 1 else "better")
                champion, champion_version = model, version
    return registry
