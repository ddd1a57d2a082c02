"""What each console page shows, computed from the registry as plain data (no HTML here).

A version's status on the pages is the registry's (pending, approved, rejected, incomplete)
with two more that the alias and the audit log tell: ``production`` (the alias points at it)
and ``retired`` (approved, was production once, is not now).

What a version page compares comes from the manifests ``shoprec registry propose`` writes:
``gate`` (the verdict per check), ``evaluation`` (test metrics with bootstrap intervals of the
candidate and of the baselines of the same run, their folds and segments), ``cross_validation``
(the candidate's folds and their windows) and ``lineage`` (dvc.lock hashes, params, git commit).
Production's numbers are those it registered with, from its own run; the gate's paired
bootstrap re-scored it on the candidate's test users, and that difference is shown as the gate
recorded it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shoprec.registry import Registry
from shoprec.registry.registry import VersionInfo
from shoprec.release.lineage import restore_command
from shoprec.render.gate import gate_passed
from shoprec.training.model_table import BASELINES

METRIC_ORDER = ("ndcg", "recall", "precision", "hitrate", "map", "mrr", "coverage", "novelty")
CURVES = ("recall", "ndcg")
PAIRED = re.compile(
    r"paired difference (?P<diff>[+-]?\d+\.\d+) \((?P<confidence>\d+)% CI "
    r"(?P<low>[+-]?\d+\.\d+) to (?P<high>[+-]?\d+\.\d+)\)"
)
ACTIONS = ("approve", "reject", "promote", "rollback")

Interval = tuple[float, float] | None


@dataclass
class Measure:
    """One number with its interval (None when the source has none)."""

    value: float | None = None
    interval: Interval = None


@dataclass
class VersionRow:
    model: str
    version: int
    status: str
    gate: str  # passed | failed | "" (no gate recorded)
    metric: str
    headline: Measure
    registered_by: str
    registered_at: str


@dataclass
class ModelSummary:
    name: str
    production: int | None
    can_roll_back_to: int | None
    rows: list[VersionRow]


@dataclass
class Series:
    label: str
    role: str  # candidate | production | baseline
    values: list[Measure]


@dataclass
class Chart:
    title: str
    labels: list[str]  # x positions (K) or bar groups (folds, segments)
    series: list[Series]
    note: str = ""


@dataclass
class VersionPage:
    model: str
    version: int
    status: str
    manifest: dict[str, Any] | None
    alias: str
    production: int | None
    can_roll_back_to: int | None
    metric: str
    gate: dict[str, Any] | None
    baseline: str | None
    columns: list[str]  # the compared models' labels, candidate first
    table: list[tuple[str, list[Measure]]]  # metric → one Measure per column
    curves: list[Chart]
    folds: Chart | None
    segments: Chart | None
    paired: dict[str, Any] | None
    paired_detail: str
    lineage: dict[str, Any]
    params_diff: list[tuple[str, str, str]] | None  # key, candidate, production
    params_note: str
    audit: list[dict[str, Any]]
    servable: bool
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- status ----------------------------------------------------------------------------------
def ever_in(events: list[dict[str, Any]], alias: str) -> set[int]:
    """Every version the alias pointed at, by the audit log (promote and rollback records)."""
    versions: set[int] = set()
    for event in events:
        if event.get("action") in ("promote", "rollback") and event.get("alias") == alias:
            for key in ("version", "previous"):
                if isinstance(event.get(key), int):
                    versions.add(event[key])
    return versions


def status_of(info: VersionInfo, production: int | None, was_production: set[int]) -> str:
    if info.complete and info.version == production:
        return "production"
    if info.status == "approved" and info.version in was_production:
        return "retired"
    return info.status


def available_actions(
    status: str, servable: bool, is_production: bool, can_roll_back: bool
) -> list[str]:
    """What a reviewer may do on this version page now."""
    actions = []
    if status == "pending":
        if servable:
            actions.append("approve")
        actions.append("reject")
    if status in ("approved", "retired"):
        actions.append("promote")
    if is_production and can_roll_back:
        actions.append("rollback")
    return actions


# -- numbers from a manifest -----------------------------------------------------------------
def _interval(raw: Any) -> Interval:
    if (
        isinstance(raw, list | tuple)
        and len(raw) == 2
        and all(isinstance(b, int | float) for b in raw)
    ):
        return float(raw[0]), float(raw[1])
    return None


def model_metrics(manifest: dict[str, Any] | None, model: str) -> dict[str, Measure]:
    """A model's test metrics as its manifest records them: ``evaluation`` (with intervals)
    or, for a version registered before that, ``lineage.metrics`` (without)."""
    manifest = manifest or {}
    evaluation = manifest.get("evaluation") or {}
    values = (evaluation.get("metrics") or {}).get(model)
    intervals = (evaluation.get("intervals") or {}).get(model) or {}
    if values is None and model == manifest.get("model"):
        values = (manifest.get("lineage") or {}).get("metrics") or {}
    return {
        name: Measure(float(v), _interval(intervals.get(name)))
        for name, v in (values or {}).items()
        if isinstance(v, int | float)
    }


def _metric_key(name: str) -> tuple[int, str, int]:
    family, _, k = name.partition("@")
    order = METRIC_ORDER.index(family) if family in METRIC_ORDER else len(METRIC_ORDER)
    return order, family, int(k) if k.isdigit() else 0


def best_baseline(manifest: dict[str, Any], metric: str) -> str | None:
    """The baseline with the best ``metric`` in the version's run (the gate's "best
    baseline"), else the one the gate's check names."""
    evaluation = manifest.get("evaluation") or {}
    metrics = evaluation.get("metrics") or {}
    present = [
        m for m in evaluation.get("models", []) if m in BASELINES and m != manifest.get("model")
    ]
    present = [m for m in present if isinstance((metrics.get(m) or {}).get(metric), int | float)]
    if present:
        return max(present, key=lambda m: metrics[m][metric])
    for check in (manifest.get("gate") or {}).get("checks", []):
        found = re.fullmatch(r"lift over the best baseline \((.+)\)", check.get("name", ""))
        if found:
            return found.group(1)
    return None


