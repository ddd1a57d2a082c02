"""Shared fixtures: a tiny shoprec project in a temporary git + DVC repository."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path

import boto3
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


# -- a temporary Prefect API, one per test module ------------------------------------------
@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


# -- a local S3-compatible server (moto's), over real HTTP ----------------------------------
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "shoprec-test",
    "AWS_SECRET_ACCESS_KEY": "shoprec-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """A local S3-compatible HTTP server for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    for key, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return s3_endpoint


def new_bucket(endpoint: str) -> str:
    bucket = f"shoprec-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, **client_credentials()).create_bucket(Bucket=bucket)
    return bucket


def client_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }
