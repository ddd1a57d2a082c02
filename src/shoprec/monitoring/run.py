"""One monitoring run: the production version's reference profiles, the latest events and
impressions, the three checks, the report; and the audit record of a breach.

``monitor`` takes every input explicitly when given (``now``, ``events``, ``items``,
``impressions``, ``registry``), so a benchmark can replay days through it without Prefect;
otherwise it reads the project's files and the registry named in ``params``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from shoprec.config import Params
from shoprec.errors import ConfigError
from shoprec.evaluation.profiles import project_data_profile
from shoprec.impressions import open_log, read_impressions
from shoprec.io import read_parquet
from shoprec.monitoring.drift import data_drift
from shoprec.monitoring.online import online_quality
from shoprec.monitoring.report import write_report
from shoprec.monitoring.served import recommendation_drift
from shoprec.monitoring.verdict import MonitoringReport
from shoprec.registry import Registry, open_registry

log = logging.getLogger(__name__)
BREACH_ACTION = "monitoring_breach"
BY = "monitoring"


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    stamp = pd.Timestamp(now)
    return (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    ).to_pydatetime()


def _in_window(events: pd.DataFrame, since: datetime, until: datetime) -> pd.DataFrame:
    stamps = pd.to_datetime(events["timestamp"], utc=True)
    return events[(stamps >= pd.Timestamp(since)) & (stamps < pd.Timestamp(until))]


def reference(
    registry: Registry, root: Path, params: Params
) -> tuple[int, dict, dict | None, list]:
    """The alias's version, its data and served profiles, and notes on what was missing."""
    m = params.monitoring
    alias = registry.alias(m.model, m.alias)
    if alias is None:
        raise ConfigError(
            f"{m.model} has no {m.alias!r} version in the registry: nothing to monitor "
            "(promote a version first, or set monitoring.model and monitoring.alias)"
        )
    version = int(alias["version"])
    manifest = registry.info(m.model, version).manifest or {}
    notes = []
    data = manifest.get("data_profile")
    if data is None:
        data = project_data_profile(root, m.items)
        if data is None:
            raise ConfigError(
                f"{m.model} v{version} has no data_profile in its manifest and {root} has no "
                "data/split to build one from; register the version again with this shoprec"
            )
        note = (
            f"{m.model} v{version} was registered without profiles: the data profile is the "
            "project's data/split (train and validation), which may not be what it was trained on"
        )
        log.warning(note)
        notes.append(note)
    return version, data, manifest.get("served_profile"), notes


def monitor(
    root: str | Path,
    params: Params,
    now: datetime | None = None,
    *,
    events: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    impressions: pd.DataFrame | None = None,
    registry: Registry | None = None,
    write: bool = True,
) -> MonitoringReport:
    """The checks of the ``monitoring.days`` before ``now`` (default: the clock). ``events``
    (default ``monitoring.events``), ``items`` (``monitoring.items``) and ``impressions``
    (``serving.impressions``) are cut to that window here. ``write``: the HTML and JSON go to
    ``monitoring.report_dir`` (relative to ``root``)."""
    root = Path(root)
    m = params.monitoring
    until = _utc(now)
    since = until - timedelta(days=m.days)
    registry = registry or open_registry(params.registry.uri, root)
    version, data, served, notes = reference(registry, root, params)
    if events is None:
        events = read_parquet(root / m.events)
    if items is None and (root / m.items).exists():
        items = read_parquet(root / m.items)
    latest = _in_window(events, since, until)
    why_none = ""
    if impressions is None and params.serving.impressions:
        impressions = read_impressions(open_log(params.serving.impressions, root), since, until)
    elif impressions is None:
        why_none = "serving.impressions is empty: the service records no impressions"
    if impressions is not None:
        served_at = pd.to_datetime(impressions["served_at"], utc=True)
        keep = (served_at >= pd.Timestamp(since)) & (served_at < pd.Timestamp(until))
        if "endpoint" in impressions:  # similar-item answers are nobody's list
            keep &= impressions["endpoint"] == "recommendations"
        impressions = impressions[keep].reset_index(drop=True)
    mine = None
    if impressions is not None:
        mine = impressions[
            (impressions["model"] == m.model) & (impressions["version"] == version)
        ].reset_index(drop=True)
    checks = [
        data_drift(data, latest, items, m),
        recommendation_drift(data, served, mine, m, why_none),
        online_quality(impressions, latest, m, until, why_none),
    ]
    report = MonitoringReport(
        time=until.isoformat(),
        model=m.model,
        version=version,
        alias=m.alias,
        window={"since": since.isoformat(), "until": until.isoformat()},
        checks=checks,
        notes=notes,
        counts={
            "events": len(latest),
            "impressions": 0 if impressions is None else len(impressions),
        },
    )
    if write:
        write_report(report, root / m.report_dir)
    log.info("monitoring %s v%d: %s", m.model, version, report.verdict)
    return report


def record_breach(
    root: str | Path,
    params: Params,
    report: dict,
    flow_run_id: str | None = None,
    training_run_id: str | None = None,
    error: str | None = None,
    registry: Registry | None = None,
) -> None:
    """The breach in the registry's audit log: action ``monitoring_breach``, by ``monitoring``,
    the breached statistics as the reason, the training flow run it started (if any)."""
    registry = registry or open_registry(params.registry.uri, root)
    details = {
        "version": report["version"],
        "report": report.get("html"),
        "flow_run_id": flow_run_id,
        "training_flow_run_id": training_run_id,
    }
    if error:
        details["error"] = error
    registry.audit(report["model"], BREACH_ACTION, BY, "; ".join(report["breaches"]), **details)
