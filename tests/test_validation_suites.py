"""The first Great Expectations suites: failures are readable, empty suites never pass."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shoprec.errors import DataError
from shoprec.validation.suites import validate_table
from tests.projects import REPO_ROOT

EVENTS_SUITE = REPO_ROOT / "expectations/events.json"
ITEMS_SUITE = REPO_ROOT / "expectations/items.json"


def events(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "item_id": ["i1", "i2", "i1"],
            "event_type": ["view", "addtocart", "purchase"],
            "timestamp": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True),
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_canonical_events_pass():
    result = validate_table(events(), EVENTS_SUITE, "events")
    assert result.success and len(result.outcomes) >= 8


def test_a_failure_names_the_expectation_the_column_and_example_values():
    result = validate_table(
        events(event_type=["view", "click", "purchase"]), EVENTS_SUITE, "events"
    )
    assert not result.success
    message = result.message()
    assert "expect_column_values_to_be_in_set on column 'event_type'" in message
    assert "'click'" in message and "1 unexpected value(s)" in message


def test_items_with_duplicate_ids_and_bad_prices_are_rejected():
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "b"],
            "title": ["x", "y", "z"],
            "category": ["c"] * 3,
            "brand": ["b"] * 3,
            "price": [1.0, -2.0, 3.0],
        }
    )
    result = validate_table(items, ITEMS_SUITE, "items")
    failed = {(o.expectation, o.column) for o in result.failures}
    assert failed == {
        ("expect_column_values_to_be_unique", "item_id"),
        ("expect_column_values_to_be_between", "price"),
    }


def test_a_missing_column_fails_the_schema_expectation():
    result = validate_table(events().drop(columns="timestamp"), EVENTS_SUITE, "events")
    assert not result.success
    assert any(o.expectation == "expect_table_columns_to_match_set" for o in result.failures)


@pytest.mark.parametrize(
    "content, expected",
    [
        ({"name": "events", "expectations": []}, "has no expectations"),
        ({"name": "events"}, "has no expectations"),
        ("{not json", "not valid JSON"),
    ],
)
def test_an_empty_or_broken_suite_is_a_failure_never_a_pass(tmp_path, content, expected):
    suite = tmp_path / "suite.json"
    suite.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError, match=expected):
        validate_table(events(), suite, "events")


def test_a_missing_suite_is_a_failure(tmp_path):
    with pytest.raises(DataError, match="expectation suite not found"):
        validate_table(events(), tmp_path / "nope.json", "events")
