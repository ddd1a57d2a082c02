"""The evaluation gate: may this model be proposed for production?

Checks, each with its value, threshold and verdict (thresholds in ``params.yaml`` ``gate:``):

- floors on chosen test metrics;
- the relative lift of the gate metric over the best baseline of the same run;
- the relative lift over the current production model (the champion), re-scored now on the same
  test users, with a paired bootstrap over users: the lower bound of the interval of the
  difference must be above zero when ``require_significance`` is on;
- the model's size on disk and the p95 latency of ``recommend()`` for one user;
- with cross-validation folds (``metrics/cv.json``): the folds the candidate won, i.e. beat the
  best baseline of that fold and, where the production model's registered folds have the same
  windows, production too (``gate.min_folds_won``); one informational row per fold with its lifts;
- with segments (``metrics/segments.json``): an informational row naming the segment where the
  candidate is weakest against the best baseline.

The result is JSON for the registry manifest (``as_dict``), which ``shoprec.render.gate`` turns
into the table people read (CLI, Prefect artifact).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shoprec.evaluation.bootstrap import bootstrap_ci
from shoprec.evaluation.evaluate import TestTargets
from shoprec.evaluation.metrics import hits_matrix, user_metrics
from shoprec.evaluation.segments import weakest_segment
from shoprec.features.interactions import Interactions
from shoprec.models.base import Recommender
from shoprec.render.gate import gate_table
from shoprec.render.table import to_markdown


@dataclass
class Check:
    name: str
    value: float | None
    threshold: str
    passed: bool
    detail: str = ""
    kind: str = "check"  # "info": shown in the verdict table, never fails the gate
    paired: dict[str, float] | None = None  # the paired bootstrap: diff, low, high, confidence

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["paired"] is None:  # only the check against production has one
            del out["paired"]
        return out


@dataclass
class GateResult:
    model: str
    metric: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail or c.threshold}" for c in self.checks if not c.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "metric": self.metric,
            "passed": self.passed,
            "checks": [c.as_dict() for c in self.checks],
        }

    def markdown(self) -> str:
        """The verdict table as Markdown (``shoprec.render.gate``, as the CLI prints it)."""
        return to_markdown(gate_table(self.as_dict()))


def per_user_metric(
    model: Recommender,
    targets: TestTargets,
    current: Interactions,
    metric: str,
    exclude_seen: bool = True,
) -> np.ndarray:
    """One value of ``metric`` (e.g. ``ndcg@10``) per target user of ``current`` (the history
    the targets index), ranking by ids so that a model fit on other data (the champion) is
    scored on today's users and catalogue; users it does not know score 0."""
    name, k = metric.split("@")
    k = int(k)
    history = model._require_fitted()
    rows = history.user_positions(current.user_ids[targets.user_rows])
    known = rows >= 0
    recommended = np.full((len(rows), k), -1, dtype=np.int64)
    if known.any():
        idx, _ = model.recommend_indices(rows[known], k, exclude_seen=exclude_seen)
        ids = np.where(idx >= 0, history.item_ids[np.maximum(idx, 0)], "")
        mapped = current.item_positions(ids.ravel()).reshape(ids.shape)
        recommended[known] = np.where(idx >= 0, mapped, -1)
    hits = hits_matrix(recommended, targets.targets)
    return user_metrics(hits, np.diff(targets.targets.indptr), [k])[f"{name}@{k}"]


def model_size_mb(directory: str | Path) -> float:
    return sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file()) / 2**20


def recommend_latency_ms(model: Recommender, user_ids: np.ndarray, k: int = 10) -> float:
    """p95 wall time of ``recommend()`` for one user at a time (after one warm-up call)."""
    model.recommend(user_ids[:1], k=k)
    times = []
    for user in user_ids:
        started = time.perf_counter()
        model.recommend([user], k=k)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 95))


