"""The stage table (shoprec.stages): dvc.yaml declares exactly the params each stage reads, and a
model switched off in params.yaml trains nothing."""

from __future__ import annotations

import json

import pytest
import yaml

from shoprec.config import Params
from shoprec.errors import DataError
from shoprec.stages import STAGE_PARAMS, run_stage
from shoprec.training.model_table import load_model
from tests.projects import REPO_ROOT


def test_dvc_yaml_declares_exactly_the_params_each_stage_reads():
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(STAGE_PARAMS)
    for name, stage in stages.items():
        body = stage.get("do", stage)
        declared = [p.replace("${item}", "{model}") for p in body.get("params", [])]
        assert sorted(declared) == sorted(STAGE_PARAMS[name]), name


# -- train.two_tower / train.sequential / train.two_stage: false -----------------------------------
@pytest.mark.parametrize(
    ("stage", "model", "switch", "report"),
    [
        ("train_two_tower", "two_tower", "two_tower", "two_tower.json"),
        ("train_sequential", "sequential", "sequential", "sequential.json"),
        ("train_ranker", "two_stage", "two_stage", "ranker.json"),
    ],
)
def test_a_switched_off_stage_reads_nothing_and_leaves_only_its_marker(
    stage, model, switch, report, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no data at all: the stage must not read any
    stale = tmp_path / "models" / model / "arrays.npz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an earlier run")
    params = Params(train={m: switch != m for m in ("two_tower", "sequential", "two_stage")})
    run_stage(stage, params)
    folder = tmp_path / "models" / model
    assert [p.name for p in folder.iterdir()] == ["disabled.json"]
    written = json.loads((tmp_path / "reports" / report).read_text())
    assert written == {"model": model, "disabled_by": f"train.{switch}: false"}
    with pytest.raises(DataError) as caught:
        load_model(folder)
    assert f"is disabled by train.{switch}: false" in str(caught.value)
    assert f"set train.{switch}: true" in str(caught.value)
