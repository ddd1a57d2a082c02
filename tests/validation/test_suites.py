"""The Great Expectations suites in ``expectations/`` and how shoprec runs them.

A suite that is missing, empty or broken is a failure, never a pass; row-level outcomes carry
the positions of the rows they flag, in the suite's order; optional-column and baseline
expectations are skipped (and say why) when they cannot apply; a failure names the expectation,
the column and example values.
"""

from __future__ import annotations

import gc
import json

import numpy as np
import pandas as pd
import pytest

from shoprec.config import load_params
from shoprec.errors import DataError
from shoprec.validation.suites import (
    load_suite_json,
    run_expectations,
    select_expectations,
    validate_table,
)
from tests.projects import REPO_ROOT

EVENTS_SUITE = REPO_ROOT / "expectations/events.json"
ITEMS_SUITE = REPO_ROOT / "expectations/items.json"
FEATURES_SUITE = REPO_ROOT / "expectations/features.json"

SETTINGS = load_params(REPO_ROOT / "params.yaml").validation

EVENT_PARAMETERS = {
    "max_id_length": SETTINGS.max_id_length,
    "max_text_length": SETTINGS.max_text_length,
    "max_price": SETTINGS.max_price,
    "max_quantity": SETTINGS.max_quantity,
    "max_events_per_user": SETTINGS.max_events_per_user,
    "min_timestamp": "1995-01-01T00:00:00+00:00",
    "max_timestamp": "2030-01-01T00:00:00+00:00",
    "item_ids": ["i1", "i2", "i3"],
    "max_event_mix_kl": SETTINGS.max_event_mix_kl,
}


def events(**overrides) -> pd.DataFrame:
    """Canonical events plus the columns shoprec derives before validation.

    The index is deliberately not 0..n-1: outcomes must report positions, not labels.
    """
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4", "u5"],
            "item_id": ["i1", "i2", "i1", "i3", "i2"],
            "event_type": ["view", "addtocart", "purchase", "view", "view"],
            "timestamp": pd.to_datetime(
                ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"], utc=True
            ),
            "user_event_count": [1, 1, 1, 1, 1],
            "user_distinct_items": [1, 1, 1, 1, 1],
            "is_repeat_row": [False] * 5,
        },
        index=[100, 7, 42, 3, 9],
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def items(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "title": ["x", "y", "z"],
            "category": ["c/d"] * 3,
            "brand": ["b"] * 3,
            "price": [1.0, 2.0, 3.0],
            "is_repeat_id": [False] * 3,
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def rows_of(result, reason: str, column: str | None = None) -> list[int]:
    found = [o for o in result.outcomes if o.reason == reason and column in (None, o.column)]
    assert len(found) == 1, [o.reason for o in result.outcomes]
    outcome = found[0]
    return [] if outcome.success else sorted(outcome.rows.tolist())


# --- broken suites never pass ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content, expected",
    [
        ({"name": "events", "expectations": []}, "has no expectations"),
        ({"name": "events"}, "has no expectations"),
        ([], "has no expectations"),
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ({"name": "events", "expectations": [{"kwargs": {}}]}, "needs a 'type'"),
    ],
    ids=["empty", "no_expectations_key", "not_a_mapping", "invalid_json", "empty_file", "no_type"],
)
def test_an_empty_or_broken_suite_is_a_failure_never_a_pass(tmp_path, content, expected):
    suite = tmp_path / "suite.json"
    suite.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError, match=expected):
        validate_table(events(), suite, "events")
    with pytest.raises(DataError, match=expected):
        load_suite_json(suite)


def test_a_missing_suite_is_a_failure(tmp_path):
    with pytest.raises(DataError, match="expectation suite not found"):
        validate_table(events(), tmp_path / "nope.json", "events")
    with pytest.raises(DataError, match="expectation suite not found"):
        load_suite_json(tmp_path)  # a folder is not a suite either


@pytest.mark.parametrize(
    "expectation, expected",
    [
        ({"type": "expect_column_values_to_be_inn_set", "kwargs": {"column": "user_id"}}, "inn"),
        ({"type": "expect_column_values_to_not_be_null", "kwargs": {"colum": "x"}}, "cannot"),
    ],
    ids=["unknown_type", "bad_arguments"],
)
@pytest.mark.parametrize("levels", [("row", "batch"), ("row",), ("batch",)])
def test_an_expectation_that_cannot_be_built_is_a_failure(expectation, expected, levels):
    """Great Expectations drops such an expectation with a log line; shoprec must not run a
    suite with a rule silently missing, at any level."""
    raw = {
        "name": "broken",
        "expectations": [
            {**expectation, "meta": {"level": levels[0]}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "user_id"}},
        ],
    }
    with pytest.raises(DataError, match=expected) as info:
        run_expectations(events(), raw, "events", levels=levels)
    assert "\n" not in str(info.value)


