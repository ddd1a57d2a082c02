"""The pipeline commands: ``shoprec recommend`` with a saved two-stage model (the other
commands' behaviour is in test_app.py, their errors in test_common.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli.helpers import invoke


def test_the_cli_prints_recommendations_with_reasons(two_stage_fit, tiny_shop, tmp_path):
    model, _ = two_stage_fit
    path = model.save(tmp_path / "two_stage")
    user = str(model.history.user_ids[tiny_shop["holdout"].targets.user_rows[0]])
    expected = model.recommend_with_reasons([user], k=5)
    # as a user runs it: a new process
    run = [sys.executable, "-m", "shoprec", "recommend", user, "--model", str(path)]
    proc = subprocess.run([*run, "-k", "5", "--json"], capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["rank"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["item_id"] for r in records] == expected["item_id"].tolist()
    assert all(r["user_id"] == user for r in records)
    assert any(r["reasons"] for r in records)
    for record in records:
        for reason in record["reasons"]:
            assert set(reason["features"]) <= set(model.names)
    # the table: the same items, in rank order
    table = invoke("recommend", user, "--model", str(path), "-k", "3")
    assert table.exit_code == 0, table.output
    assert user in table.stdout
    positions = [table.stdout.find(str(item)) for item in expected["item_id"][:3]]
    assert -1 not in positions and positions == sorted(positions), table.stdout
    assert "why" in table.stdout  # the reasons column
    unknown = invoke("recommend", "nobody", "--model", str(path))
    assert unknown.exit_code == 1
    assert unknown.stderr.strip().count("\n") == 0 and "unknown user" in unknown.stderr
