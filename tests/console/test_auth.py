"""The users file: only argon2 hashes are stored, roles are checked, tokens name their user,
and a changed file is read again."""

from __future__ import annotations

import base64
import json

import pytest

from shoprec.console.auth import READ_ONLY, REVIEWER, UserStore, add_user, mint_token
from shoprec.console.csrf import Signer
from shoprec.errors import ConfigError


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_only_hashes_are_stored_and_the_file_is_private(tmp_path):
    path = tmp_path / "console/users.json"
    add_user(path, "ana", REVIEWER, "correct horse")
    token = mint_token(path, "ana")
    text = path.read_text()
    assert "correct horse" not in text and token.split(".", 1)[1] not in text
    entry = json.loads(text)["users"]["ana"]
    assert entry["password"].startswith("$argon2id$") and entry["role"] == REVIEWER
    assert path.stat().st_mode & 0o077 == 0


def test_passwords_and_tokens_sign_in_and_nothing_else_does(tmp_path):
    path = tmp_path / "users.json"
    add_user(path, "ana", REVIEWER, "pw-a")
    add_user(path, "rita", READ_ONLY, "pw-r")
    token = mint_token(path, "ana")
    users = UserStore(path)
    ana, scheme = users.authenticate(basic("ana", "pw-a"))
    assert (ana.name, ana.may_decide, scheme) == ("ana", True, "basic")
    rita, _ = users.authenticate(basic("rita", "pw-r"))
    assert rita.role == READ_ONLY and not rita.may_decide
    assert users.authenticate(f"Bearer {token}")[0].name == "ana"
    for header in (
        basic("ana", "pw-r"),  # someone else's password
        basic("nobody", "pw-a"),
        f"Bearer rita.{token.split('.', 1)[1]}",  # ana's secret under another name
        token,  # no scheme
        "Basic not-base64!",
        None,
    ):
        assert users.authenticate(header)[0] is None, header


def test_a_changed_password_or_role_applies_without_a_restart(tmp_path):
    path = tmp_path / "users.json"
    add_user(path, "ana", REVIEWER, "old")
    users = UserStore(path)
    assert users.authenticate(basic("ana", "old"))[0] is not None  # remembered now
    add_user(path, "ana", READ_ONLY, "new")
    assert users.authenticate(basic("ana", "old"))[0] is None
    assert users.authenticate(basic("ana", "new"))[0].role == READ_ONLY


def test_bad_names_roles_and_empty_passwords_are_refused(tmp_path):
    path = tmp_path / "users.json"
    with pytest.raises(ConfigError, match="invalid user name"):
        add_user(path, "a b", REVIEWER, "x")
    with pytest.raises(ConfigError, match="unknown role"):
        add_user(path, "ana", "admin", "x")
    with pytest.raises(ConfigError, match="empty password"):
        add_user(path, "ana", REVIEWER, "")
    with pytest.raises(ConfigError, match="no user"):
        mint_token(path, "ghost")


def test_csrf_tokens_are_bound_to_the_user_and_flash_cookies_cannot_be_forged():
    signer, other = Signer(b"k" * 32), Signer(b"j" * 32)
    token = signer.csrf_token("ana")
    assert signer.csrf_ok("ana", token)
    assert not signer.csrf_ok("rita", token) and not other.csrf_ok("ana", token)
    assert not signer.csrf_ok("ana", "") and not signer.csrf_ok("ana", None)
    cookie = signer.flash_cookie("ana", "ok", "done <b>")
    assert signer.read_flash("ana", cookie) == ("ok", "done <b>")
    assert signer.read_flash("rita", cookie) is None
    body, mac = cookie.split(".")
    forged = signer.flash_cookie("ana", "ok", "something else").split(".")[0]
    assert signer.read_flash("ana", f"{forged}.{mac}") is None
    assert signer.read_flash("ana", f"{body}.{'0' * len(mac)}") is None
