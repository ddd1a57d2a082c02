"""The ranker's device: the GPU only when XGBoost can use one."""

from __future__ import annotations

import pytest

from shoprec.errors import ConfigError
from shoprec.ranking import ranker


def test_the_ranker_picks_the_gpu_only_when_xgboost_can_use_one():
    assert ranker.pick_device("cpu") == "cpu"
    if ranker.cuda_available():
        assert ranker.pick_device("auto") == ranker.pick_device("cuda") == "cuda"
    else:
        assert ranker.pick_device("auto") == "cpu"
        with pytest.raises(ConfigError, match="no GPU"):
            ranker.pick_device("cuda")