def run_gate(
    name: str,
    model: Recommender,
    model_dir: str | Path,
    targets: TestTargets,
    current: Interactions,
    run_metrics: dict[str, dict[str, float]],
    baselines: list[str],
    gate,  # GateParams
    champion: Recommender | None = None,
    champion_version: int | None = None,
    exclude_seen: bool = True,
    cv: dict[str, Any] | None = None,
    champion_cv: dict[str, Any] | None = None,
    segments: dict[str, Any] | None = None,
) -> GateResult:
    """The verdict on ``name``. ``cv`` is ``metrics/cv.json``, ``champion_cv`` the folds the
    production model registered with (``cross_validation`` in its manifest), ``segments``
    ``metrics/segments.json``."""
    result = GateResult(model=name, metric=gate.metric)
    ours = run_metrics.get(name, {})
    for metric, floor in gate.floors.items():
        value = ours.get(metric)
        passed = value is not None and value >= floor
        detail = "" if passed else f"{metric} {value} below the floor {floor}"
        result.checks.append(Check(f"floor {metric}", value, f"≥ {floor}", passed, detail))

    present = [b for b in baselines if b in run_metrics and b != name]
    if present:
        best = max(present, key=lambda b: run_metrics[b][gate.metric])
        base = run_metrics[best][gate.metric]
        lift = ours[gate.metric] / base - 1 if base > 0 else float("inf")
        passed = lift >= gate.min_lift_over_baselines
        result.checks.append(
            Check(
                f"lift over the best baseline ({best})",
                lift,
                f"≥ {gate.min_lift_over_baselines:+.1%}",
                passed,
                "" if passed else f"{gate.metric} {ours[gate.metric]:.4f} vs {best} {base:.4f}",
            )
        )

    if champion is None:
        result.checks.append(
            Check("lift over production", None, "no production model yet", True, "")
        )
    else:
        challenger_scores = per_user_metric(model, targets, current, gate.metric, exclude_seen)
        champion_scores = per_user_metric(champion, targets, current, gate.metric, exclude_seen)
        diff = challenger_scores - champion_scores
        low, high = bootstrap_ci(
            {"d": diff}, samples=gate.bootstrap_samples, confidence=gate.confidence, seed=0
        )["d"]
        base = float(champion_scores.mean())
        lift = float(challenger_scores.mean()) / base - 1 if base > 0 else float("inf")
        passed = lift >= gate.min_lift_over_production
        significant = low > 0
        if gate.require_significance:
            passed = passed and significant
        label = f"v{champion_version}" if champion_version else "production"
        detail = (
            f"{gate.metric} {challenger_scores.mean():.4f} vs {label} {base:.4f} on the same "
            f"{len(diff)} users; paired difference {diff.mean():+.4f} "
            f"({gate.confidence:.0%} CI {low:+.4f} to {high:+.4f})"
        )
        result.checks.append(
            Check(
                f"lift over production ({label})",
                lift,
                f"≥ {gate.min_lift_over_production:+.1%}"
                + (", significant" if gate.require_significance else ""),
                passed,
                detail,
                paired={
                    "diff": round(float(diff.mean()), 6),
                    "low": round(float(low), 6),
                    "high": round(float(high), 6),
                    "confidence": gate.confidence,
                },
            )
        )

    result.checks.extend(
        fold_checks(name, cv or {}, baselines, gate, champion_cv or {}, champion_version)
    )
    if segments and present:
        result.checks.extend(segment_checks(name, segments, best, gate))

    size = model_size_mb(model_dir)
    result.checks.append(
        Check(
            "model size (MB)",
            size,
            f"≤ {gate.max_model_mb}",
            size <= gate.max_model_mb,
            "" if size <= gate.max_model_mb else f"{size:.0f} MB",
        )
    )
    users = current.user_ids[targets.user_rows[: gate.latency_users]]
    latency = recommend_latency_ms(model, users)
    ok = latency <= gate.max_latency_ms
    result.checks.append(
        Check(
            "recommend() p95 latency (ms)",
            latency,
            f"≤ {gate.max_latency_ms}",
            ok,
            "" if ok else f"{latency:.1f} ms",
        )
    )
    return result


def _same_window(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("strategy", "validation_start", "test_start", "test_end", "fold")
    return all(a.get(k) == b.get(k) for k in keys)


def _lift(ours: float, theirs: float) -> float:
    return ours / theirs - 1 if theirs > 0 else (0.0 if ours == 0 else float("inf"))


def fold_checks(
    name: str,
    cv: dict[str, Any],
    baselines: list[str],
    gate,  # GateParams
    champion_cv: dict[str, Any],
    champion_version: int | None,
) -> list[Check]:
    """One informational row per cross-validation fold (lift over that fold's best baseline,
    and over production where its registered fold has the same window) and, with
    ``gate.min_folds_won``, the check of how many folds the candidate won."""
    folds = cv.get("folds") or {}
    metric, label = gate.metric, f"v{champion_version}" if champion_version else "production"
    rows: list[Check] = []
    won = 0
    for k, fold in sorted(folds.items(), key=lambda kv: int(kv[0])):
        scores = fold["metrics"]
        if name not in scores:
            continue
        ours = scores[name][metric]
        present = [b for b in baselines if b in scores and b != name]
        lifts, parts = [], []  # (lift, the least lift that wins)
        if present:
            best = max(present, key=lambda b: scores[b][metric])
            lift = _lift(ours, scores[best][metric])
            lifts.append((lift, gate.min_lift_over_baselines))
            parts.append(f"{best} {scores[best][metric]:.4f} ({lift:+.1%})")
        theirs = (champion_cv.get("folds") or {}).get(str(k))
        if theirs is not None and _same_window(theirs["window"], fold["window"]):
            lift = _lift(ours, theirs["metrics"][metric])
            lifts.append((lift, gate.min_lift_over_production))
            parts.append(f"{label} {theirs['metrics'][metric]:.4f} ({lift:+.1%})")
        elif champion_version is not None:
            parts.append(f"{label} not compared: it has no registered fold {k} on this window")
        fold_won = bool(lifts) and all(x > 0 and x >= least for x, least in lifts)
        won += fold_won
        rows.append(
            Check(
                f"fold {k} ({fold['window'].get('test_start', 'per-user cuts')[:10]})",
                min(x for x, _ in lifts) if lifts else None,
                "won" if fold_won else "lost",
                True,
                f"{metric} {ours:.4f} vs " + "; ".join(parts),
                kind="info",
            )
        )
    needed = gate.min_folds_won
    if needed:
        n = len(rows)
        passed = won >= needed
        detail = (
            f"won {won} of {n} folds"
            if n
            else "no cross-validation folds to count: list folds in evaluation.cv.folds "
            "and run dvc repro, or set gate.min_folds_won: 0"
        )
        rows.append(
            Check(
                "folds won",
                float(won),
                f"≥ {needed} of {n}",
                passed,
                "" if passed else detail,
            )
        )
    return rows


def segment_checks(name: str, segments: dict[str, Any], best: str, gate) -> list[Check]:
    """The segment where the candidate is weakest against the best baseline (informational)."""
    models = segments.get("models", {})
    if name not in models or best not in models:
        return []
    worst = weakest_segment(models[name], models[best], gate.metric, gate.min_segment_users)
    if worst is None:
        return []
    return [
        Check(
            f"weakest segment vs {best}",
            worst["difference"],
            f"segments of ≥ {gate.min_segment_users} users",
            True,
            f"{worst['segment']} ({worst['users']} users): {gate.metric} "
            f"{worst['candidate']:.4f} vs {worst['reference']:.4f}",
            kind="info",
        )
    ]