def headline(
    manifest: dict[str, Any] | None, model: str, default_metric: str
) -> tuple[str, Measure]:
    metric = ((manifest or {}).get("gate") or {}).get("metric") or default_metric
    return metric, model_metrics(manifest, model).get(metric, Measure(None))


def paired_difference(gate: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
    """The gate's paired bootstrap against production: ``{diff, low, high, confidence, lift,
    passed}`` from its check (its ``paired`` record; versions gated before there was one: read
    from the check's sentence), and that sentence."""
    for check in (gate or {}).get("checks", []):
        if not check.get("name", "").startswith("lift over production"):
            continue
        detail = check.get("detail") or check.get("threshold") or ""
        paired = check.get("paired")
        if paired:
            numbers = {k: float(paired[k]) for k in ("diff", "low", "high")}
            confidence = round(float(paired["confidence"]) * 100)
        elif found := PAIRED.search(detail):
            numbers = {k: float(found[k]) for k in ("diff", "low", "high")}
            confidence = int(found["confidence"])
        else:
            return None, detail
        return {
            **numbers,
            "confidence": confidence,
            "lift": check.get("value"),
            "passed": check.get("passed"),
            "name": check["name"],
        }, detail
    return None, ""


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def params_diff(
    candidate: dict[str, Any] | None, production: dict[str, Any] | None
) -> list[tuple[str, str, str]]:
    """Every params.yaml key whose value differs, as ``(key, candidate, production)``."""
    ours, theirs = flatten(candidate or {}), flatten(production or {})
    rows = []
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key, "∅") != theirs.get(key, "∅"):
            rows.append((key, _shown(ours, key), _shown(theirs, key)))
    return rows


def _shown(values: dict[str, Any], key: str) -> str:
    return "(absent)" if key not in values else str(values[key])


