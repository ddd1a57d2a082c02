"""The stage table (shoprec.stages): dvc.yaml declares exactly the params each stage reads."""

from __future__ import annotations

import yaml

from shoprec.stages import STAGE_PARAMS
from tests.projects import REPO_ROOT


def test_dvc_yaml_declares_exactly_the_params_each_stage_reads():
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(STAGE_PARAMS)
    for name, stage in stages.items():
        body = stage.get("do", stage)
        declared = [p.replace("${item}", "{model}") for p in body.get("params", [])]
        assert sorted(declared) == sorted(STAGE_PARAMS[name]), name