def test_a_whole_suite_with_nothing_to_run_fails_but_an_empty_level_does_not():
    raw = load_suite_json(FEATURES_SUITE)  # batch-level only
    assert not run_expectations(events(), {**raw, "expectations": []}, "x").success
    rows = run_expectations(events(), raw, "features", levels=("row",))
    assert rows.outcomes == [] and rows.success


# --- row-level outcomes -----------------------------------------------------------------------


def test_the_canonical_events_pass_every_row_rule():
    result = validate_table(
        events(), EVENTS_SUITE, "events", levels=("row",), parameters=EVENT_PARAMETERS
    )
    assert result.success, result.message()
    assert len(result.outcomes) >= 10
    assert all(o.level == "row" and o.reason for o in result.outcomes)


def test_row_outcomes_carry_the_positions_of_the_flagged_rows():
    frame = events(
        user_id=["u1", None, "u 3", "u4", "u5"],
        item_id=["i1", "i2", "i1", "ghost", "i2"],
        event_type=["view", "click", "purchase", "view", "CLICK"],
        timestamp=pd.to_datetime(
            ["2026-01-01", "2026-01-02", "1960-01-01", "2026-01-04", "2031-01-01"], utc=True
        ),
    )
    result = validate_table(
        frame, EVENTS_SUITE, "events", levels=("row",), parameters=EVENT_PARAMETERS
    )
    assert not result.success
    # positions 0..4, whatever the frame's index labels (100, 7, 42, 3, 9)
    assert rows_of(result, "missing_user_id") == [1]
    assert rows_of(result, "bad_id_format", "user_id") == [2]
    assert rows_of(result, "bad_id_format", "item_id") == []
    assert rows_of(result, "unknown_event_type") == [1, 4]
    assert rows_of(result, "timestamp_out_of_window") == [2, 4]
    assert rows_of(result, "unknown_item") == [3]
    assert rows_of(result, "missing_item_id") == []
    flagged = {o.reason: o for o in result.failures}
    assert flagged["unknown_event_type"].unexpected_count == 2
    assert set(flagged["unknown_event_type"].examples) == {"click", "CLICK"}
    assert flagged["unknown_item"].examples == ["ghost"]


def test_outcomes_follow_the_suite_order_which_is_the_precedence_of_reasons():
    """Great Expectations groups results by column; the quarantine reason of a row is the
    first rule it breaks in the suite file, so outcomes must come back in that order."""
    raw = load_suite_json(EVENTS_SUITE)
    columns = list(events().columns)
    chosen, _ = select_expectations(raw, columns, ("row",), have_baseline=False)
    result = run_expectations(events(), raw, "events", levels=("row",), parameters=EVENT_PARAMETERS)
    assert [(o.expectation, o.column) for o in result.outcomes] == [
        (e["type"], e["kwargs"].get("column")) for e in chosen
    ]
    reasons = [o.reason for o in result.outcomes]
    assert reasons.index("timestamp_out_of_window") < reasons.index("unknown_item")
    assert reasons.index("unknown_item") < reasons.index("bot_suspect")


def test_items_row_rules_flag_duplicates_bad_prices_and_long_text():
    frame = items(
        item_id=["a", "b", "b"],
        is_repeat_id=[False, False, True],
        price=[1.0, -2.0, np.nan],
        title=["x", "y" * 1001, "z"],
    )
    result = validate_table(
        frame, ITEMS_SUITE, "items", levels=("row",), parameters=EVENT_PARAMETERS
    )
    assert rows_of(result, "duplicate_item_id") == [2]
    assert rows_of(result, "bad_price") == [1]
    assert rows_of(result, "missing_price") == [2]
    text = [o for o in result.failures if o.reason == "text_too_long"]
    assert [(o.column, o.rows.tolist()) for o in text] == [("title", [1])]


# --- what is skipped, and why -----------------------------------------------------------------


def test_optional_column_expectations_are_skipped_when_the_column_is_absent():
    raw = load_suite_json(EVENTS_SUITE)
    result = run_expectations(events(), raw, "events", levels=("row",), parameters=EVENT_PARAMETERS)
    assert "expect_column_values_to_be_between(price): optional column absent" in result.skipped
    assert "expect_column_values_to_be_between(quantity): optional column absent" in result.skipped
    assert not any(o.column in ("price", "quantity") for o in result.outcomes)

    with_price = events(price=[1.0, -1.0, 2.0, 3.0, 4.0])
    result = run_expectations(
        with_price, raw, "events", levels=("row",), parameters=EVENT_PARAMETERS
    )
    assert not any("(price)" in s for s in result.skipped)
    assert rows_of(result, "bad_price") == [1]


