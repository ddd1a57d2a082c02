"""``shoprec privacy``: forget, list, pseudonym, and their readable errors."""

from __future__ import annotations

import numpy as np
import pytest

from shoprec.batch_scoring.score import score_to_parquet
from shoprec.config import load_params
from shoprec.privacy.erasures import ErasureList
from shoprec.privacy.pseudonym import KEY_ENV, Pseudonymiser
from tests.cli.helpers import invoke, one_line_error
from tests.privacy.shop import KEY, USERS, write_params, write_shop
from tests.registries import registry_at

RAW = USERS[0]


@pytest.fixture
def project(tmp_path, monkeypatch):
    write_params(tmp_path, write_shop(tmp_path / "source"))
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv("SHOPREC_REGISTRY_URI", raising=False)
    return tmp_path


def _forget(project, user, *extra):
    return invoke(
        "privacy", "forget", user, "--by", "dpo", "--reason", "ticket 7",
        "-p", str(project / "params.yaml"), *extra,
    )  # fmt: skip


def test_forget_records_the_pseudonym_only_and_says_what_it_did(project):
    stored = Pseudonymiser(KEY.encode())(RAW)
    result = _forget(project, RAW)
    assert result.exit_code == 0, result.output
    assert f"{stored}: added to the deletion list" in result.stdout
    assert "0 of 0 part(s) rewritten, 0 row(s) removed" in result.stdout
    assert "poll_interval_s (2 s)" in result.stdout
    assert RAW not in result.stdout
    entries = ErasureList.open(load_params(project / "params.yaml").privacy, project).entries()
    assert [(e.user_id, e.by, e.reason) for e in entries] == [(stored, "dpo", "ticket 7")]
    (event,) = [e for e in registry_at(str(project / "registry")).audit_log("two_stage")]
    assert (event["action"], event["user_id"], event["by"]) == ("forget", stored, "dpo")
    # the pseudonym itself is accepted and names the same entry
    again = _forget(project, stored)
    assert again.exit_code == 0 and "already on" in again.stdout

    listed = invoke("privacy", "list", "-p", str(project / "params.yaml"))
    assert stored in listed.stdout and "1 user(s)" in listed.stdout
    shown = invoke("privacy", "pseudonym", RAW, "-p", str(project / "params.yaml"))
    assert shown.stdout.strip() == stored


def test_forget_with_pseudonymisation_off_removes_batch_rows(project, batch_shop):
    write_params(project, write_shop(project / "source"), pseudonymise_users=False)
    users = np.unique(np.asarray(batch_shop["model"].history.user_ids, dtype=str))[:50]
    run = project / "batch/recommendations/2024-01-01_itemknn-v1"
    score_to_parquet(batch_shop["model"], users, run, 4, 20, "itemknn", 1)
    result = _forget(project, users[7])
    assert result.exit_code == 0, result.output
    assert "1 of 3 part(s) rewritten, 4 row(s) removed" in result.stdout
    off = invoke("privacy", "pseudonym", RAW, "-p", str(project / "params.yaml"))
    assert "pseudonymise_users is off" in one_line_error(off)


def test_user_errors_are_one_line(project, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    assert "SHOPREC_ID_KEY" in one_line_error(_forget(project, RAW))
    monkeypatch.setenv(KEY_ENV, KEY)
    empty = invoke("privacy", "forget", RAW, "--by", " ", "--reason", "x",
                   "-p", str(project / "params.yaml"))  # fmt: skip
    assert "--by" in one_line_error(empty)
    missing = invoke("privacy", "list", "-p", str(project / "nowhere.yaml"))
    assert "no such parameters file" in one_line_error(missing)
    assert ErasureList.open(load_params(project / "params.yaml").privacy, project).ids() == set()
