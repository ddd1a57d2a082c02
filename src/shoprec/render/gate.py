"""The gate verdict: one row per check (value, threshold, pass or fail with its detail).

Built from ``GateResult.as_dict()`` (what the registry manifest records under ``gate``):
``{"model", "metric", "passed", "checks": [{"name", "value", "threshold", "passed",
"detail", "kind"}]}``; a ``kind: info`` row (a fold's lifts, the weakest segment) informs and
never fails the gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoprec.render.metrics import value_text
from shoprec.render.table import Column, Table, cell


def gate_passed(gate: Mapping[str, Any]) -> bool:
    if "passed" in gate:
        return bool(gate["passed"])
    return all(c["passed"] for c in gate.get("checks", []))


def gate_table(gate: Mapping[str, Any]) -> Table:
    verdict = ("PASSED", "good") if gate_passed(gate) else ("FAILED", "bad")
    rows = []
    for check in gate.get("checks", []):
        detail = check.get("detail") or ""
        if check.get("kind") == "info":
            result = cell("info", f" {detail}" if detail else "")
        elif check["passed"]:
            result = cell("pass")
        else:
            result = cell(("fail", "bad"), f" {detail}" if detail else "")
        rows.append(
            [
                cell(check["name"]),
                cell(value_text(check.get("value"))),
                cell(str(check.get("threshold", ""))),
                result,
            ]
        )
    return Table(
        title=cell(f"Evaluation gate for {gate['model']}: ", verdict),
        columns=[Column("check"), Column("value"), Column("threshold"), Column("verdict")],
        rows=rows,
    )
