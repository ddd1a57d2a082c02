"""Every route of the console over real HTTP: sign-in, roles, CSRF, the pages' markup and
the decisions (approve, reject, promote, roll back) with their audit records."""

from __future__ import annotations

import re
from html import escape

import pytest

from tests.console.helpers import client


def csrf_of(html: str) -> str:
    (token,) = re.findall(r'name="csrf_token" value="([0-9a-f]+)"', html)
    return token


def statuses(html: str) -> dict[int, str]:
    rows = re.findall(r'<tr data-model="itemknn" data-version="(\d+)" data-status="([a-z]+)"', html)
    return {int(v): s for v, s in rows}


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, f"no #{element_id}"
    return found.group(1).strip()


def buttons(html: str) -> set[str]:
    """The actions offered (links styled as buttons; audit rows carry data-action too)."""
    return set(re.findall(r'<a class="button[^"]*" data-action="([a-z]+)"', html))


def confirm(http, url: str, reason: str = "looked at the gate"):
    """The two steps of a decision: the confirmation form, then its POST (no redirect)."""
    form = http.get(url)
    assert form.status_code == 200, form.text
    return http.post(url, data={"reason": reason, "csrf_token": csrf_of(form.text)})


def test_the_root_redirects_to_the_models_list(console):
    server, _, _ = console
    with client(server, None) as http:
        reply = http.get("/")
    assert reply.status_code == 303 and reply.headers["location"] == "/models"


def test_the_versions_list_shows_each_status_gate_and_headline(console):
    server, registry, _ = console
    with client(server) as http:
        reply = http.get("/models")
    assert reply.status_code == 200, reply.text
    html = reply.text
    assert '<table id="versions">' in html
    assert statuses(html) == {1: "retired", 2: "production", 3: "pending"}
    assert 'href="/models/itemknn/versions/3"' in html
    ndcg = registry.info("itemknn", 3).manifest["evaluation"]["metrics"]["itemknn"]["ndcg@10"]
    assert f"ndcg@10 {ndcg:.4f}" in html  # the headline, with its interval beside it
    assert "trainer3" in html and "passed" in html
    assert buttons(html) == {"rollback"}  # ana is a reviewer and v2 replaced v1


def test_a_version_page_shows_gate_charts_table_lineage_params_and_audit(console):
    server, registry, _ = console
    with client(server) as http:
        reply = http.get("/models/itemknn/versions/3")
    assert reply.status_code == 200, reply.text
    html = reply.text
    assert text_of(html, "status") == "pending"
    assert text_of(html, "production-version") == "2"
    manifest = registry.info("itemknn", 3).manifest
    for check in manifest["gate"]["checks"]:  # the verdict per check
        assert f"<td>{escape(check['name'])}</td>" in html
    assert "lift over production (v2)" in html and "paired difference" in html
    assert html.count("<svg") == 5  # Recall@K, NDCG@K, the paired difference, folds, segments
    assert "Recall@K" in html and "NDCG@K" in html
    assert "fold 2 (" in html and "user history:10+" in html
    # the table: every metric at every K, candidate / production / best baseline, intervals
    assert "candidate v3" in html and "production v2" in html and "best baseline (ease)" in html
    for metric in ("recall@5", "ndcg@50", "precision@20", "coverage@10", "novelty@5"):
        assert f'data-metric="{metric}"' in html
    low, high = manifest["evaluation"]["intervals"]["itemknn"]["ndcg@10"]
    assert f"[{low:.4f}, {high:.4f}]" in html
    # lineage and the params diff
    assert manifest["lineage"]["git"]["commit"] in html and "uncommitted changes" in html
    assert "data/split" in html and "dvc pull" in html
    assert "models.itemknn.neighbors" in html
    # the audit history of this version, and the buttons that apply to it
    assert '<table id="audit">' in html and '<tr data-action="register">' in html
    assert buttons(html) == {"approve", "reject"}


def test_production_and_retired_pages_offer_what_applies(console):
    server, _, _ = console
    with client(server) as http:
        production = http.get("/models/itemknn/versions/2").text
        retired = http.get("/models/itemknn/versions/1").text
    assert text_of(production, "status") == "production"
    assert buttons(production) == {"rollback"}
    assert "this version is in production" in production
    assert text_of(retired, "status") == "retired"
    assert buttons(retired) == {"promote"}


def test_an_unknown_version_or_action_is_404(console):
    server, _, _ = console
    with client(server) as http:
        assert http.get("/models/itemknn/versions/9").status_code == 404
        assert http.get("/models/nope/versions/1").status_code == 404
        assert http.get("/models/itemknn/versions/3/explode").status_code == 404
        assert http.get("/models/itemknn/versions/2/approve").status_code == 409


@pytest.mark.parametrize("path", ["/models", "/models/itemknn/versions/3"])
def test_no_credentials_or_a_wrong_password_is_401_with_a_basic_challenge(console, path):
    server, _, _ = console
    with client(server, None) as http:
        anonymous = http.get(path)
        wrong = http.get(path, auth=("ana", "not-her-password"))
        unknown = http.get(path, auth=("mallory", "x"))
        bad_token = http.get(path, headers={"Authorization": "Bearer ana.forged"})
    for reply in (anonymous, wrong, unknown, bad_token):
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"].startswith("Basic")


