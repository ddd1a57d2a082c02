"""The suite's own guard (tests/conftest.py): what counts as running DVC or a Prefect server,
and that a fast test may not import TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import conftest


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["/venv/bin/dvc", "repro"], "runs dvc"),
        (["dvc", "status"], "runs dvc"),
        ([sys.executable, "-m", "dvc", "pull"], "runs dvc"),
        ([sys.executable, "-m", "uvicorn", "prefect.server.api.server:create_app"], "server"),
        ([sys.executable, "-m", "shoprec", "recommend", "u1"], None),
        ("git status", None),
        ([], None),
    ],
)
def test_dvc_and_prefect_server_commands_are_recognised(command, what):
    found = conftest._runs_dvc_or_a_prefect_server(command)
    assert (found is None) if what is None else (what in found)


def test_a_fast_test_may_not_import_or_train_tensorflow():
    assert conftest._guarded["test"] is not None  # this test is guarded
    with pytest.raises(conftest.SlowOnly, match=r"not marked @pytest\.mark\.slow"):
        if "tensorflow" in sys.modules:  # imported by an earlier slow test: no training
            sys.modules["tensorflow"].GradientTape().__enter__()
        else:
            __import__("tensorflow")
    conftest._guarded["violations"].clear()  # the probe above is not a violation of this test


def test_a_fast_test_may_not_run_dvc():
    with pytest.raises(conftest.SlowOnly, match="runs dvc"):
        subprocess.Popen(["dvc", "version"])
    conftest._guarded["violations"].clear()
