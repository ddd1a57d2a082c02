"""Independent DVC stages at once on Dask (``compute.engine: dask``): a real git + DVC repo,
a real Prefect run on prefect-dask's task runner, a real LocalCluster. The stages of one group
run side by side, then one ``dvc commit`` leaves the pipeline up to date for ``dvc repro``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from shoprec.errors import StageFailed
from tests.prefect_flows import load_flow
from tests.projects import BIN_DIR

# b@1 and b@2 read a's output and nothing of each other: one group; c reads both
STAMP = (
    'python -c "import json, os, sys, time; t = time.time(); time.sleep(2); '
    "sys.exit(3) if os.path.exists('fail{item}') else None; "
    "open('b{item}.json', 'w').write(json.dumps([t, time.time(), os.getpid()]))\""
)
DVC_YAML = {
    "stages": {
        "a": {"cmd": "echo a > a.txt", "outs": ["a.txt"]},
        "b": {
            "foreach": [1, 2],
            "do": {
                "cmd": STAMP.replace("{item}", "${item}"),
                "deps": ["a.txt"],
                "outs": ["b${item}.json"],
            },
        },
        "c": {
            "cmd": "cat b1.json b2.json > c.txt",
            "deps": ["b1.json", "b2.json"],
            "outs": ["c.txt"],
        },
    }
}


def _run(args: list[str], cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def toy_project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "toy"
    root.mkdir()
    (root / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    # no address: the flow's task runner starts a LocalCluster of its own, so no other test's
    # work (or a worker paused for memory) on the session's cluster can hold a worker
    monkeypatch.delenv("SHOPREC_DASK_ADDRESS", raising=False)
    params = {"compute": {"engine": "dask", "n_workers": 2, "memory_limit": "1GiB"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    _run(["git", "init", "-q"], root)
    _run([str(BIN_DIR / "dvc"), "init", "-q"], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "toy"], root)
    return root


def _pipeline(training):
    from prefect import flow

    @flow(name="toy-pipeline", persist_result=False)
    def pipeline(root: str) -> None:
        training.run_stages(Path(root), force=False)

    return pipeline


@pytest.mark.slow
def test_a_group_runs_at_once_and_dvc_finds_it_up_to_date(prefect_api, toy_project):
    from shoprec.stages.dvc_runner import stage_waves

    assert stage_waves(toy_project) == [["a"], ["b@1", "b@2"], ["c"]]
    training = load_flow("training")
    state = _pipeline(training)(str(toy_project), return_state=True)
    assert state.is_completed(), state
    (s1, e1, _), (s2, e2, _) = (
        json.loads((toy_project / f"b{i}.json").read_text()) for i in (1, 2)
    )
    assert s1 < e2 and s2 < e1, "b@1 and b@2 did not overlap: they ran one after the other"
    status = _run([str(BIN_DIR / "dvc"), "status"], toy_project)
    assert "up to date" in status, status
    lock = yaml.safe_load((toy_project / "dvc.lock").read_text())["stages"]
    assert {"a", "b@1", "b@2", "c"} <= set(lock)
    repro = _run([str(BIN_DIR / "dvc"), "repro"], toy_project)
    assert "didn't change, skipping" in repro and "Running stage" not in repro, repro


@pytest.mark.slow
def test_a_failed_stage_fails_the_run_and_keeps_the_others(prefect_api, toy_project):
    (toy_project / "fail2").write_text("b@2 exits with status 3\n")
    training = load_flow("training")
    state = _pipeline(training)(str(toy_project), return_state=True)
    assert state.is_failed()
    with pytest.raises(StageFailed, match="stage 'b@2' failed"):
        state.result()
    # b@1 finished and was committed; b@2 and c were not
    assert _run([str(BIN_DIR / "dvc"), "status", "--json", "b@1"], toy_project).strip() == "{}"
    assert "b@2" in json.loads(_run([str(BIN_DIR / "dvc"), "status", "--json"], toy_project))
    assert not (toy_project / "c.txt").exists()
