"""S3-Rec sequence files: one purchase per item in line order, bad lines quarantined, counted."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shoprec.config import S3RecSource
from shoprec.data.s3rec import BASE, read_s3rec
from shoprec.data.sources import load_source
from shoprec.errors import DataError


@pytest.fixture
def files(tmp_path):
    path = tmp_path / "Shop.txt"
    path.write_text("1 10 11 12\n2 11 13\nnot a line\n\n3 12 10\n", encoding="utf-8")
    (tmp_path / "Shop_item2attributes.json").write_text(
        json.dumps({"10": [1, 2], "11": [3], "12": [], "13": [2, 4]}), encoding="utf-8"
    )
    return path


def test_lines_become_ordered_purchases_and_bad_lines_are_counted(files):
    data = read_s3rec(files)
    events = data.events
    assert events["event_type"].eq("purchase").all()
    first = events[events["user_id"] == "1"]
    assert first["item_id"].tolist() == ["10", "11", "12"]
    assert (first["timestamp"] - BASE).tolist() == [pd.Timedelta(minutes=m) for m in range(3)]
    counts = data.counts()["events"]
    assert counts == {"read": 8, "used": 7, "quarantined": 1}
    assert counts["read"] == counts["used"] + counts["quarantined"]
    assert data.quarantine["reason"].tolist() == ["s3rec_line_not_integers"]


def test_attributes_become_title_words_and_a_category_path(files):
    items = read_s3rec(files).items.set_index("item_id")
    assert items.loc["10", "title"] == "attr_1 attr_2"
    assert items.loc["13", "category"] == "attr_2/attr_4"
    assert items.loc["12", "title"] == ""
    assert (items["price"] == 1.0).all()


def test_the_source_is_named_in_params_and_a_missing_file_is_a_clear_error(files, tmp_path):
    data = load_source(S3RecSource(source="s3rec", path=files))
    assert len(data.events) == 7
    with pytest.raises(DataError, match="does not exist"):
        read_s3rec(tmp_path / "nope.txt")
