"""Running ``shoprec`` as a user does (a subprocess), or in-process where only the command's
own behaviour matters (no interpreter start-up per call)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.projects import REPO_ROOT

SHOPREC = [sys.executable, "-m", "shoprec"]


def shoprec(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """``python -m shoprec ARGS`` in a new process."""
    return subprocess.run([*SHOPREC, *args], cwd=cwd, capture_output=True, text=True, check=False)


def invoke(*args: str):
    """``shoprec ARGS`` in this process (Typer's runner; stdout and stderr apart)."""
    from typer.testing import CliRunner

    from shoprec.cli import app

    return CliRunner().invoke(app, list(args), prog_name="shoprec")


def one_line_error(proc) -> str:
    """The single stderr line of a command that failed with exit code 1, no traceback (a
    finished process, or an in-process result of ``invoke``)."""
    code = getattr(proc, "returncode", getattr(proc, "exit_code", None))
    assert code == 1, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]
