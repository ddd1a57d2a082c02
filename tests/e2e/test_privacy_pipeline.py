"""Pseudonymised ids through the real pipeline (`dvc repro`), the registry, the service (over
HTTP, with its impressions log) and batch scoring, then a user forgotten and the pipeline run
again."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from shoprec.data.synthetic import generate_shop
from shoprec.privacy.pseudonym import KEY_ENV, Pseudonymiser
from shoprec.training.model_table import load_model
from tests.conftest import free_port
from tests.privacy.raw_ids import files_containing
from tests.projects import dvc, make_project, run
from tests.registries import registry_at

pytestmark = pytest.mark.slow
KEY = "e2e-test-key-" + "5" * 32  # a test key, not a secret
MODEL = "ease"


def _shop(folder: Path) -> list[str]:
    """A synthetic shop as canonical CSV files whose ids cannot occur by chance
    ("customer-000123", not "u00123"); returns every raw user id."""
    events, items = generate_shop(users=300, items=150, days=28, seed=3)
    events["user_id"] = "customer-" + events["user_id"].str[1:].str.zfill(6)
    folder.mkdir()
    events.to_csv(folder / "events.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)
    return sorted(events["user_id"].unique())


def _shoprec(project: Path, *args: str) -> str:
    return run([sys.executable, "-m", "shoprec", *args], project).stdout


def _release(project: Path) -> int:
    """Register models/ease (servability checked), approve it and point production at it."""
    _shoprec(project, "registry", "register", MODEL, "models/ease", "--by", "e2e")
    registry = registry_at(str(project / "registry"))
    version = max(v.version for v in registry.versions(MODEL))
    registry.decide(MODEL, version, "approved", "e2e", "privacy test")
    registry.promote(MODEL, version, "e2e", "privacy test")
    return version


def _batch_users(project: Path) -> set[str]:
    parts = sorted((project / "batch").rglob("part-*.parquet"))
    assert parts
    return set(pd.concat(pd.read_parquet(p) for p in parts)["user_id"])


def _serve_raw_ids(project: Path, users: list[str]) -> int:
    """``shoprec serve`` in the project (its log in ``serve.log``), each of ``users`` asked for
    by their raw id, one session event, then a clean stop; how many were known (no fallback)."""
    port = free_port()
    with (project / "serve.log").open("w") as log:
        command = [sys.executable, "-m", "shoprec", "serve", "--port", str(port)]
        server = subprocess.Popen(command, cwd=project, stdout=log, stderr=subprocess.STDOUT)
        base, known = f"http://127.0.0.1:{port}", 0
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                assert server.poll() is None, (project / "serve.log").read_text()[-3000:]
                try:
                    if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            for user in users:
                answer = httpx.get(f"{base}/v1/recommendations/{user}", timeout=10).json()
                assert answer["user_id"] == user  # the answer echoes what the caller sent
                known += not answer["fallback"]
                if not answer["fallback"]:
                    event = {
                        "user_id": user,
                        "events": [{"item_id": answer["items"][0]["item_id"]}],
                    }
                    assert httpx.post(f"{base}/v1/events", json=event).status_code == 202
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    assert server.returncode == 0, (project / "serve.log").read_text()[-3000:]
    return known


def test_no_raw_id_is_written_and_a_forgotten_user_leaves_every_output(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv("SHOPREC_REGISTRY_URI", raising=False)
    project = tmp_path / "shop"
    project.mkdir()
    users = _shop(project / "source")
    make_project(
        project,
        {
            "data": {"source": "files", "events": "source/events.csv", "items": "source/items.csv"},
            "privacy": {"pseudonymise_users": True},
            "train": {"two_tower": False, "sequential": False, "two_stage": False},
            "gate": {"model": MODEL},
            "serving": {"model": MODEL, "impressions": "impressions", "savedmodels": {}},
            "batch_scoring": {"model": MODEL, "active_days": 0, "chunk_size": 100},
        },
    )
    dvc(project, "repro")
    _release(project)
    _shoprec(project, "batch", "score")

    pseudonym = Pseudonymiser(KEY.encode())
    sample = users[::37]  # ids spread over the shop
    assert _serve_raw_ids(project, sample) > 0  # raw ids found the users known by pseudonym
    assert len(list((project / "impressions").rglob("*.parquet"))) > 0
    assert files_containing(project, sample, exclude=[project / "source"]) == {}
    assert set(files_containing(project / "source", sample)["events.csv"]) == set(sample)
    assert KEY not in json.dumps(files_containing(project, [KEY], exclude=[]))
    report = json.loads((project / "reports/ingest.json").read_text())
    assert report["privacy"]["key_id"] == pseudonym.key_id

    # forget a user the model and the batch know, by their raw id
    model_users = set(load_model(project / "models" / MODEL).history.user_ids)
    forgotten = next(u for u in users if pseudonym(u) in model_users)
    stored = pseudonym(forgotten)
    assert stored in _batch_users(project)
    said = _shoprec(project, "privacy", "forget", forgotten, "--by", "dpo", "--reason", "GDPR 17")
    assert "part(s) rewritten" in said and forgotten not in said
    assert stored not in _batch_users(project)

    again = dvc(project, "repro").stdout
    assert "Running stage 'train@ease'" in again
    report = json.loads((project / "reports/ingest.json").read_text())
    assert report["privacy"]["erased_events"] > 0
    assert report["quarantine_reasons"]["erased"] == report["privacy"]["erased_events"]
    for folder in sorted((project / "models").iterdir()):
        if (folder / "model.json").is_file():
            assert stored not in set(load_model(folder).history.user_ids), folder.name
    _release(project)
    _shoprec(project, "batch", "score")
    assert stored not in _batch_users(project)
    assert files_containing(project, [*sample, forgotten], exclude=[project / "source"]) == {}
    audit = registry_at(str(project / "registry")).audit_log(MODEL)
    (request,) = [e for e in audit if e["action"] == "forget"]
    assert (request["user_id"], request["by"], request["reason"]) == (stored, "dpo", "GDPR 17")
