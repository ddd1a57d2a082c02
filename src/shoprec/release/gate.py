"""The evaluation gate: may this model be proposed for production?

Checks, each with its value, threshold and verdict (thresholds in ``params.yaml`` ``gate:``):

- floors on chosen test metrics;
- the relative lift of the gate metric over the best baseline of the same run;
- the relative lift over the current production model (the champion), re-scored now on the same
  test users, with a paired bootstrap over users: the lower bound of the interval of the
  difference must be above zero when ``require_significance`` is on;
- the model's size on disk and the p95 latency of ``recommend()`` for one user.

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
            "checks": [asdict(c) for c in self.checks],
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
) -> GateResult:
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
            )
        )

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
