"""The model table: every model by name, and readable errors for what is not a saved model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shoprec.errors import DataError
from shoprec.models.base import METADATA_FILE
from shoprec.models.ease import EASE
from shoprec.models.most_popular import MostPopular
from shoprec.training.model_table import create_model, load_model
from tests.tiny import SMALL, make_interactions


def test_load_model_without_metadata_is_a_data_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=METADATA_FILE):
        load_model(tmp_path / "empty")
    with pytest.raises(DataError):
        load_model(tmp_path / "does-not-exist")


def test_load_model_rejects_unknown_model_name_and_format(tmp_path: Path):
    model = MostPopular().fit(make_interactions(SMALL))
    directory = model.save(tmp_path / "m")
    meta = json.loads((directory / METADATA_FILE).read_text())
    (directory / METADATA_FILE).write_text(json.dumps({**meta, "model": "mystery"}))
    with pytest.raises(DataError, match="mystery"):
        load_model(directory)
    (directory / METADATA_FILE).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(DataError, match="format"):
        load_model(directory)


def test_create_model_unknown_name_is_a_data_error():
    with pytest.raises(DataError, match="two_tower_xl"):
        create_model("two_tower_xl")
    assert isinstance(create_model("ease", l2=3.0), EASE)


def test_load_model_on_a_disabled_marker_names_the_switch(tmp_path: Path):
    from shoprec.models.base import mark_disabled

    folder = mark_disabled(tmp_path / "two_tower", "two_tower", "train.two_tower")
    with pytest.raises(DataError) as caught:
        load_model(folder)
    assert f"{folder} is disabled by train.two_tower: false" in str(caught.value)
    assert "set train.two_tower: true" in str(caught.value)
    # a model saved there later wins over a marker left behind
    MostPopular().fit(make_interactions(SMALL)).save(folder)
    assert isinstance(load_model(folder), MostPopular)
