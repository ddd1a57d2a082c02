"""The temporal split in record batches (``compute.engine: dask``) equals the whole-table split.

Both engines run the ``split`` stage on the same validated events, the batched one in batches
of 500 rows, and the parts, ``cuts.parquet`` and the report must be equal (rows in file order).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from shoprec.config import load_params
from shoprec.data.synthetic import generate_shop
from shoprec.errors import ConfigError
from shoprec.stages import split

FILES = ("train.parquet", "validation.parquet", "test.parquet", "cuts.parquet")


def _project(folder: Path, events: pd.DataFrame, engine: str, **split_params) -> Path:
    (folder / "data/validated").mkdir(parents=True)
    events.to_parquet(folder / "data/validated/events.parquet", index=False)
    params = {
        "split": {"strategy": "temporal", "test_days": 7, "validation_days": 7, **split_params},
        "compute": {"engine": engine, "partition_rows": 500},
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return folder


def _split(project: Path) -> dict:
    with contextlib.chdir(project):
        return split.run(load_params("params.yaml"))


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    events, _ = generate_shop(users=120, items=60, days=28, seed=3)
    return events.sample(frac=1.0, random_state=1).reset_index(drop=True)  # days interleave


def test_batched_temporal_split_equals_the_whole_table(tmp_path, events):
    reports = {e: _split(_project(tmp_path / e, events, e)) for e in ("local", "dask")}
    assert reports["dask"] == reports["local"]
    assert sum(reports["local"]["events"].values()) == len(events)
    assert min(reports["local"]["events"].values()) > 500  # every part spans several batches
    for name in FILES:
        local = pd.read_parquet(tmp_path / "local/data/split" / name)
        batched = pd.read_parquet(tmp_path / "dask/data/split" / name)
        pd.testing.assert_frame_equal(batched, local, obj=name)
    assert not list((tmp_path / "dask/data/split").glob(".*"))  # nothing staged is left


def test_batched_split_refuses_a_window_longer_than_the_data(tmp_path, events):
    project = _project(tmp_path, events, "dask", test_days=20, validation_days=20)
    with pytest.raises(ConfigError, match="leaves no training period"):
        _split(project)
    assert not (tmp_path / "data/split").exists() or not any((tmp_path / "data/split").iterdir())
