"""What every command shares (cli/common.py): a user's mistake is one readable line on stderr
and exit code 1, never a traceback. The first of each kind in a new process, as a user runs
it; the others in-process (the same code, without an interpreter start-up each)."""

from __future__ import annotations

from tests.cli.helpers import invoke, one_line_error, shoprec


def test_wrong_paths_give_one_readable_line(tmp_path):
    assert "no such parameters file" in one_line_error(
        shoprec("params", "-p", str(tmp_path / "x.yaml"))
    )
    assert "not found" in one_line_error(invoke("metrics", "--path", str(tmp_path / "m.json")))
    assert "flow not found" in one_line_error(
        invoke("flow", "train", "--project-dir", str(tmp_path))
    )
    assert "unknown stage" in one_line_error(invoke("stage", "bogus"))
    assert "not a saved model" in one_line_error(
        invoke("recommend", "u1", "--model", str(tmp_path))
    )


def test_a_bad_param_gives_one_readable_line_naming_the_key(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("models:\n  ease:\n    l2: -1\n")
    line = one_line_error(shoprec("params", "-p", str(bad)))
    assert "models.ease.l2" in line and "greater than 0" in line
    bad.write_text("data: {source: online_retail}\n")
    assert "data.path: Field required" in one_line_error(invoke("params", "-p", str(bad)))
    bad.write_text("split: [unclosed\n")
    assert "not valid YAML" in one_line_error(invoke("params", "-p", str(bad)))
