"""The console over real HTTP: uvicorn in a thread on a free loopback port, in front of a
private copy of the registry of ``tests/console/world.py`` and a users file with a reviewer
(ana, who also has a bearer token) and a read-only user (rita)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shoprec.console.app import ConsoleSettings, create_app
from shoprec.console.auth import READ_ONLY, REVIEWER, UserStore, add_user, mint_token
from shoprec.registry import LocalStore, Registry
from tests.console.helpers import PASSWORDS, Server
from tests.console.world import build_world


@pytest.fixture(scope="session")
def world_template(tiny_shop, tmp_path_factory) -> Path:
    """The three-version registry, built once (copy it before changing it)."""
    root = tmp_path_factory.mktemp("console-world") / "registry"
    build_world(root, tiny_shop)
    return root


@pytest.fixture(scope="session")
def users_template(tmp_path_factory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("console-users") / "users.json"
    add_user(path, "ana", REVIEWER, PASSWORDS["ana"])
    add_user(path, "rita", READ_ONLY, PASSWORDS["rita"])
    return path, mint_token(path, "ana")


@pytest.fixture
def registry(world_template, tmp_path) -> Registry:
    target = tmp_path / "registry"
    shutil.copytree(world_template, target)
    return Registry(LocalStore(target))


@pytest.fixture
def console(registry, users_template, tmp_path):
    """``(server, registry, token)``: a running console on a private copy of the world."""
    users, token = users_template
    app = create_app(registry, UserStore(users), ConsoleSettings(project_root=tmp_path))
    with Server(app) as server:
        yield server, registry, token
