"""Day partitions (shoprec.data.partitions): every row lands in its UTC day once, keeps its
source position, comes back with the dtypes pandas gives the whole table, and the merge puts
per-run results back in source order however the source was ordered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shoprec.data import partitions
from shoprec.data.partitions import (
    POSITION,
    UNKNOWN_DAY,
    merge_in_order,
    read_run,
    split_by_day,
    write_run,
)
from shoprec.data.synthetic import generate_shop


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    """A small shop's events in a shuffled order, a few without a timestamp."""
    events, _ = generate_shop(users=60, items=40, days=9, seed=3)
    events = events.sample(frac=1.0, random_state=1).reset_index(drop=True)
    events.loc[[5, 17, 40], "timestamp"] = pd.NaT
    return events


def test_every_row_lands_in_its_day_once_with_its_position(events, tmp_path):
    parts = split_by_day(events, tmp_path / "days", batch_rows=100)
    assert parts.rows == len(events)
    assert parts.columns == list(events.columns)
    assert [d.day for d in parts.days][-1] == UNKNOWN_DAY
    assert [d.day for d in parts.days][:-1] == sorted(d.day for d in parts.days[:-1])
    seen = []
    for day in parts.days:
        frame = read_run(day.paths)
        assert len(frame) == day.rows
        assert frame[POSITION].is_monotonic_increasing
        stamps = events.loc[frame[POSITION], "timestamp"]
        if day.day == UNKNOWN_DAY:
            assert stamps.isna().all()
        else:
            assert (stamps.dt.strftime("%Y-%m-%d") == day.day).all()
        assert all(p.parent.name == f"day={day.day}" for p in day.paths)
        seen.append(frame)
    whole = pd.concat(seen).sort_values(POSITION).reset_index(drop=True)
    assert whole[POSITION].tolist() == list(range(len(events)))
    pd.testing.assert_frame_equal(whole.drop(columns=POSITION), events)


def test_the_folder_is_one_dataset(events, tmp_path):
    parts = split_by_day(events, tmp_path / "days")
    table = parts.dataset().to_table()
    assert table.num_rows == len(events)
    assert sorted(set(table.column("day").to_pylist())) == [d.day for d in parts.days]


def test_a_day_seen_again_after_its_file_closed_gets_a_new_part(events, tmp_path, monkeypatch):
    monkeypatch.setattr(partitions, "MAX_OPEN_FILES", 2)
    parts = split_by_day(events, tmp_path / "days", batch_rows=50)
    assert max(len(d.paths) for d in parts.days) > 1
    for day in parts.days:
        frame = read_run(day.paths)
        assert frame[POSITION].is_monotonic_increasing
    assert sum(len(read_run(d.paths)) for d in parts.days) == len(events)


def test_several_sources_are_one_table_in_order(events, tmp_path):
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    events.iloc[:200].to_parquet(first, index=False)
    events.iloc[200:].to_parquet(second, index=False)
    parts = split_by_day([first, second], tmp_path / "days", batch_rows=64)
    every = [p for d in parts.days for p in d.paths]
    whole = read_run(every)
    assert whole[POSITION].tolist() == list(range(len(events)))
    pd.testing.assert_frame_equal(whole.drop(columns=POSITION), events)


def test_runs_are_whole_days_of_at_most_partition_rows(events, tmp_path):
    parts = split_by_day(events, tmp_path / "days")
    sizes = {str(p): d.rows for d in parts.days for p in d.paths}
    limit = max(d.rows for d in parts.days) + 1
    runs = parts.runs(limit)
    assert sorted(p for run in runs for p in run) == sorted(sizes)
    assert all(sum(sizes[p] for p in run) <= limit for run in runs)
    assert len(runs) < len(parts.days)
    assert len(parts.runs(1)) == len(parts.days)  # a day above the limit is a run of its own
    assert len(parts.runs(10**9)) == 1


def test_merge_puts_the_runs_back_in_source_order(events, tmp_path):
    parts = split_by_day(events, tmp_path / "days")
    runs = [
        write_run(read_run(r), tmp_path / f"run-{k}.parquet") for k, r in enumerate(parts.runs(80))
    ]
    target = tmp_path / "merged.parquet"
    assert merge_in_order(runs, target, batch_rows=37) == len(events)
    merged = pd.read_parquet(target)
    pd.testing.assert_frame_equal(merged, events)
    assert POSITION not in pq.ParquetFile(target).schema_arrow.names


def test_merge_of_runs_with_gaps_and_empty_runs(events, tmp_path):
    kept = events.assign(**{POSITION: np.arange(len(events))}).iloc[::3]
    odd = kept[kept[POSITION] % 2 == 1].reset_index(drop=True)
    even = kept[kept[POSITION] % 2 == 0].reset_index(drop=True)
    paths = [
        write_run(odd, tmp_path / "odd.parquet"),
        write_run(even.iloc[:0], tmp_path / "none.parquet"),
        write_run(even, tmp_path / "even.parquet"),
    ]
    target = tmp_path / "merged.parquet"
    assert merge_in_order(paths, target, batch_rows=5) == len(kept)
    expected = kept.drop(columns=POSITION).reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_parquet(target), expected)