# -- pages -----------------------------------------------------------------------------------
class Views:
    """The console's reading of one registry."""

    def __init__(self, registry: Registry, alias: str = "production", metric: str = "ndcg@10"):
        self.registry = registry
        self.alias = alias
        self.metric = metric

    def _pointer(self, name: str) -> tuple[int | None, int | None]:
        """The production version and the one a rollback would go back to."""
        pointer = self.registry.alias(name, self.alias) or {}
        history = pointer.get("history") or []
        return pointer.get("version"), (history[-1] if history else None)

    def models(self) -> list[ModelSummary]:
        out = []
        for name in self.registry.models():
            production, back_to = self._pointer(name)
            was = ever_in(self.registry.audit_log(name), self.alias)
            rows = []
            for info in self.registry.versions(name):
                manifest = info.manifest or {}
                metric, measure = headline(manifest, name, self.metric)
                gate = manifest.get("gate")
                rows.append(
                    VersionRow(
                        model=name,
                        version=info.version,
                        status=status_of(info, production, was),
                        gate=("passed" if gate_passed(gate) else "failed") if gate else "",
                        metric=metric,
                        headline=measure,
                        registered_by=manifest.get("registered_by", ""),
                        registered_at=manifest.get("registered_at", ""),
                    )
                )
            out.append(ModelSummary(name, production, back_to, rows))
        return out

    def version(self, name: str, version: int) -> VersionPage:
        info = self.registry.info(name, version)
        events = self.registry.audit_log(name)
        production, back_to = self._pointer(name)
        status = status_of(info, production, ever_in(events, self.alias))
        manifest = info.manifest or {}
        prod_manifest = None
        if production is not None and production != version:
            prod_manifest = self.registry.info(name, production).manifest
        metric = (manifest.get("gate") or {}).get("metric") or self.metric
        baseline = best_baseline(manifest, metric) if manifest else None
        check = self.registry.check(name, version, "servability")
        servable = bool(check and check.get("passed"))

        columns = [f"candidate v{version}"]
        sources: list[tuple[str, dict[str, Measure]]] = [
            ("candidate", model_metrics(manifest, name))
        ]
        if prod_manifest is not None:
            columns.append(f"production v{production}")
            sources.append(("production", model_metrics(prod_manifest, name)))
        if baseline:
            columns.append(f"best baseline ({baseline})")
            sources.append(("baseline", model_metrics(manifest, baseline)))
        names = sorted({m for _, found in sources for m in found}, key=_metric_key)
        table = [(m, [found.get(m, Measure(None)) for _, found in sources]) for m in names]

        curves = []
        for family in CURVES:
            ks = sorted(
                {_metric_key(m)[2] for m in names if _metric_key(m)[1] == family and "@" in m}
            )
            if ks:
                curves.append(
                    Chart(
                        f"{family.upper() if family == 'ndcg' else family.capitalize()}@K",
                        [str(k) for k in ks],
                        [
                            Series(
                                label, role, [found.get(f"{family}@{k}", Measure(None)) for k in ks]
                            )
                            for label, (role, found) in zip(columns, sources, strict=True)
                        ],
                    )
                )

        notes = []
        if prod_manifest is not None:
            notes.append(
                f"production v{production}'s numbers are those it registered with (its own run "
                "and test window); the gate's paired bootstrap below re-scored it on this "
                "candidate's test users"
            )
        if manifest and not manifest.get("evaluation"):
            notes.append(
                "this version was registered before manifests recorded the baselines and the "
                "intervals: only its own test metrics are shown"
            )
        lineage = manifest.get("lineage") or {}
        pushed = [
            e["remote"]
            for e in events
            if e.get("action") == "data_pushed" and e.get("version") == version
        ]
        commit = (lineage.get("git") or {}).get("commit")
        lineage_view = {
            "commit": commit,
            "dirty": (lineage.get("git") or {}).get("dirty"),
            "data": [
                (stage, path, md5)
                for stage, outs in sorted((lineage.get("data") or {}).items())
                for path, md5 in sorted(outs.items())
            ],
            "restore": restore_command(commit, pushed[-1] if pushed else None),
            "pushed_to": pushed[-1] if pushed else None,
        }
        if prod_manifest is None:
            diff, params_note = (
                None,
                (
                    "this version is in production: nothing to compare with"
                    if production == version
                    else "there is no production version to compare with"
                ),
            )
        elif "params" not in lineage or "params" not in (prod_manifest.get("lineage") or {}):
            diff, params_note = None, "a manifest records no params: nothing to compare"
        else:
            diff = params_diff(lineage["params"], prod_manifest["lineage"]["params"])
            params_note = (
                f"params.yaml as recorded at registration (lineage.params), v{version} against "
                f"production v{production}"
            )
        paired, paired_detail = paired_difference(manifest.get("gate"))
        audit = [e for e in events if e.get("version") == version]
        return VersionPage(
            model=name,
            version=version,
            status=status,
            manifest=info.manifest,
            alias=self.alias,
            production=production,
            can_roll_back_to=back_to,
            metric=metric,
            gate=manifest.get("gate"),
            baseline=baseline,
            columns=columns,
            table=table,
            curves=curves,
            folds=self._folds(manifest, prod_manifest, name, metric, columns, baseline),
            segments=self._segments(manifest, name, metric, baseline),
            paired=paired,
            paired_detail=paired_detail,
            lineage=lineage_view,
            params_diff=diff,
            params_note=params_note,
            audit=audit,
            servable=servable,
            actions=available_actions(status, servable, production == version, back_to is not None),
            notes=notes,
        )

    @staticmethod
    def _folds(manifest, prod_manifest, name, metric, columns, baseline) -> Chart | None:
        ours = (manifest.get("cross_validation") or {}).get("folds") or {}
        if not ours:
            return None
        theirs = ((prod_manifest or {}).get("cross_validation") or {}).get("folds") or {}
        others = (manifest.get("evaluation") or {}).get("folds") or {}
        keys = sorted(ours, key=int)
        labels, cand, prod, base = [], [], [], []
        for k in keys:
            window = ours[k].get("window") or {}
            labels.append(f"fold {k} ({str(window.get('test_start', 'per-user cuts'))[:10]})")
            cand.append(Measure(ours[k]["metrics"].get(metric)))
            theirs_k = theirs.get(k)
            same = theirs_k is not None and theirs_k.get("window") == window
            prod.append(Measure(theirs_k["metrics"].get(metric) if same else None))
            base.append(Measure(((others.get(k) or {}).get(baseline) or {}).get(metric)))
        series = [Series(columns[0], "candidate", cand)]
        if prod_manifest is not None:
            series.append(Series(columns[1], "production", prod))
        if baseline and any(m.value is not None for m in base):
            series.append(Series(f"best baseline ({baseline})", "baseline", base))
        return Chart(
            f"{metric} per cross-validation fold",
            labels,
            series,
            "production is shown on the folds it registered with the same window",
        )

    @staticmethod
    def _segments(manifest, name, metric, baseline) -> Chart | None:
        models = ((manifest.get("evaluation") or {}).get("segments") or {}).get("models") or {}
        if name not in models:
            return None
        labels, cand, base = [], [], []
        for kind in ("users", "items"):
            for segment, row in sorted((models[name].get(kind) or {}).items()):
                labels.append(f"{kind[:-1]} {segment} ({row.get('users', 0)} users)")
                cand.append(Measure(row.get(metric)))
                theirs = ((models.get(baseline) or {}).get(kind) or {}).get(segment) or {}
                base.append(Measure(theirs.get(metric)))
        series = [Series(f"candidate v{manifest.get('version')}", "candidate", cand)]
        if baseline in models:
            series.append(Series(f"best baseline ({baseline})", "baseline", base))
        return Chart(
            f"{metric} per segment (same run)",
            labels,
            series,
            "segments are scored on the candidate's own test users; production is not shown "
            "here (its segments come from another run)",
        )
