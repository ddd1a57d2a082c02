"""The ``files`` source: canonical files in, canonical tables out, with readable errors."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd
import pytest

from shoprec.config import FilesSource
from shoprec.data.sources import load_source
from shoprec.errors import DataError

# -- files source ----------------------------------------------------------------------------------
EVENTS_CSV = (
    "user_id,item_id,event_type,timestamp,session_id,quantity,price\n"
    "1,007,view,2024-01-01T10:00:00Z,s1,,\n"
    "1,007,Purchase,2024-01-01T10:05:00+01:00,s1,2,9.5\n"
    "u2,x9,addtocart,2024-01-02T08:00:00Z,s2,1,3\n"
)
ITEMS_CSV = (
    "item_id,title,category,brand,price,available\n"
    "007,Spy kit,toys/games,Acme,9.5,true\n"
    "x9,Mug,home/kitchen,,3.0,false\n"
)


def write_source(tmp_path: Path, events: str, items: str, events_name: str = "events.csv"):
    events_path = tmp_path / events_name
    if events_name.endswith(".gz"):
        events_path.write_bytes(gzip.compress(events.encode()))
    else:
        events_path.write_text(events)
    items_path = tmp_path / "items.csv"
    items_path.write_text(items)
    return FilesSource(source="files", events=events_path, items=items_path)


@pytest.mark.parametrize("events_name", ["events.csv", "events.csv.gz"])
def test_files_source_gives_canonical_tables(tmp_path: Path, events_name: str):
    data = load_source(write_source(tmp_path, EVENTS_CSV, ITEMS_CSV, events_name))
    events, items = data.events, data.items
    assert list(events.columns[:4]) == ["user_id", "item_id", "event_type", "timestamp"]
    assert isinstance(events["timestamp"].dtype, pd.DatetimeTZDtype)
    assert str(events["timestamp"].dt.tz) == "UTC"
    assert events["timestamp"].tolist() == [
        pd.Timestamp("2024-01-01 10:00", tz="UTC"),
        pd.Timestamp("2024-01-01 09:05", tz="UTC"),  # +01:00 converted to UTC
        pd.Timestamp("2024-01-02 08:00", tz="UTC"),
    ]
    for column in ("user_id", "item_id"):
        assert all(isinstance(v, str) for v in events[column]), column
    assert all(isinstance(v, str) for v in items["item_id"])
    assert events["user_id"].tolist() == ["1", "1", "u2"]
    assert events["event_type"].tolist() == ["view", "purchase", "addtocart"]
    assert events["quantity"].dtype == "float64" and events["price"].dtype == "float64"
    assert items["price"].tolist() == [9.5, 3.0]
    assert items["available"].tolist() == [True, False]
    assert items["brand"].tolist() == ["Acme", ""]
    assert data.counts()["events"] == {"read": 3, "used": 3, "quarantined": 0}


def test_files_source_keeps_ids_as_written(tmp_path: Path):
    # all-numeric ids must not be read as numbers: "007" stays "007", in both tables,
    # so that events still join the catalogue
    events = "user_id,item_id,event_type,timestamp\n0042,007,view,2024-01-01T10:00:00Z\n"
    items = "item_id,title,category,brand,price\n007,Spy kit,toys,1000,9.5\n010,Mug,home,,3\n"
    data = load_source(write_source(tmp_path, events, items))
    assert data.items["brand"].tolist() == ["1000", ""]
    assert data.events["user_id"].tolist() == ["0042"]
    assert data.events["item_id"].tolist() == ["007"]
    assert data.items["item_id"].tolist() == ["007", "010"]
    assert set(data.events["item_id"]) <= set(data.items["item_id"])


def test_files_source_reads_parquet(tmp_path: Path):
    events = pd.DataFrame(
        {
            "user_id": ["a", "b"],
            "item_id": ["x", "y"],
            "event_type": ["view", "purchase"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
        }
    )
    items = pd.DataFrame(
        {"item_id": ["x", "y"], "title": ["X", "Y"], "category": ["c", "c"], "brand": ["b", "b"]}
    )
    items["price"] = [1.0, 2.0]
    events.to_parquet(tmp_path / "events.parquet", index=False)
    items.to_parquet(tmp_path / "items.parquet", index=False)
    spec = FilesSource(
        source="files", events=tmp_path / "events.parquet", items=tmp_path / "items.parquet"
    )
    data = load_source(spec)
    assert str(data.events["timestamp"].dt.tz) == "UTC"
    assert data.events["item_id"].tolist() == ["x", "y"]


@pytest.mark.parametrize("missing", ["timestamp", "event_type", "user_id"])
def test_files_source_missing_event_column_is_named(tmp_path: Path, missing: str):
    frame = pd.read_csv(io.StringIO(EVENTS_CSV), dtype=str).drop(columns=[missing])
    with pytest.raises(DataError) as caught:
        load_source(write_source(tmp_path, frame.to_csv(index=False), ITEMS_CSV))
    message = str(caught.value)
    assert missing in message and "missing" in message and "events" in message


def test_files_source_missing_item_column_is_named(tmp_path: Path):
    items = "item_id,title,category,price\n007,Spy kit,toys,9.5\n"
    with pytest.raises(DataError, match="brand"):
        load_source(write_source(tmp_path, EVENTS_CSV, items))


def test_files_source_missing_file_is_a_data_error(tmp_path: Path):
    spec = FilesSource(source="files", events=tmp_path / "nope.csv", items=tmp_path / "i.csv")
    with pytest.raises(DataError, match=r"nope\.csv"):
        load_source(spec)


def test_files_source_keeps_a_row_with_a_bad_timestamp_and_names_its_problem(tmp_path: Path):
    events = "user_id,item_id,event_type,timestamp\na,x,view,not a time\nb,x,view,2026-01-01\n"
    data = load_source(write_source(tmp_path, events, ITEMS_CSV))
    assert len(data.events) == 2  # nothing is dropped here: validation quarantines it
    assert data.events["timestamp"].isna().tolist() == [True, False]
    assert data.problems["events"].tolist() == ["unparseable_timestamp", pd.NA]
