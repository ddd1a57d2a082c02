"""A corpus of malformed exports: every one is either rejected with one readable message or
accepted with exactly the quarantine its construction predicts, and no row is ever lost.

Each case starts from the same small synthetic shop written as CSV, changes it the way a real
export goes wrong, and says what ``validate_files`` must answer: a rejection (``DataError`` or
``outcome.accepted is False``) whose one-line message contains given substrings, or an
acceptance with the exact count of quarantined rows per table and reason. The expected counts
come from how the case was built (how many rows were changed), never from the output.
A few cases also go through the real ``shoprec validate`` command in a subprocess.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shoprec.config import ValidationParams, load_params
from shoprec.data.synthetic import generate_shop
from shoprec.errors import DataError
from shoprec.validation.batch import ValidationOutcome, validate_files
from tests.projects import REPO_ROOT

TABLES = ("items", "events")
Counts = dict[str, dict[str, int]]


# --------------------------------------------------------------------------------------------
# the good shop every case starts from


class Shop:
    """The base export as text frames (every cell a string, "" for missing), written once."""

    def __init__(self, root: Path):
        events, items = generate_shop(users=300, items=200, days=21, seed=2)
        self.root = root
        self.events_csv = root / "events.csv"
        self.items_csv = root / "items.csv"
        events.to_csv(self.events_csv, index=False)
        items.to_csv(self.items_csv, index=False)
        self._events = pd.read_csv(self.events_csv, dtype=str, keep_default_na=False)
        self._items = pd.read_csv(self.items_csv, dtype=str, keep_default_na=False)
        self.canonical_events = events
        self.canonical_items = items
        # events per item in the base export: quarantining an item quarantines its events
        self.events_per_item = self._events["item_id"].value_counts().to_dict()
        self.baseline = root / "baseline.json"

    @property
    def n_events(self) -> int:
        return len(self._events)

    @property
    def n_items(self) -> int:
        return len(self._items)

    def events(self) -> pd.DataFrame:
        return self._events.copy()

    def items(self) -> pd.DataFrame:
        return self._items.copy()

    def quiet_items(self, k: int) -> list[str]:
        """The ``k`` items with the fewest (but some) events, so that cascades stay small."""
        ranked = sorted(self.events_per_item.items(), key=lambda kv: (kv[1], kv[0]))
        return [item for item, _ in ranked[:k]]

    def cascade(self, item_ids) -> int:
        """Events of the base export that point at ``item_ids``."""
        return sum(self.events_per_item.get(i, 0) for i in item_ids)


class Rows:
    """Hands out row positions spread over ``n`` rows, never the same row twice."""

    def __init__(self, n: int):
        self.n = n
        self.taken: set[int] = set()

    def take(self, k: int) -> np.ndarray:
        picked = []
        for start in np.linspace(0, self.n - 1, k).astype(int):
            row = int(start)
            while row in self.taken:
                row = (row + 1) % self.n
            self.taken.add(row)
            picked.append(row)
        return np.asarray(picked)


def spread(n: int, k: int) -> np.ndarray:
    """``k`` distinct row positions spread over ``n`` rows."""
    return Rows(n).take(k)


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


@dataclass
class Built:
    events: Path
    items: Path
    quarantine: Counts = field(default_factory=dict)  # expected reason counts per table
    baseline: Path | None = None


@dataclass
class Case:
    id: str
    build: Callable[[Shop, Path], Built]
    rejected: tuple[str, ...] | None = None  # substrings of the one-line message
    error: bool = False  # rejected by DataError (no outcome at all)


def _files(shop: Shop, d: Path, events=None, items=None, quarantine=None, baseline=False):
    """Write the (possibly changed) frames; unchanged tables are the base files."""
    ev = write_csv(events, d / "events.csv") if events is not None else shop.events_csv
    it = write_csv(items, d / "items.csv") if items is not None else shop.items_csv
    base = None
    if baseline:
        base = d / "baseline.json"
        shutil.copy(shop.baseline, base)
    return Built(ev, it, quarantine or {}, base)


# --------------------------------------------------------------------------------------------
# builders: each returns the files and, for accepted cases, the quarantine it predicts


def missing_column(shop, d):
    return _files(shop, d, events=shop.events().drop(columns="event_type"))


def renamed_column(shop, d):
    return _files(shop, d, events=shop.events().rename(columns={"timestamp": "ts"}))


def items_missing_price_column(shop, d):
    return _files(shop, d, items=shop.items().drop(columns="price"))


def extra_column(shop, d):
    ev = shop.events()
    ev["campaign"] = "spring"
    it = shop.items()
    it["colour"] = "red"
    return _files(shop, d, events=ev, items=it, quarantine={})


def empty_file(shop, d):
    (d / "events.csv").write_bytes(b"")
    return Built(d / "events.csv", shop.items_csv)


def empty_items_file(shop, d):
    (d / "items.csv").write_bytes(b"")
    return Built(shop.events_csv, d / "items.csv")


def header_only(shop, d):
    return _files(shop, d, events=shop.events().iloc[:0])


def items_header_only(shop, d):
    return _files(shop, d, items=shop.items().iloc[:0])


def wrong_delimiter(shop, d):
    path = d / "events.csv"
    shop.events().to_csv(path, index=False, sep=";")
    return Built(path, shop.items_csv)


def non_utf8(shop, d):
    path = d / "items.csv"
    data = shop.items_csv.read_bytes()
    first_title = shop.items()["title"].iloc[0].encode()
    path.write_bytes(data.replace(first_title, "Caf\xe9 Cr\xe8me".encode("latin-1"), 1))
    return Built(shop.events_csv, path)


def utf8_bom(shop, d):
    path = d / "events.csv"
    path.write_bytes(b"\xef\xbb\xbf" + shop.events_csv.read_bytes())
    items = d / "items.csv"
    items.write_bytes(b"\xef\xbb\xbf" + shop.items_csv.read_bytes())
    return Built(path, items, {})


def gzip_ok(shop, d):
    path = d / "events.csv.gz"
    path.write_bytes(gzip.compress(shop.events_csv.read_bytes()))
    return Built(path, shop.items_csv, {})


def truncated_gzip(shop, d):
    path = d / "events.csv.gz"
    data = gzip.compress(shop.events_csv.read_bytes())
    path.write_bytes(data[: len(data) // 2])
    return Built(path, shop.items_csv)


def ragged_row(shop, d):
    path = d / "events.csv"
    lines = shop.events_csv.read_text().splitlines()
    lines[5] = lines[5] + ",extra,fields"
    path.write_text("\n".join(lines) + "\n")
    return Built(path, shop.items_csv)


def corrupt_parquet(shop, d):
    path = d / "events.parquet"
    path.write_bytes(b"PAR1 this is not really parquet" * 10)
    return Built(path, shop.items_csv)


def unknown_format(shop, d):
    path = d / "events.xlsx"
    shutil.copy(shop.events_csv, path)
    return Built(path, shop.items_csv)


def parquet_epoch_seconds(shop, d):
    ev = shop.canonical_events.copy()
    ev["timestamp"] = ev["timestamp"].astype("int64") // 1_000_000  # us -> s
    assert ev["timestamp"].dtype == "int64" and ev["timestamp"].max() < 1e11
    path = d / "events.parquet"
    ev.to_parquet(path, index=False)
    items = d / "items.parquet"
    shop.canonical_items.to_parquet(items, index=False)
    return Built(path, items, {})


def parquet_epoch_millis(shop, d):
    ev = shop.canonical_events.copy()
    ev["timestamp"] = ev["timestamp"].astype("int64") // 1_000  # us -> ms
    path = d / "events.parquet"
    ev.to_parquet(path, index=False)
    return Built(path, shop.items_csv, {})


def item_prices_abc(shop, d):
    it = shop.items()
    bad = shop.quiet_items(5)
    it.loc[it["item_id"].isin(bad), "price"] = "abc"
    return _files(
        shop,
        d,
        items=it,
        quarantine={
            "items": {"non_numeric_price": 5},
            "events": {"unknown_item": shop.cascade(bad)},
        },
    )


def event_prices_abc(shop, d):
    ev = shop.events()
    pick = Rows(len(ev))
    ev.loc[pick.take(10), "price"] = "abc"
    ev.loc[pick.take(4), "quantity"] = "two"
    return _files(
        shop,
        d,
        events=ev,
        quarantine={"events": {"non_numeric_price": 10, "non_numeric_quantity": 4}},
    )


def nan_user_ids(shop, d):
    ev = shop.events()
    ev.loc[spread(len(ev), 30), "user_id"] = ""
    return _files(shop, d, events=ev, quarantine={"events": {"missing_user_id": 30}})


def nan_item_ids_in_items(shop, d):
    it = shop.items()
    bad = shop.quiet_items(3)
    it.loc[it["item_id"].isin(bad), "item_id"] = ""
    return _files(
        shop,
        d,
        items=it,
        quarantine={
            "items": {"missing_item_id": 3},
            "events": {"unknown_item": shop.cascade(bad)},
        },
    )


def negative_prices(shop, d):
    it = shop.items()
    bad = shop.quiet_items(4)
    it.loc[it["item_id"].isin(bad[:3]), "price"] = "-5.0"
    it.loc[it["item_id"] == bad[3], "price"] = "0"
    return _files(
        shop,
        d,
        items=it,
        quarantine={"items": {"bad_price": 4}, "events": {"unknown_item": shop.cascade(bad)}},
    )


def absurd_prices(shop, d):
    it = shop.items()
    bad = shop.quiet_items(3)
    it.loc[it["item_id"].isin(bad), "price"] = "1e9"
    return _files(
        shop,
        d,
        items=it,
        quarantine={"items": {"bad_price": 3}, "events": {"unknown_item": shop.cascade(bad)}},
    )


def event_bad_price_and_quantity(shop, d):
    ev = shop.events()
    pick = Rows(len(ev))
    ev.loc[pick.take(6), "price"] = "-1.5"
    ev.loc[pick.take(5), "price"] = "1000000000"
    ev.loc[pick.take(7), "quantity"] = "0"
    return _files(shop, d, events=ev, quarantine={"events": {"bad_price": 11, "bad_quantity": 7}})


def future_timestamps(shop, d):
    ev = shop.events()
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    ev.loc[spread(len(ev), 25), "timestamp"] = future
    return _files(shop, d, events=ev, quarantine={"events": {"timestamp_out_of_window": 25}})


def pre_1970_timestamps(shop, d):
    ev = shop.events()
    pick = Rows(len(ev))
    ev.loc[pick.take(15), "timestamp"] = "1960-03-01 12:00:00+00:00"
    ev.loc[pick.take(5), "timestamp"] = "1990-06-01T00:00:00Z"  # < 1995
    return _files(shop, d, events=ev, quarantine={"events": {"timestamp_out_of_window": 20}})


def some_unparseable_timestamps(shop, d):
    ev = shop.events()
    pick = Rows(len(ev))
    ev.loc[pick.take(10), "timestamp"] = "yesterday"
    ev.loc[pick.take(7), "timestamp"] = ""
    return _files(
        shop,
        d,
        events=ev,
        quarantine={"events": {"unparseable_timestamp": 10, "missing_timestamp": 7}},
    )


def timestamp_column_of_words(shop, d):
    ev = shop.events()
    words = np.array(["yesterday", "soon", "last tuesday-ish", "banana"])
    ev["timestamp"] = words[np.arange(len(ev)) % len(words)]
    return _files(
        shop, d, events=ev, quarantine={"events": {"unparseable_timestamp": shop.n_events}}
    )


def unknown_event_types(shop, d):
    ev = shop.events()
    pick = Rows(len(ev))
    ev.loc[pick.take(12), "event_type"] = "click"
    ev.loc[pick.take(8), "event_type"] = ""
    # upper case is the same event type: not quarantined
    ev.loc[pick.take(9), "event_type"] = "VIEW"
    return _files(
        shop,
        d,
        events=ev,
        quarantine={"events": {"unknown_event_type": 12, "missing_event_type": 8}},
    )


def duplicate_event_rows(shop, d):
    ev = shop.events()
    copies = ev.iloc[spread(len(ev), 40)]
    ev = pd.concat([ev, copies], ignore_index=True)
    return _files(shop, d, events=ev, quarantine={"events": {"duplicate_event": 40}})


def duplicate_item_ids(shop, d):
    it = shop.items()
    copies = it.iloc[[3, 50, 120]].copy()
    copies["title"] = copies["title"] + " (second listing)"
    it = pd.concat([it, copies], ignore_index=True)
    # the first listing of each id is kept: no event loses its item
    return _files(shop, d, items=it, quarantine={"items": {"duplicate_item_id": 3}})


def events_for_unknown_items(shop, d):
    ev = shop.events()
    rows = spread(len(ev), 20)
    ev.loc[rows, "item_id"] = [f"ghost-{k}" for k in range(len(rows))]
    return _files(shop, d, events=ev, quarantine={"events": {"unknown_item": 20}})


def very_long_id(shop, d):
    ev = shop.events()
    pick = Rows(len(ev))
    # too long AND unknown: the first rule broken (id length) is the reason
    ev.loc[pick.take(4), "item_id"] = "i" * 10_000
    ev.loc[pick.take(3), "user_id"] = "u" * 65
    return _files(shop, d, events=ev, quarantine={"events": {"id_too_long": 7}})


def very_long_title(shop, d):
    it = shop.items()
    bad = shop.quiet_items(2)
    it.loc[it["item_id"] == bad[0], "title"] = "x" * 5_000
    it.loc[it["item_id"] == bad[1], "brand"] = "B" * 1_001
    return _files(
        shop,
        d,
        items=it,
        quarantine={
            "items": {"text_too_long": 2},
            "events": {"unknown_item": shop.cascade(bad)},
        },
    )


def ids_with_whitespace_and_control_chars(shop, d):
    ev = shop.events()
    pick = Rows(len(ev))
    ev.loc[pick.take(5), "user_id"] = "u 001"
    ev.loc[pick.take(5), "user_id"] = "u\x07bell"
    ev.loc[pick.take(5), "user_id"] = "u\t2"
    ev.loc[pick.take(2), "item_id"] = "i00\n001"
    ev.loc[pick.take(3), "user_id"] = "u\x7f9"
    # whitespace around an id is trimmed, not a problem
    rows = pick.take(5)
    ev.loc[rows, "user_id"] = "  " + ev.loc[rows, "user_id"] + " "
    return _files(shop, d, events=ev, quarantine={"events": {"bad_id_format": 20}})


def first_rule_wins(shop, d):
    ev = shop.events()
    pick = Rows(len(ev))
    future = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    a = pick.take(6)
    ev.loc[a, "user_id"] = ""
    ev.loc[a, "event_type"] = "click"
    b = pick.take(5)
    ev.loc[b, "event_type"] = "click"
    ev.loc[b, "timestamp"] = future
    c = pick.take(4)
    ev.loc[c, "timestamp"] = future
    ev.loc[c, "item_id"] = "ghost"
    return _files(
        shop,
        d,
        events=ev,
        quarantine={
            "events": {
                "missing_user_id": 6,
                "unknown_event_type": 5,
                "timestamp_out_of_window": 4,
            }
        },
    )


def too_many_bad_rows(shop, d):
    ev = shop.events()
    k = shop.n_events // 5  # 20 %
    ev.loc[spread(len(ev), k), "user_id"] = ""
    return _files(shop, d, events=ev, quarantine={"events": {"missing_user_id": k}})


def too_many_bad_items(shop, d):
    it = shop.items()
    bad = shop.quiet_items(11)  # 5.5 % of 200 > 5 %
    it.loc[it["item_id"].isin(bad), "price"] = "-1"
    return _files(
        shop,
        d,
        items=it,
        quarantine={"items": {"bad_price": 11}, "events": {"unknown_item": shop.cascade(bad)}},
    )


def bot_user(shop, d):
    ev = shop.events()
    n = 100_000
    start = pd.Timestamp("2026-01-06T00:00:00Z")
    item_ids = shop.items()["item_id"].to_numpy()
    bot = pd.DataFrame(
        {
            "user_id": "bot-0001",
            "item_id": item_ids[np.arange(n) % len(item_ids)],
            "event_type": "view",
            "timestamp": (start + pd.to_timedelta(np.arange(n), unit="s")).astype(str),
            "session_id": "s-bot",
            "quantity": "1.0",
            "price": "9.99",
        }
    )
    ev = pd.concat([ev, bot], ignore_index=True)
    return _files(shop, d, events=ev, quarantine={"events": {"bot_suspect": n}})


def volume_spike(shop, d):
    base = shop.events()
    copies = [base]
    for k in range(1, 10):  # 10x the rows, all new (distinct users), same mix and shape
        copy = base.copy()
        copy["user_id"] = copy["user_id"] + f"-c{k}"
        copies.append(copy)
    ev = pd.concat(copies, ignore_index=True)
    return _files(shop, d, events=ev, quarantine={}, baseline=True)


def volume_drop(shop, d):
    ev = shop.events().iloc[::4]  # a quarter of the rows, every user still present
    return _files(shop, d, events=ev, quarantine={}, baseline=True)


def event_mix_change(shop, d):
    ev = shop.events()
    ev["event_type"] = "purchase"
    # a view and a purchase of the same item at the same second become the same row
    dups = int(ev.duplicated().sum())
    quarantine = {"events": {"duplicate_event": dups}} if dups else {}
    return _files(shop, d, events=ev, quarantine=quarantine, baseline=True)


def good_batch_with_baseline(shop, d):
    return _files(shop, d, quarantine={}, baseline=True)


CASES = [
    # unreadable or structurally broken files: DataError, nothing to quarantine
    Case("missing_column", missing_column, ("missing required column", "event_type"), True),
    Case("renamed_column", renamed_column, ("missing required column", "timestamp", "ts"), True),
    Case("items_missing_price", items_missing_price_column, ("items:", "price"), True),
    Case("empty_file", empty_file, ("events.csv", "empty"), True),
    Case("empty_items_file", empty_items_file, ("items.csv", "empty"), True),
    Case("header_only", header_only, ("events", "no data rows"), True),
    Case("items_header_only", items_header_only, ("items", "no data rows"), True),
    Case("wrong_delimiter", wrong_delimiter, ("comma-separated", "user_id;item_id"), True),
    Case("non_utf8", non_utf8, ("items.csv", "not UTF-8"), True),
    Case("truncated_gzip", truncated_gzip, ("events.csv.gz", "gzip"), True),
    Case("ragged_row", ragged_row, ("events.csv", "cannot read csv"), True),
    Case("corrupt_parquet", corrupt_parquet, ("events.parquet", "cannot read parquet"), True),
    Case("unknown_format", unknown_format, ("events.xlsx", "unknown table format"), True),
    # accepted, bad rows quarantined with their reason
    Case("extra_column", extra_column),
    Case("utf8_bom", utf8_bom),
    Case("gzip_csv", gzip_ok),
    Case("parquet_epoch_seconds", parquet_epoch_seconds),
    Case("parquet_epoch_millis", parquet_epoch_millis),
    Case("item_prices_abc", item_prices_abc),
    Case("event_prices_abc", event_prices_abc),
    Case("nan_user_ids", nan_user_ids),
    Case("nan_item_ids_in_items", nan_item_ids_in_items),
    Case("negative_prices", negative_prices),
    Case("absurd_prices", absurd_prices),
    Case("event_bad_price_quantity", event_bad_price_and_quantity),
    Case("future_timestamps", future_timestamps),
    Case("pre_1970_timestamps", pre_1970_timestamps),
    Case("some_unparseable_timestamps", some_unparseable_timestamps),
    Case("unknown_event_types", unknown_event_types),
    Case("duplicate_event_rows", duplicate_event_rows),
    Case("duplicate_item_ids", duplicate_item_ids),
    Case("events_for_unknown_items", events_for_unknown_items),
    Case("very_long_id", very_long_id),
    Case("very_long_title", very_long_title),
    Case("ids_whitespace_control", ids_with_whitespace_and_control_chars),
    Case("first_rule_wins", first_rule_wins),
    Case("good_batch_vs_baseline", good_batch_with_baseline),
    # rejected batches: one message naming the rule, the column and an example
    Case(
        "timestamp_column_of_words",
        timestamp_column_of_words,
        ("max_bad_row_share", "unparseable_timestamp", "timestamp", "'yesterday'"),
    ),
    Case(
        "too_many_bad_rows",
        too_many_bad_rows,
        ("events: 20.0% of 6,580 rows", "max_bad_row_share", "missing_user_id", "user_id"),
    ),
    Case(
        "too_many_bad_items",
        too_many_bad_items,
        ("items: 5.5% of 200 rows", "bad_price", "'price'", "price='-1'"),
    ),
    Case(
        "bot_user",
        bot_user,
        ("bot_suspect", "user_event_count", "user_id='bot-0001'", "max_bad_row_share"),
    ),
    Case(
        "volume_spike",
        volume_spike,
        (
            "events rejected",
            "expect_table_row_count_to_be_between",
            "observed 65800; expected 3290 to 19740",
        ),
    ),
    Case(
        "volume_drop",
        volume_drop,
        (
            "events rejected",
            "expect_table_row_count_to_be_between",
            "observed 1645; expected 3290 to 19740",
        ),
    ),
    Case(
        "event_mix_change",
        event_mix_change,
        ("expect_column_kl_divergence_to_be_less_than", "'event_type'", "expected below 0.1"),
    ),
]


# --------------------------------------------------------------------------------------------
# fixtures


def _settings() -> ValidationParams:
    return load_params(REPO_ROOT / "params.yaml").validation.relative_to(REPO_ROOT)


@pytest.fixture(scope="module")
def settings() -> ValidationParams:
    return _settings()


@pytest.fixture(scope="module")
def shop(tmp_path_factory, settings) -> Shop:
    """The good shop; accepting it once writes the profile the volume/mix cases compare with."""
    shop = Shop(tmp_path_factory.mktemp("shop"))
    outcome = validate_files(shop.events_csv, shop.items_csv, settings, baseline_path=shop.baseline)
    assert outcome.accepted, outcome.message
    assert outcome.counts() == {
        "items": {"in": 200, "accepted": 200, "quarantined": 0},
        "events": {"in": shop.n_events, "accepted": shop.n_events, "quarantined": 0},
    }
    assert shop.baseline.is_file()
    return shop


# --------------------------------------------------------------------------------------------
# invariants


def check_nothing_lost(outcome: ValidationOutcome) -> None:
    """rows in = accepted + quarantined, and every quarantined row is there with its reason."""
    counts = outcome.counts()
    assert set(counts) == set(TABLES)
    frames = {"items": outcome.items, "events": outcome.events}
    q = outcome.quarantine
    assert list(q.columns) == ["table", "source_row", "reason", "record"]
    assert q["reason"].notna().all() and q["record"].notna().all()
    for table in TABLES:
        c = counts[table]
        assert c["in"] == c["accepted"] + c["quarantined"], table
        mine = q[q["table"] == table]
        assert len(mine) == c["quarantined"], table
        assert len(frames[table]) == c["accepted"], table
        assert mine["source_row"].is_unique
        assert mine["source_row"].between(0, c["in"] - 1).all()
        by_reason = mine["reason"].value_counts().to_dict()
        assert by_reason == outcome.checks[table].reason_counts(), table
        assert sum(by_reason.values()) == c["quarantined"]


def reason_counts(outcome: ValidationOutcome) -> Counts:
    return {t: outcome.checks[t].reason_counts() for t in TABLES}


def expected_counts(built: Built) -> Counts:
    return {t: {k: v for k, v in built.quarantine.get(t, {}).items() if v} for t in TABLES}


def run_case(case: Case, shop: Shop, settings, tmp_path) -> tuple[Built, object]:
    built = case.build(shop, tmp_path)
    try:
        return built, validate_files(
            built.events, built.items, settings, baseline_path=built.baseline
        )
    except DataError as exc:
        return built, exc


# --------------------------------------------------------------------------------------------
# the corpus


def test_the_corpus_is_large_and_covers_both_verdicts():
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(c.rejected is None for c in CASES) >= 10
    assert sum(c.rejected is not None for c in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input(case: Case, shop, settings, tmp_path):
    built, result = run_case(case, shop, settings, tmp_path)

    if isinstance(result, DataError):
        message = str(result)
        assert case.error, f"unexpected DataError: {message}"
    else:
        assert not case.error, "expected a DataError"
        outcome = result
        check_nothing_lost(outcome)
        assert reason_counts(outcome) == expected_counts(built)
        if case.rejected is None:
            assert outcome.accepted, outcome.message
            assert outcome.message is None
            if built.baseline is not None:  # an accepted batch becomes the next baseline
                assert (
                    json.loads(built.baseline.read_text())["events_rows"]
                    == (outcome.counts()["events"]["accepted"])
                )
            return
        assert outcome.accepted is False
        message = outcome.message
        assert outcome.profile is None
        if built.baseline is not None:  # a rejected batch never replaces the baseline
            assert built.baseline.read_bytes() == shop.baseline.read_bytes()

    assert case.rejected is not None
    assert message and "\n" not in message and "Traceback" not in message
    for part in case.rejected:
        assert part in message, f"{part!r} not in {message!r}"


def test_the_quarantine_keeps_the_original_record_and_its_source_row(shop, settings, tmp_path):
    built = some_unparseable_timestamps(shop, tmp_path)
    pick = Rows(shop.n_events)  # the same draws as the builder: 10 words, then 7 blanks
    words, blanks = pick.take(10).tolist(), pick.take(7).tolist()
    outcome = validate_files(built.events, built.items, settings)
    q = outcome.quarantine.set_index("source_row")
    assert sorted(q.index) == sorted(words + blanks)
    original = shop.events()
    for row in words + blanks:
        record = json.loads(q.loc[row, "record"])
        assert record["timestamp"] == ("yesterday" if row in words else None)
        for column in ("user_id", "item_id", "session_id", "price"):
            assert record[column] == original.loc[row, column]
        assert q.loc[row, "reason"] == (
            "unparseable_timestamp" if row in words else "missing_timestamp"
        )


# --------------------------------------------------------------------------------------------
# the same corpus through the real command line


def markup_in_a_column_name(shop, d):
    ev = shop.events().drop(columns="event_type")
    return _files(shop, d, events=ev.rename(columns={"session_id": "[/session]"}))


@dataclass
class CliCase:
    build: Callable[[Shop, Path], Built]
    code: int
    report: bool = False
    baseline: bool = False  # compare with the good shop's profile (--baseline)
    stderr: tuple[str, ...] = ()


CLI_CASES = {
    "nan_user_ids": CliCase(nan_user_ids, 0, report=True, baseline=True),
    "too_many_bad_rows": CliCase(
        too_many_bad_rows, 1, report=True, stderr=("missing_user_id", "max_bad_row_share")
    ),
    "missing_column": CliCase(missing_column, 1, stderr=("missing required column(s) event_type",)),
    "empty_file": CliCase(empty_file, 1, stderr=("the file is empty",)),
    "wrong_delimiter": CliCase(wrong_delimiter, 1, stderr=("comma-separated",)),
    "markup_in_a_column_name": CliCase(markup_in_a_column_name, 1, stderr=("[/session]",)),
}
NOTHING_CHECKED = ("missing_column", "empty_file", "wrong_delimiter", "markup_in_a_column_name")


def _start_cli(built: Built, report: Path | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "shoprec", "validate"]
    cmd += ["--events", str(built.events), "--items", str(built.items)]
    cmd += ["--params", str(REPO_ROOT / "params.yaml")]
    if report is not None:
        cmd += ["--report", str(report)]
    if built.baseline is not None:
        cmd += ["--baseline", str(built.baseline)]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


class CliRuns:
    """The CLI cases run in the background while the in-process corpus runs: each process
    pays the Great Expectations start-up."""

    def __init__(self, shop: Shop, root: Path):
        self.started = {}
        self.done = {}
        for name, case in CLI_CASES.items():
            d = root / name
            d.mkdir()
            built = case.build(shop, d)
            if case.baseline:
                built.baseline = d / "baseline.json"
                shutil.copy(shop.baseline, built.baseline)
            report = d / "report" if case.report else None
            self.started[name] = (built, report, _start_cli(built, report))

    def result(self, name):
        if name not in self.done:
            built, report, proc = self.started[name]
            out, err = proc.communicate(timeout=300)
            self.done[name] = (built, report, proc.returncode, out, err)
        return self.done[name]

    def stop(self):
        for _, _, proc in self.started.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope="module", autouse=True)
def cli_runs(shop, tmp_path_factory):
    runs = CliRuns(shop, tmp_path_factory.mktemp("cli"))
    yield runs
    runs.stop()


def _cells(stdout: str, table: str) -> list[str]:
    """The cells of ``table``'s row in the printed counts."""
    rows = [line for line in stdout.splitlines() if line.strip("│ ").startswith(table + " ")]
    assert len(rows) == 1, stdout
    return [cell.strip() for cell in rows[0].strip().strip("│").split("│")]


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli(name, cli_runs, shop):
    case = CLI_CASES[name]
    built, _, code, out, err = cli_runs.result(name)
    assert "Traceback" not in out + err
    assert code == case.code, err
    err_lines = [line for line in err.splitlines() if line.strip()]
    if case.code == 0:
        assert err_lines == []
        assert "batch accepted" in out
    else:
        assert len(err_lines) == 1, err
        assert err_lines[0].startswith("error:")
        for part in case.stderr:
            assert part in err_lines[0]
    if name in NOTHING_CHECKED:
        assert "accepted" not in out  # nothing was checked, nothing counted
        return
    expected = expected_counts(built)
    quarantined = sum(expected["events"].values())
    reasons = ", ".join(f"{r} {n:,}" for r, n in expected["events"].items())
    assert _cells(out, "events") == [
        "events",
        f"{shop.n_events:,}",
        f"{shop.n_events - quarantined:,}",
        f"{quarantined:,}",
        reasons,
    ]
    assert _cells(out, "items") == ["items", "200", "200", "0", "—"]
    if case.baseline and case.code == 0:  # the accepted batch is the next baseline
        profile = json.loads(built.baseline.read_text())
        assert profile["events_rows"] == shop.n_events - quarantined


@pytest.mark.parametrize("name", ["nan_user_ids", "too_many_bad_rows"])
def test_cli_report(name, cli_runs, shop):
    built, report, code, out, err = cli_runs.result(name)
    page = (report / "index.html").read_text(encoding="utf-8")
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    expected = expected_counts(built)
    assert summary["accepted"] is (code == 0)
    assert summary["counts"]["events"]["quarantined"] == sum(expected["events"].values())
    assert summary["quarantine_reasons"]["events"] == expected["events"]
    if code == 0:
        assert "Batch accepted." in page
    else:
        assert "Batch rejected" in page
        assert summary["message"] in err
    for reason in expected["events"]:
        assert reason in page
    assert f"report: {report / 'index.html'}" in out
    if built.baseline is not None:
        assert summary["compared_with"] == f"{shop.n_events:,} events, 200 items"
