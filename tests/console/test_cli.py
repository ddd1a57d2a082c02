"""``shoprec console``: loopback by default, a warning elsewhere, a readable error without
users, and ``add-user --token`` prints a token once (the app's command checks are in
tests/cli/test_app.py)."""

from __future__ import annotations

import uvicorn
from typer.testing import CliRunner

from shoprec.cli import app
from shoprec.console.auth import UserStore


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin, prog_name="shoprec")


def test_without_users_it_says_how_to_add_one(tmp_path):
    result = run(
        "console", "--users-file", str(tmp_path / "none.json"), "--registry", str(tmp_path)
    )
    assert result.exit_code == 1
    assert "shoprec console add-user NAME --role reviewer" in result.stderr


def test_another_host_than_loopback_is_warned_about(tmp_path, monkeypatch):
    users = tmp_path / "users.json"
    assert (
        run("console", "add-user", "ana", "--users-file", str(users), stdin="pw\n").exit_code == 0
    )
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(kwargs))
    common = ("--users-file", str(users), "--registry", str(tmp_path / "registry"))
    quiet = run("console", *common, "--port", "9001")
    loud = run("console", *common, "--host", "0.0.0.0")
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr
    assert started["host"] == "0.0.0.0"
    assert loud.exit_code == 0 and "plain HTTP" in loud.stderr


def test_add_user_token_prints_a_token_that_signs_in(tmp_path):
    users = tmp_path / "users.json"
    result = run(
        "console", "add-user", "bot", "--role", "read-only", "--token", "--users-file", str(users)
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    user, scheme = UserStore(users).authenticate(f"Bearer {token}")
    assert (user.name, user.role, scheme) == ("bot", "read-only", "bearer")
    assert token not in users.read_text()
