"""The service's OpenAPI document tells the truth: schemathesis, run as a user would run it
against the real service over HTTP, finds no failure in any of its checks; and the bodies it
cannot reach (a known user's events) are checked against the documented models here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shoprec.serving import contract
from tests.e2e.test_serving import api, known_users, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_schemathesis_finds_no_contract_failure(api, tmp_path):  # noqa: F811
    url = str(api.base_url.join("/openapi.json"))
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            url,
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--workers",
            "1",
            "--seed",
            "1",
            "--no-color",
        ],
        cwd=tmp_path,  # its example database stays out of the repository
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and "failed" not in run.stdout.split("SUMMARY")[-1]


def test_documented_bodies_match_what_is_sent(api, world):  # noqa: F811
    user = known_users(world)[0]
    item = str(world["model"].history.item_ids[0])
    contract.Recommendations.model_validate(api.get(f"/v1/recommendations/{user}").json())
    contract.SimilarItems.model_validate(api.get(f"/v1/similar/{item}").json())
    accepted = api.post("/v1/events", json={"user_id": user, "events": [{"item_id": item}]})
    assert accepted.status_code == 202
    contract.EventsAccepted.model_validate(accepted.json())
    unknown = api.post("/v1/events", json={"user_id": user, "events": [{"item_id": "nope"}]})
    assert unknown.status_code == 422
    contract.InvalidRequestBody.model_validate(unknown.json())
    invalid = api.get(f"/v1/recommendations/{user}", params={"k": 0})
    body = contract.InvalidRequestBody.model_validate(invalid.json())
    assert body.detail[0].field == "k"
    contract.ErrorBody.model_validate(api.get("/v1/similar/not-an-item").json())


def test_a_wrong_method_says_which_are_allowed(api):  # noqa: F811
    reply = api.delete("/v1/events")
    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"
    assert reply.json()["error"] == "Method Not Allowed"


def test_metrics_are_documented_as_prometheus_text(api):  # noqa: F811
    spec = api.get("/openapi.json").json()
    documented = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(documented) == ["text/plain"]
    assert api.get("/metrics").headers["content-type"].startswith("text/plain")
    errors = spec["paths"]["/v1/similar/{item_id}"]["get"]["responses"]
    assert {"404", "422", "503"} <= set(errors)