def test_baseline_expectations_are_skipped_without_a_previous_batch():
    raw = load_suite_json(EVENTS_SUITE)
    result = run_expectations(
        events(), raw, "events", levels=("batch",), parameters=EVENT_PARAMETERS
    )
    assert result.success, result.message()
    assert {o.expectation for o in result.outcomes} == {
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
    }
    skipped = [s for s in result.skipped if "no previous accepted batch" in s]
    assert len(skipped) == 3
    assert any(
        s.startswith("expect_column_kl_divergence_to_be_less_than(event_type)") for s in skipped
    )

    baseline = {
        **EVENT_PARAMETERS,
        "min_rows": 50,
        "max_rows": 300,
        "event_mix": {"values": ["addtocart", "purchase", "view"], "weights": [0.2, 0.2, 0.6]},
        "min_median_items_per_user": 0.5,
        "max_median_items_per_user": 2.0,
    }
    result = run_expectations(
        events(), raw, "events", levels=("batch",), parameters=baseline, have_baseline=True
    )
    assert result.skipped == []
    assert not result.success
    (failure,) = result.failures
    assert failure.expectation == "expect_table_row_count_to_be_between"
    assert failure.observed_value == 5
    assert "expect_table_row_count_to_be_between: observed 5; expected 50 to 300" in (
        result.message()
    )


# --- readable batch-level failures ------------------------------------------------------------


def test_a_batch_failure_names_the_expectation_the_column_and_example_values():
    frame = events().drop(columns="timestamp")
    result = run_expectations(
        frame, load_suite_json(EVENTS_SUITE), "events", levels=("batch",), parameters={}
    )
    assert not result.success
    message = result.message()
    assert message.startswith("events rejected by suite 'events': ")
    assert "expect_table_columns_to_match_set" in message
    assert "observed {'missing': ['timestamp']}" in message
    assert "\n" not in message


def test_the_message_shows_at_most_five_examples_and_counts_the_rest():
    raw = {
        "name": "events",
        "expectations": [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "event_type", "value_set": ["view"]},
            }
        ],
    }
    frame = pd.DataFrame({"event_type": [f"bad{k}" for k in range(8)] + ["view"]})
    message = run_expectations(frame, raw, "events").message()
    assert message == (
        "events rejected by suite 'events': expect_column_values_to_be_in_set on column "
        "'event_type': 8 unexpected value(s); e.g. 'bad0', 'bad1', 'bad2', 'bad3', 'bad4'"
    )


# --- the features suite ------------------------------------------------------------------------


def features(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"user_id": ["u1", "u1", "u2"], "item_id": ["i1", "i2", "i1"], "value": [1.0, 2.5, 1.0]}
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


FEATURE_PARAMETERS = {"max_feature_value": SETTINGS.max_feature_value}


def test_the_features_suite_accepts_a_good_matrix():
    result = validate_table(features(), FEATURES_SUITE, "features", parameters=FEATURE_PARAMETERS)
    assert result.success, result.message()
    assert len(result.outcomes) == 6 and all(o.level == "batch" for o in result.outcomes)


@pytest.mark.parametrize(
    "overrides, expectation, column, example",
    [
        ({"value": [1.0, np.nan, 1.0]}, "expect_column_values_to_not_be_null", "value", "nan"),
        ({"value": [1.0, -3.0, 1.0]}, "expect_column_values_to_be_between", "value", "-3.0"),
        ({"value": [1.0, 0.0, 1.0]}, "expect_column_values_to_be_between", "value", "0.0"),
        ({"value": [1.0, 2e6, 1.0]}, "expect_column_values_to_be_between", "value", "2000000.0"),
        ({"user_id": ["u1", None, "u2"]}, "expect_column_values_to_not_be_null", "user_id", None),
        (
            {"item_id": ["i1", "i1", "i1"]},
            "expect_compound_columns_to_be_unique",
            None,
            "{'user_id': 'u1', 'item_id': 'i1'}",
        ),
    ],
    ids=["nan_value", "negative_value", "zero_value", "huge_value", "missing_user", "dup_pair"],
)
def test_the_features_suite_rejects(overrides, expectation, column, example):
    result = validate_table(
        features(**overrides), FEATURES_SUITE, "features", parameters=FEATURE_PARAMETERS
    )
    assert not result.success
    assert [(o.expectation, o.column) for o in result.failures] == [(expectation, column)]
    message = result.message()
    assert message.startswith("features rejected by suite 'features': " + expectation)
    if column:
        assert f"on column '{column}'" in message
    if example:
        assert example in message


def test_a_suite_parameter_that_is_not_passed_is_a_failure():
    with pytest.raises(DataError, match=r"suite 'features': .*max_feature_value"):
        validate_table(features(), FEATURES_SUITE, "features", parameters={})


def test_a_checked_frame_is_not_kept_after_the_check():
    # Great Expectations' current context would otherwise hold the checked table (its
    # reset-index copy) until the next check: a whole run of events on each Dask worker
    frame = pd.concat([events()] * 1237, ignore_index=True)  # a length nothing else has
    rows = len(frame)
    validate_table(frame, EVENTS_SUITE, "events", levels=("row",), parameters=EVENT_PARAMETERS)
    del frame
    gc.collect()
    alive = [o for o in gc.get_objects() if isinstance(o, pd.DataFrame) and len(o) == rows]
    assert alive == []
