"""The UCI Online Retail adapter, on the committed slice (tests/data/online_retail_slice.csv.gz).

The hand-checked rows below were looked up in the slice by their published values
(``zcat tests/data/online_retail_slice.csv.gz | grep ...``).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from shoprec.data.online_retail import QUARANTINE_RULES, read_online_retail
from shoprec.errors import DataError
from tests.projects import REPO_ROOT

DATA = Path(__file__).parent  # tests/data: the committed slice
SLICE = DATA / "online_retail_slice.csv.gz"
FULL = REPO_ROOT.parent / "shared/datasets/online_retail/online_retail.csv.gz"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
DTYPES = {"InvoiceNo": str, "StockCode": str, "CustomerID": str, "Description": str}

# Per-reason counts on the committed slice (re-cut the slice -> update these).
SLICE_REASONS = {
    "unparseable_timestamp": 0,
    "cancellation_invoice": 52,
    "adjustment_invoice": 3,
    "non_product_stock_code": 69,
    "non_positive_quantity": 26,
    "non_positive_price": 46,
    "missing_customer_id": 187,
}


@pytest.fixture(scope="module")
def data():
    return read_online_retail(SLICE)


@pytest.fixture(scope="module")
def raw():
    return pd.read_csv(SLICE, dtype=DTYPES)


def _row(raw: pd.DataFrame, invoice: str, code: str) -> int:
    hits = raw.index[(raw["InvoiceNo"] == invoice) & (raw["StockCode"] == code)]
    assert len(hits) >= 1, f"{invoice}/{code} not in the slice"
    return int(hits[0])


def _write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_counts_add_up_exactly(data, raw):
    counts = data.counts()
    assert counts["events"] == {"read": 3507, "used": 3124, "quarantined": 383}
    assert counts["events"]["read"] == len(raw)
    assert counts["items"] == {"read": 1367, "used": 1367, "quarantined": 0}
    assert data.notes["quarantine_reasons"] == SLICE_REASONS
    assert data.quarantine["reason"].value_counts().to_dict() == {
        r: n for r, n in SLICE_REASONS.items() if n
    }
    # every data row is either an event or quarantined, never both, never neither
    assert data.quarantine["source_row"].is_unique
    assert data.quarantine["source_row"].between(0, len(raw) - 1).all()


def test_quarantine_has_the_sources_format(data, raw):
    q = data.quarantine
    assert list(q.columns) == ["table", "source_row", "reason", "record"]
    assert str(q["source_row"].dtype) == "int64"
    assert (q["table"] == "events").all()
    assert set(q["reason"]) <= {name for name, _ in QUARANTINE_RULES}
    for _, row in q.iterrows():
        record = json.loads(row["record"])
        original = raw.loc[row["source_row"]]
        assert record["InvoiceNo"] == original["InvoiceNo"]
        assert record["StockCode"] == original["StockCode"]
        assert record["InvoiceDate"] == original["InvoiceDate"]
        assert record["Quantity"] == original["Quantity"]


@pytest.mark.parametrize(
    ("invoice", "code", "reason"),
    [
        # a cancellation of a non-product code: the cancellation rule comes first
        ("C536379", "D", "cancellation_invoice"),
        ("A563185", "B", "adjustment_invoice"),
        ("536370", "POST", "non_product_stock_code"),
        # product-shaped code that is a delivery charge ("Next Day Carriage")
        ("554835", "23444", "non_product_stock_code"),
        # gift voucher without a customer: non-product comes before missing customer
        ("545895", "gift_0001_10", "non_product_stock_code"),
        # stock write-off: Quantity -10, UnitPrice 0, no customer
        ("536589", "21777", "non_positive_quantity"),
        # a real customer's line at UnitPrice 0.0
        ("537197", "22841", "non_positive_price"),
        # a sale at 4.21 with no CustomerID
        ("536544", "20622", "missing_customer_id"),
    ],
)
def test_hand_checked_quarantine_rows(data, raw, invoice, code, reason):
    source_row = _row(raw, invoice, code)
    hit = data.quarantine[data.quarantine["source_row"] == source_row]
    assert hit["reason"].tolist() == [reason]
    record = json.loads(hit["record"].iloc[0])
    assert record["InvoiceNo"] == invoice
    assert record["StockCode"] == code


def test_adjustment_record_keeps_the_original_values(data, raw):
    source_row = _row(raw, "A563185", "B")
    record = json.loads(data.quarantine.set_index("source_row").loc[source_row, "record"])
    assert record == {
        "InvoiceNo": "A563185",
        "StockCode": "B",
        "Description": "Adjust bad debt",
        "Quantity": 1,
        "InvoiceDate": "2011-08-12 14:50:00",
        "UnitPrice": 11062.06,
        "CustomerID": None,
        "Country": "United Kingdom",
    }


def test_events_follow_the_contract(data):
    ev = data.events
    assert list(ev.columns) == [
        "user_id",
        "item_id",
        "event_type",
        "timestamp",
        "session_id",
        "quantity",
        "price",
    ]
    assert (ev["event_type"] == "purchase").all()
    assert ev["user_id"].str.fullmatch(r"[0-9]+").all()
    assert not ev["user_id"].str.contains(".", regex=False).any()
    assert ev["item_id"].str.fullmatch(r"[0-9]{5}[A-Z]*").all()
    assert (ev["quantity"] > 0).all()
    assert (ev["price"] > 0).all()
    assert str(ev["timestamp"].dt.tz) == "UTC"
    assert not ev["session_id"].str.startswith(("C", "A")).any()


@pytest.mark.parametrize(
    ("invoice", "code", "user", "utc"),
    [
        # December: GMT, UTC+0
        ("536381", "15056BL", "15311", "2010-12-01 09:41:00"),
        # 27 March 2011, the day BST began (01:00 UTC): 15:39 BST
        ("547874", "21109", "14476", "2011-03-27 14:39:00"),
        # July: BST, UTC+1
        ("558770", "20622", "12748", "2011-07-03 14:19:00"),
    ],
)
def test_known_rows_map_to_utc_events(data, invoice, code, user, utc):
    ev = data.events
    hit = ev[(ev["session_id"] == invoice) & (ev["item_id"] == code)]
    assert len(hit) == 1
    assert hit["user_id"].iloc[0] == user
    assert hit["timestamp"].iloc[0] == pd.Timestamp(utc, tz="UTC")


def test_items_one_per_event_item_with_positive_prices(data):
    items, ev = data.items, data.events
    assert items["item_id"].is_unique
    assert set(ev["item_id"]) == set(items["item_id"])
    assert (items["price"] > 0).all()
    assert (items["category"] == "unknown").all()
    assert (items["brand"] == "unknown").all()
    assert items["available"].all()
    assert (items["title"].str.len() > 0).all()
    assert (items["title"] == items["description"]).all()
    medians = ev.groupby("item_id")["price"].median()
    assert items.set_index("item_id")["price"].equals(medians.rename("price"))


@pytest.mark.parametrize(
    ("code", "title"),
    [
        # 22 x "VIPPASSPORT COVER" vs 11 x "VIP PASSPORT COVER" (the newer spelling): count wins
        ("20622", "VIPPASSPORT COVER"),
        # 69 x "LARGE CAKE TOWEL CHOCOLATE SPOTS" vs 4 x "LARGE CAKE TOWEL, CHOCOLATE SPOTS"
        ("21109", "LARGE CAKE TOWEL CHOCOLATE SPOTS"),
        # 2 vs 2: the one seen last (2011-10-06) wins over "SWEETHEART CAKESTAND 3 TIER" (07-13)
        ("22776", "SWEETHEART 3 TIER CAKE STAND"),
        # "VINTAGE  2 METRE ..." (double space in the file): whitespace collapsed, tie -> newer
        ("23188", "VINTAGE 2 METRE FOLDING RULER"),
    ],
)
def test_title_is_the_most_frequent_description(data, code, title):
    assert data.items.set_index("item_id").loc[code, "title"] == title


def test_notes(data):
    notes = data.notes
    assert notes["codes_with_several_titles"] == 27
    assert "Europe/London" in notes["timezone"]
    assert notes["rule_order"] == [name for name, _ in QUARANTINE_RULES]
    assert notes["users"] == data.events["user_id"].nunique()


def test_plain_csv_reads_the_same(tmp_path, data):
    plain = tmp_path / "online_retail.csv"
    with gzip.open(SLICE, "rb") as src, plain.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    again = read_online_retail(plain)
    pd.testing.assert_frame_equal(again.events, data.events)
    pd.testing.assert_frame_equal(again.items, data.items)
    pd.testing.assert_frame_equal(again.quarantine, data.quarantine)


def test_crafted_rows(tmp_path):
    path = _write_csv(
        tmp_path / "crafted.csv",
        # lower-case code with a customer: upper-cased; float-formatted id normalised
        "536365,85123a,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,UK",
        # two titles, one row each: the most recent one wins
        "536366,71053,WHITE METAL LANTERN,6,2011-06-01 09:00:00,3.00,17850.0,United Kingdom",
        "536367,71053, WHITE  MOROCCAN METAL LANTERN ,6,2011-06-02 09:00:00,4.00,13047,UK",
        # broken and missing dates
        "536368,71053,WHITE METAL LANTERN,6,not a date,3.39,17850.0,United Kingdom",
        "536369,71053,WHITE METAL LANTERN,6,,3.39,17850.0,United Kingdom",
        # 30 October 2011, 01:30 happened twice (BST then GMT): taken as BST
        "536370,71053,WHITE METAL LANTERN,1,2011-10-30 01:30:00,3.39,17850.0,United Kingdom",
        # the M/D/YYYY H:MM format of other CSV copies
        "536371,71053,WHITE METAL LANTERN,1,7/1/2011 12:00,3.39,17850.0,United Kingdom",
    )
    data = read_online_retail(path)
    ev = data.events
    assert ev["item_id"].tolist() == ["85123A", "71053", "71053", "71053", "71053"]
    assert ev["user_id"].tolist() == ["17850", "17850", "13047", "17850", "17850"]
    assert ev["timestamp"].tolist() == [
        pd.Timestamp("2010-12-01 08:26", tz="UTC"),
        pd.Timestamp("2011-06-01 08:00", tz="UTC"),
        pd.Timestamp("2011-06-02 08:00", tz="UTC"),
        pd.Timestamp("2011-10-30 00:30", tz="UTC"),
        pd.Timestamp("2011-07-01 11:00", tz="UTC"),
    ]
    q = data.quarantine
    assert q["source_row"].tolist() == [3, 4]
    assert (q["reason"] == "unparseable_timestamp").all()
    assert json.loads(q["record"].iloc[0])["InvoiceDate"] == "not a date"
    items = data.items.set_index("item_id")
    # WHITE METAL LANTERN: 2 kept rows vs 1 -> most frequent wins
    assert items.loc["71053", "title"] == "WHITE METAL LANTERN"
    assert items.loc["71053", "price"] == pytest.approx(3.39)
    assert data.counts()["events"] == {"read": 7, "used": 5, "quarantined": 2}


def test_title_tie_goes_to_the_most_recent(tmp_path):
    path = _write_csv(
        tmp_path / "tie.csv",
        "536366,71053,WHITE MOROCCAN METAL LANTERN,6,2011-06-02 09:00:00,4.00,13047.0,UK",
        "536367,71053,WHITE METAL LANTERN,6,2011-06-01 09:00:00,3.00,17850.0,UK",
    )
    data = read_online_retail(path)
    assert data.items.set_index("item_id").loc["71053", "title"] == "WHITE MOROCCAN METAL LANTERN"
    assert data.items.set_index("item_id").loc["71053", "price"] == pytest.approx(3.5)


def test_missing_columns_is_a_readable_data_error(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("InvoiceNo,StockCode,Quantity\n536365,85123A,6\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_online_retail(path)
    message = str(err.value)
    assert "short.csv" in message
    assert "missing column(s) Description, InvoiceDate, UnitPrice, CustomerID, Country" in message


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_online_retail(tmp_path / "nope.csv.gz")


@pytest.mark.skipif(not FULL.exists(), reason="full Online Retail file not present")
def test_full_file_counts():
    data = read_online_retail(FULL)
    assert data.counts() == {
        "events": {"read": 541_909, "used": 396_255, "quarantined": 145_654},
        "items": {"read": 3_657, "used": 3_657, "quarantined": 0},
    }
    assert data.notes["quarantine_reasons"] == {
        "unparseable_timestamp": 0,
        "cancellation_invoice": 9_288,
        "adjustment_invoice": 3,
        "non_product_stock_code": 2_492,
        "non_positive_quantity": 1_324,
        "non_positive_price": 1_159,
        "missing_customer_id": 131_388,
    }
    assert data.notes["users"] == 4_334