def test_a_bearer_token_signs_in_a_script(console):
    server, registry, token = console
    with client(server, None, headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get("/models").status_code == 200
        reply = http.post("/models/itemknn/versions/3/reject", data={"reason": "from a script"})
    assert reply.status_code == 303
    assert registry.info("itemknn", 3).decision == "rejected"
    (event,) = [e for e in registry.audit_log("itemknn") if e["action"] == "reject"]
    assert event["by"] == "ana"


def test_read_only_sees_everything_decides_nothing(console):
    server, registry, _ = console
    with client(server, "ana") as http:  # a valid token, but ana's
        anas = csrf_of(http.get("/models/itemknn/versions/3/approve").text)
    with client(server, "rita") as http:
        page = http.get("/models/itemknn/versions/3").text
        listing = http.get("/models").text
        form = http.get("/models/itemknn/versions/3/approve")
        forged = [
            http.post(
                "/models/itemknn/versions/3/approve", data={"reason": "x", "csrf_token": token}
            )
            for token in (anas, "0" * 64)
        ]
        rollback = http.post("/models/itemknn/rollback", data={"csrf_token": anas})
    assert text_of(page, "status") == "pending" and "read-only" in page
    assert buttons(page) == set() and buttons(listing) == set()  # no buttons at all
    assert form.status_code == 403
    assert [r.status_code for r in forged] == [403, 403] and rollback.status_code == 403
    assert registry.info("itemknn", 3).decision is None
    assert registry.alias("itemknn")["version"] == 2


def test_a_post_without_or_with_a_wrong_csrf_token_is_403(console):
    server, registry, _ = console
    url = "/models/itemknn/versions/3/approve"
    with client(server) as http:
        missing = http.post(url, data={"reason": "no token"})
        wrong = http.post(url, data={"reason": "bad", "csrf_token": "deadbeef" * 8})
        rollback = http.post("/models/itemknn/rollback", data={"reason": "no token"})
    assert [missing.status_code, wrong.status_code, rollback.status_code] == [403, 403, 403]
    assert "CSRF" in missing.text
    assert registry.info("itemknn", 3).decision is None
    assert registry.alias("itemknn")["version"] == 2


def test_approve_then_promote_moves_production_with_the_signed_in_name(console):
    server, registry, _ = console
    with client(server) as http:
        form = http.get("/models/itemknn/versions/3/approve").text
        assert '<textarea id="reason" name="reason" required>' in form
        assert 'data-confirm="approve"' in form
        approved = confirm(http, "/models/itemknn/versions/3/approve", "better on every fold")
        assert approved.status_code == 303
        assert approved.headers["location"] == "/models/itemknn/versions/3"
        page = http.get("/models/itemknn/versions/3").text
        again = http.get("/models/itemknn/versions/3").text  # the flash shows once
        promoted = confirm(http, "/models/itemknn/versions/3/promote", "ship it")
        after = http.get(promoted.headers["location"]).text
    assert registry.info("itemknn", 3).decision == "approved"
    assert text_of(page, "status") == "approved"
    assert "approved by ana" in text_of(page, "flash")
    assert "no training flow" not in page  # nothing waited: nothing said about a flow
    assert 'id="flash"' not in again
    assert buttons(page) == {"promote"}
    assert promoted.status_code == 303
    assert registry.alias("itemknn")["version"] == 3
    assert text_of(after, "status") == "production" and text_of(after, "production-version") == "3"
    assert "production → v3" in text_of(after, "flash")
    events = {e["action"]: e for e in registry.audit_log("itemknn") if e.get("version") == 3}
    assert (events["approve"]["by"], events["approve"]["reason"]) == ("ana", "better on every fold")
    assert (events["promote"]["by"], events["promote"]["reason"]) == ("ana", "ship it")
    assert re.search(r'<tr data-action="approve">.*?<td class="by">ana</td>', after, re.S)


def test_reject_needs_a_reason_and_is_recorded(console):
    server, registry, _ = console
    with client(server) as http:
        empty = confirm(http, "/models/itemknn/versions/3/reject", "")
        flash = text_of(http.get(empty.headers["location"]).text, "flash")
        rejected = confirm(http, "/models/itemknn/versions/3/reject", "worse than v2")
        page = http.get(rejected.headers["location"]).text
    assert "not done" in flash and "why" in flash  # the registry's own refusal
    assert registry.info("itemknn", 3).decision == "rejected"
    assert text_of(page, "status") == "rejected"
    assert buttons(page) == set()  # nothing applies
    (event,) = [e for e in registry.audit_log("itemknn") if e["action"] == "reject"]
    assert (event["by"], event["reason"]) == ("ana", "worse than v2")


def test_rollback_moves_production_back_to_the_previous_version(console):
    server, registry, _ = console
    with client(server) as http:
        form = http.get("/models/itemknn/rollback")
        assert 'data-confirm="rollback"' in form.text and "v2 to v1" in form.text
        reply = http.post(
            "/models/itemknn/rollback",
            data={"reason": "v2 misbehaves", "csrf_token": csrf_of(form.text)},
        )
        assert reply.status_code == 303
        assert reply.headers["location"] == "/models/itemknn/versions/1"
        page = http.get("/models/itemknn/versions/1").text
        listing = http.get("/models").text
        none_left = http.get("/models/itemknn/rollback")
    assert registry.alias("itemknn")["version"] == 1
    assert text_of(page, "status") == "production" and text_of(page, "production-version") == "1"
    assert "rolled back" in text_of(page, "flash")
    assert statuses(listing) == {1: "production", 2: "retired", 3: "pending"}
    assert none_left.status_code == 409  # v1 was the first: nothing earlier
    (event,) = [e for e in registry.audit_log("itemknn") if e["action"] == "rollback"]
    assert (event["by"], event["reason"], event["previous"]) == ("ana", "v2 misbehaves", 2)
