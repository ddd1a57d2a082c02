"""The monitoring verdict: one row per statistic (value, threshold, verdict with its note).

Built from ``MonitoringReport.to_dict()`` (the report's JSON): ``{"model", "version",
"verdict", "checks": [{"name", "verdict", "statistics": [{"name", "value", "rule",
"threshold", "judged", "interval", "verdict", "note"}]}]}``. The CLI prints it, the
monitoring flow's artifact and the HTML page hold it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoprec.render.table import Column, Table, cell

_VERDICT_STYLE = {"ok": "good", "breach": "bad", "not judged": "muted"}


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _value(stat: Mapping[str, Any]):
    interval = stat.get("interval")
    if stat.get("value") is None:
        return cell(("—", "muted"))
    if interval:
        return cell(_number(stat["value"]), (f" [{interval[0]:.4g}, {interval[1]:.4g}]", "muted"))
    return cell(_number(stat["value"]))


def verdict_cell(verdict: str, note: str = ""):
    return cell((verdict, _VERDICT_STYLE.get(verdict, "")), (f" {note}", "muted") if note else "")


def monitoring_table(report: Mapping[str, Any]) -> Table:
    title = f"Monitoring of {report['model']} v{report['version']} ({report['alias']}): "
    rows = []
    for check in report["checks"]:
        for stat in check["statistics"]:
            bound = "≤" if stat["rule"] == "max" else "≥"
            rows.append(
                [
                    cell(check["name"]),
                    cell(stat["name"]),
                    _value(stat),
                    cell(f"{bound} {stat['threshold']:g}"),
                    verdict_cell(stat["verdict"], stat.get("note") or ""),
                ]
            )
    window = report.get("window") or {}
    return Table(
        title=cell(title, (report["verdict"].upper(), _VERDICT_STYLE.get(report["verdict"], ""))),
        columns=[
            Column("check"),
            Column("statistic", key=True),
            Column("value", numeric=True),
            Column("threshold"),
            Column("verdict"),
        ],
        rows=rows,
        notes=[f"window {window.get('since')} → {window.get('until')}", *report.get("notes", [])],
    )
