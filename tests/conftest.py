"""Shared fixtures: a tiny shoprec project in a temporary git + DVC repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.projects import dvc, make_project


@pytest.fixture(scope="session")
def tiny_project_template(tmp_path_factory) -> Path:
    """A tiny project on which `dvc repro` has run once (copy it before changing it)."""
    project = make_project(tmp_path_factory.mktemp("template") / "shop")
    dvc(project, "repro")
    return project


@pytest.fixture
def tiny_project(tiny_project_template, tmp_path) -> Path:
    """A private copy of the reproduced tiny project (DVC cache included)."""
    target = tmp_path / "shop"
    shutil.copytree(tiny_project_template, target, symlinks=True)
    return target
