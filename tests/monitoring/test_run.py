"""``monitor``: a promoted version with its profiles, the latest events and impressions of a
project, the report on disk; an old version without profiles; no production version."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shoprec.config import load_params
from shoprec.errors import ConfigError
from shoprec.monitoring.run import monitor
from tests.monitoring.shop import (
    FLIPPED_MIX,
    NOW,
    catalogue,
    latest_events,
    register_production,
    served_impressions,
    write_impressions,
    write_project,
)


@pytest.fixture(scope="module")
def production(batch_shop, tmp_path_factory):
    folder = tmp_path_factory.mktemp("monitored") / "registry"
    register_production(folder, batch_shop)
    return folder


def project_with(tmp_path, registry, batch_shop, events, **monitoring):
    project = tmp_path / "project"
    params = load_params(write_project(project, registry, events, **monitoring))
    users = [f"u{u:05d}" for u in range(0, 600, 3)]
    write_impressions(
        project, served_impressions(batch_shop["model"], users, NOW - pd.Timedelta(days=2))
    )
    return project, params


def test_a_clean_week_passes_and_the_report_is_written(production, batch_shop, tmp_path):
    project, params = project_with(tmp_path, production, batch_shop, latest_events())
    report = monitor(project, params, NOW)
    assert report.verdict == "ok", report.breaches()
    assert (report.model, report.version, report.counts["impressions"]) == ("itemknn", 1, 200)
    assert [c.verdict for c in report.checks] == ["ok", "ok", "ok"]
    written = json.loads((project / "reports/monitoring/latest.json").read_text())
    assert written["verdict"] == "ok" and written["window"]["until"] == NOW.isoformat()
    stats = {s["name"]: s for c in written["checks"] for s in c["statistics"]}
    assert stats["event mix"]["threshold"] == params.monitoring.max_event_mix_distance
    page = (project / "reports/monitoring/latest.html").read_text()
    assert page == (project / "reports/monitoring/20260430T120000Z.html").read_text()
    assert "<svg" in page and "<script" not in page and "event mix" in page


def test_a_flipped_event_mix_breaches(production, batch_shop, tmp_path):
    project, params = project_with(tmp_path, production, batch_shop, latest_events(FLIPPED_MIX))
    report = monitor(project, params, NOW, write=False)
    assert report.breached and report.html is None
    (reason,) = report.breaches()
    assert reason.startswith("data drift: event mix ") and reason.endswith("> 0.1")


def test_explicit_inputs_replace_the_projects_files(production, batch_shop, tmp_path):
    project, params = project_with(tmp_path, production, batch_shop, latest_events())
    report = monitor(
        project,
        params,
        NOW,
        events=latest_events(FLIPPED_MIX),
        items=catalogue(),
        impressions=pd.DataFrame(columns=["served_at", "model", "version", "fallback"]),
        write=False,
    )
    assert report.breached and report.counts == {
        "events": report.counts["events"],
        "impressions": 0,
    }
    assert report.checks[1].verdict == "not judged"


def test_an_old_version_uses_the_projects_split_and_skips_the_offline_comparison(
    batch_shop, tmp_path
):
    registry = tmp_path / "registry"
    register_production(registry, batch_shop, profiles=False)
    project, params = project_with(tmp_path, registry, batch_shop, latest_events())
    (project / "data/split").mkdir(parents=True)
    pd.read_parquet(batch_shop["events"]).to_parquet(project / "data/split/train.parquet")
    report = monitor(project, params, NOW, write=False)
    assert "registered without profiles" in report.notes[0]
    assert report.checks[0].verdict == "ok"
    served = report.checks[1]
    assert "offline comparison is skipped" in served.notes[0]
    assert [s.verdict for s in served.statistics] == ["not judged"] * 3 + ["ok"]
    (project / "data/split/train.parquet").unlink()
    with pytest.raises(ConfigError, match="no data_profile"):
        monitor(project, params, NOW, write=False)


def test_without_a_production_version_there_is_nothing_to_monitor(batch_shop, tmp_path):
    project, params = project_with(tmp_path, tmp_path / "empty", batch_shop, latest_events())
    with pytest.raises(ConfigError, match="no 'production' version"):
        monitor(project, params, NOW)


def test_the_command_prints_the_verdict_and_exits_2_on_a_breach(production, batch_shop, tmp_path):
    from typer.testing import CliRunner

    from shoprec.cli import app

    project_with(tmp_path, production, batch_shop, latest_events(FLIPPED_MIX))
    args = [
        "monitor",
        "--params",
        str(tmp_path / "project/params.yaml"),
        "--now",
        "2026-04-30T12:00:00",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "BREACH" in result.output and "event mix" in result.output
    assert "latest" not in result.output and "20260430T120000Z.html" in result.output.replace(
        "\n", ""
    )
