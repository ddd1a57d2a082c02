"""The ``shoprec`` application: every command (and sub-command) has help, and every top-level
command does its job: it runs, exits with its documented code and prints its result."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from shoprec.cli import app
from tests.cli.helpers import invoke, shoprec
from tests.projects import REPO_ROOT
from tests.tiny import SMALL, make_interactions


def command_paths() -> list[list[str]]:
    """Every command path of the app, the app itself first (``[]``)."""
    import typer.main

    root = typer.main.get_command(app)
    context = root.make_context("shoprec", [], resilient_parsing=True)

    def walk(command, path):
        yield path
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                yield from walk(command.get_command(context, name), [*path, name])

    return list(walk(root, []))


COMMANDS = command_paths()
TOP_LEVEL = sorted(path[0] for path in COMMANDS if len(path) == 1)


def test_the_commands_are_the_documented_ones():
    assert (
        sorted(
            [
                *("batch", "data", "flow", "metrics", "params", "recommend", "registry"),
                *("serve", "stage", "validate", "privacy", "monitor", "console"),
            ]
        )
        == TOP_LEVEL
    )
    expected = {
        ("registry", c)
        for c in (
            *("register", "list", "show", "approve", "reject", "promote", "rollback"),
            *("verify", "lineage", "propose", "push-data"),
        )
    }
    assert expected <= {tuple(p) for p in COMMANDS}
    assert {
        ("data", "generate"),
        ("batch", "score"),
        ("flow", "train"),
        ("flow", "monitor"),
        ("console", "add-user"),
    } <= {tuple(p) for p in COMMANDS}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "shoprec")
def test_every_command_has_clear_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: shoprec" in result.stdout and "--help" in result.stdout
    assert result.exception is None


def test_the_installed_entry_point_answers_help():
    """One real process: ``python -m shoprec --help`` (the other help checks run in-process)."""
    proc = shoprec("--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: shoprec" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


# -- what each top-level command does ------------------------------------------------------------
def saved_most_popular(folder: Path) -> Path:
    from shoprec.models.most_popular import MostPopular

    return MostPopular().fit(make_interactions(SMALL)).save(folder / "most_popular")


def tiny_params(folder: Path, **sections) -> Path:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["data"] = {"source": "synthetic", "users": 60, "items": 40, "days": 14, "seed": 2}
    params.update(sections)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def does_data(tmp_path, monkeypatch):
    result = invoke("data", "generate", "--out", str(tmp_path / "shop"), "--users", "30")
    assert result.exit_code == 0, result.output
    events = pd.read_parquet(tmp_path / "shop/events.parquet")
    items = pd.read_parquet(tmp_path / "shop/items.parquet")
    assert f"wrote {len(events):,} events" in result.stdout
    assert f"and {len(items):,} items" in result.stdout
    assert events["user_id"].nunique() <= 30


def does_stage(tmp_path, monkeypatch):
    params = tiny_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = invoke("stage", "ingest", "-p", str(params))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "reports/ingest.json").read_text())
    events = pd.read_parquet(tmp_path / "data/raw/events.parquet")
    assert report["counts"]["events"]["used"] == len(events) > 0


def does_validate(tmp_path, monkeypatch):
    from shoprec.data.synthetic import generate_shop

    events, items = generate_shop(users=60, items=40, days=14, seed=2)
    events.to_csv(tmp_path / "events.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    result = invoke(
        *("validate", "--events", str(tmp_path / "events.csv")),
        *("--items", str(tmp_path / "items.csv"), "-p", str(REPO_ROOT / "params.yaml")),
    )
    assert result.exit_code == 0, result.output
    assert "batch accepted" in result.stdout


def does_params(tmp_path, monkeypatch):
    path = tmp_path / "params.yaml"
    path.write_text("models:\n  ease:\n    l2: 7\n")
    result = invoke("params", "-p", str(path))
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    assert printed["models"]["ease"]["l2"] == 7.0  # the file's value
    assert printed["split"]["test_days"] == 14  # and every default filled in


def does_metrics(tmp_path, monkeypatch):
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps({"ease": {"ndcg@10": 0.12345, "recall@20": 0.5}}))
    result = invoke("metrics", "--path", str(path))
    assert result.exit_code == 0, result.output
    assert "ease" in result.stdout and "0.1235" in result.stdout and "0.5000" in result.stdout


def does_recommend(tmp_path, monkeypatch):
    model = saved_most_popular(tmp_path)
    result = invoke("recommend", "u3", "u1", "--model", str(model), "-k", "2", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["user_id"], r["rank"], r["item_id"]) for r in rows] == [
        ("u3", 1, "i1"),
        ("u3", 2, "i2"),
        ("u1", 1, "i2"),
        ("u1", 2, "i3"),
    ]


def does_registry(tmp_path, monkeypatch):
    from shoprec.registry import LocalStore, Registry

    Registry(LocalStore(tmp_path / "registry")).register(
        "most_popular", saved_most_popular(tmp_path), "ci"
    )
    params = tiny_params(tmp_path)
    result = invoke("registry", "list", "--registry", str(tmp_path / "registry"), "-p", str(params))
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.stdout.splitlines() if "most_popular" in line]
    assert "1" in row.split("│")[2] and "pending" in row


def does_serve(tmp_path, monkeypatch):
    """The service it would start on the asked host and port answers (uvicorn replaced)."""
    import warnings

    import uvicorn

    with warnings.catch_warnings():  # starlette's own deprecation of its httpx test client
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(app=app, **kwargs))
    params = tiny_params(tmp_path)
    result = invoke(
        *("serve", "--host", "127.0.0.9", "--port", "8123"),
        *("--registry", str(tmp_path / "empty"), "-p", str(params)),
    )
    assert result.exit_code == 0, result.output
    assert "not ready yet" in result.stdout
    assert (started["host"], started["port"]) == ("127.0.0.9", 8123)
    with TestClient(started["app"]) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 503


def does_batch(tmp_path, monkeypatch):
    params = tiny_params(tmp_path, registry={"uri": str(tmp_path / "registry")})
    result = invoke("batch", "score", "-p", str(params))
    assert result.exit_code == 1  # documented: a readable error, exit code 1
    assert "has no 'production' version" in result.stderr


def does_flow(tmp_path, monkeypatch):
    result = invoke("flow", "train", "--project-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "flow not found" in result.stderr  # before any Prefect run: no flows/ here


def does_privacy(tmp_path, monkeypatch):
    params = tiny_params(tmp_path, privacy={"pseudonymise_users": True})
    monkeypatch.delenv("SHOPREC_ID_KEY", raising=False)
    result = invoke("privacy", "pseudonym", "u1", "-p", str(params))
    assert result.exit_code == 1  # documented: no key is a readable error, exit code 1
    assert "SHOPREC_ID_KEY" in result.stderr
    monkeypatch.setenv("SHOPREC_ID_KEY", "k" * 32)
    result = invoke("privacy", "pseudonym", "u1", "-p", str(params))
    assert result.exit_code == 0 and result.stdout.startswith("p_")


def does_monitor(tmp_path, monkeypatch):
    params = tiny_params(tmp_path, registry={"uri": str(tmp_path / "registry")})
    result = invoke("monitor", "-p", str(params))
    assert result.exit_code == 1  # documented: nothing in production is a readable error
    assert "has no 'production' version" in result.stderr


def does_console(tmp_path, monkeypatch):
    """add-user reads the password from stdin and stores only its hash; the console it would
    start binds 127.0.0.1 and signs that user in (uvicorn replaced)."""
    import warnings

    import uvicorn
    from typer.testing import CliRunner

    with warnings.catch_warnings():  # starlette's own deprecation of its httpx test client
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    params = tiny_params(tmp_path, registry={"uri": str(tmp_path / "registry")})
    added = CliRunner().invoke(
        app,
        ["console", "add-user", "ana", "--role", "reviewer", "-p", str(params)],
        input="s3cret-pass\n",
        prog_name="shoprec",
    )
    assert added.exit_code == 0, added.output
    users = (tmp_path / "console/users.json").read_text()
    assert "s3cret-pass" not in users and "$argon2id$" in users
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(app=app, **kwargs))
    result = invoke("console", "-p", str(params))
    assert result.exit_code == 0, result.output
    assert (started["host"], started["port"]) == ("127.0.0.1", 8080)
    with TestClient(started["app"]) as client:
        assert client.get("/models", auth=("ana", "s3cret-pass")).status_code == 200
        assert client.get("/models", auth=("ana", "wrong")).status_code == 401


BEHAVIOUR = {
    "console": does_console,
    "privacy": does_privacy,
    "monitor": does_monitor,
    "data": does_data,
    "stage": does_stage,
    "validate": does_validate,
    "params": does_params,
    "metrics": does_metrics,
    "recommend": does_recommend,
    "registry": does_registry,
    "serve": does_serve,
    "batch": does_batch,
    "flow": does_flow,
}


def test_every_top_level_command_has_a_behaviour_check():
    assert sorted(BEHAVIOUR) == TOP_LEVEL


@pytest.mark.parametrize("name", sorted(BEHAVIOUR))
def test_every_top_level_command_does_its_job(name, tmp_path, monkeypatch):
    BEHAVIOUR[name](tmp_path, monkeypatch)
