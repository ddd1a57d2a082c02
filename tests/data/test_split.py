"""Time-based splits: boundaries, no future in train, counts that add up, readable errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoprec.data.split import Cuts, leave_last_out_split, temporal_split
from shoprec.errors import ConfigError

TARGETS = ["addtocart", "purchase"]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def make_events(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601").astype(
        "datetime64[us, UTC]"
    )
    return frame


def random_events(seed: int, n: int = 400, days: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = ts("2024-03-01")
    seconds = rng.integers(0, days * 86400, size=n)
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, 15, size=n)],
            "item_id": [f"i{i}" for i in rng.integers(0, 20, size=n)],
            "event_type": rng.choice(["view", "addtocart", "purchase"], size=n, p=[0.6, 0.2, 0.2]),
            "timestamp": start + pd.to_timedelta(seconds, unit="s"),
        }
    )
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us, UTC]")
    return frame


def key(frame: pd.DataFrame) -> list[tuple]:
    return sorted(map(tuple, frame[["user_id", "item_id", "event_type", "timestamp"]].to_numpy()))


# -- temporal ----------------------------------------------------------------------------------
def test_temporal_boundaries_fall_on_day_starts():
    events = make_events(
        [
            ("a", "x", "view", "2024-01-01 08:00"),
            ("a", "y", "view", "2024-01-13 23:59:59"),  # last second of train
            ("b", "x", "purchase", "2024-01-14 00:00"),  # exactly T1: validation
            ("b", "z", "view", "2024-01-17 23:59:59"),  # last second of validation
            ("c", "y", "purchase", "2024-01-18 00:00"),  # exactly T2: test
            ("a", "z", "addtocart", "2024-01-20 15:30"),  # end of data
        ]
    )
    split = temporal_split(events, test_days=3, validation_days=4)
    # end-of-data day is 2024-01-20, so T2 = 2024-01-21 - 3 days, T1 = T2 - 4 days
    assert split.info["test_start"] == ts("2024-01-18").isoformat()
    assert split.info["validation_start"] == ts("2024-01-14").isoformat()
    assert split.info["data_start"] == ts("2024-01-01 08:00").isoformat()
    assert split.info["data_end"] == ts("2024-01-20 15:30").isoformat()
    assert split.info["strategy"] == "temporal"
    assert split.train["item_id"].tolist() == ["x", "y"]
    assert split.validation["user_id"].tolist() == ["b", "b"]
    assert split.test["user_id"].tolist() == ["c", "a"]
    assert split.info["events"] == {"train": 2, "validation": 2, "test": 2}
    assert split.info["users"] == {"train": 1, "validation": 1, "test": 2}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_temporal_parts_are_ordered_and_complete(seed):
    events = random_events(seed)
    split = temporal_split(events, test_days=7, validation_days=5)
    t1 = pd.Timestamp(split.info["validation_start"])
    t2 = pd.Timestamp(split.info["test_start"])
    assert t2 - t1 == pd.Timedelta(days=5)
    assert t2 == events["timestamp"].max().floor("D") + pd.Timedelta(days=1 - 7)
    assert (split.train["timestamp"] < t1).all()
    assert (split.validation["timestamp"] >= t1).all()
    assert (split.validation["timestamp"] < t2).all()
    assert (split.test["timestamp"] >= t2).all()
    assert split.train["timestamp"].max() < split.validation["timestamp"].min()
    assert split.validation["timestamp"].max() < split.test["timestamp"].min()
    sizes = [len(split.train), len(split.validation), len(split.test)]
    assert min(sizes) > 0
    assert sum(sizes) == len(events)
    assert split.info["events"] == dict(zip(["train", "validation", "test"], sizes, strict=True))
    # nothing lost, nothing duplicated
    together = pd.concat([split.train, split.validation, split.test], ignore_index=True)
    assert key(together) == key(events)
    assert list(split.train.columns) == list(events.columns)


def test_temporal_too_short_data_is_a_readable_config_error():
    events = make_events(
        [("a", "x", "view", "2024-01-01 10:00"), ("b", "y", "view", "2024-01-05 10:00")]
    )
    with pytest.raises(ConfigError) as caught:
        temporal_split(events, test_days=3, validation_days=2)
    message = str(caught.value)
    assert "\n" not in message
    assert "split.test_days" in message and "split.validation_days" in message
    assert "5 day(s)" in message
    # one day shorter periods leave a training period and work
    split = temporal_split(events, test_days=2, validation_days=2)
    assert len(split.train) == 1


def test_split_of_no_events_is_a_config_error():
    empty = make_events([])
    with pytest.raises(ConfigError, match="no events"):
        temporal_split(empty, 1, 1)
    with pytest.raises(ConfigError, match="no events"):
        leave_last_out_split(empty, TARGETS)


# -- leave last out ----------------------------------------------------------------------------
def hand_made_log() -> pd.DataFrame:
    return make_events(
        [
            # user a: four target events -> held out
            ("a", "p1", "purchase", "2024-01-01"),
            ("a", "v1", "view", "2024-01-02"),
            ("a", "p2", "addtocart", "2024-01-03"),
            ("a", "p3", "purchase", "2024-01-05"),  # second-to-last target: validation
            ("a", "v2", "view", "2024-01-06"),
            ("a", "p4", "purchase", "2024-01-07"),  # last target: test
            ("a", "v3", "view", "2024-01-08"),  # after the last target: test
            # user b: two target events (< 3) -> wholly train, even late ones
            ("b", "p1", "purchase", "2024-01-02"),
            ("b", "p2", "purchase", "2024-01-09"),
            ("b", "v1", "view", "2024-01-10"),
            # user c: views only
            ("c", "v1", "view", "2024-01-04"),
            # user d: exactly three target events -> held out; unsorted input
            ("d", "p3", "purchase", "2024-01-09"),
            ("d", "p1", "purchase", "2024-01-01"),
            ("d", "p2", "addtocart", "2024-01-04"),
        ]
    )


def test_leave_last_out_on_a_hand_made_log():
    split = leave_last_out_split(hand_made_log(), TARGETS, min_holdout_events=3)

    def items(frame, user):
        return frame.loc[frame["user_id"] == user, "item_id"].tolist()

    assert items(split.train, "a") == ["p1", "v1", "p2"]
    assert items(split.validation, "a") == ["p3", "v2"]
    assert items(split.test, "a") == ["p4", "v3"]
    assert items(split.train, "b") == ["p1", "p2", "v1"]
    assert items(split.validation, "b") == [] and items(split.test, "b") == []
    assert items(split.train, "c") == ["v1"]
    assert items(split.train, "d") == ["p1"]
    assert items(split.validation, "d") == ["p2"]
    assert items(split.test, "d") == ["p3"]
    assert split.info["held_out_users"] == 2
    assert split.info["strategy"] == "leave_last_out"
    assert split.info["min_holdout_events"] == 3
    assert split.info["events"] == {"train": 8, "validation": 3, "test": 3}
    assert split.info["users"] == {"train": 4, "validation": 2, "test": 2}


def test_leave_last_out_only_counts_target_event_types():
    # with purchases only, user a has 3 targets (p1, p3, p4) and user d two (p1, p3)
    split = leave_last_out_split(hand_made_log(), ["purchase"], min_holdout_events=3)
    assert split.info["held_out_users"] == 1
    assert split.test["item_id"].tolist() == ["p4", "v3"]
    assert split.validation["item_id"].tolist() == ["p3", "v2"]
    assert set(split.train["user_id"]) == {"a", "b", "c", "d"}
    assert (split.train["user_id"] == "d").sum() == 3


def test_leave_last_out_with_nobody_eligible_keeps_everything_in_train():
    events = hand_made_log()
    split = leave_last_out_split(events, TARGETS, min_holdout_events=10)
    assert len(split.train) == len(events)
    assert split.validation.empty and split.test.empty
    assert split.info["held_out_users"] == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leave_last_out_invariants_on_random_logs(seed):
    events = random_events(seed, n=300)
    min_events = 3
    split = leave_last_out_split(events, TARGETS, min_holdout_events=min_events)
    assert len(split.train) + len(split.validation) + len(split.test) == len(events)
    together = pd.concat([split.train, split.validation, split.test], ignore_index=True)
    assert key(together) == key(events)
    held_out = 0
    for user, own in events.groupby("user_id"):
        train = split.train[split.train["user_id"] == user]
        validation = split.validation[split.validation["user_id"] == user]
        test = split.test[split.test["user_id"] == user]
        targets = own[own["event_type"].isin(TARGETS)].sort_values("timestamp")
        if len(targets) < min_events:
            assert len(train) == len(own) and validation.empty and test.empty, user
            continue
        held_out += 1
        last, second = targets["timestamp"].iloc[-1], targets["timestamp"].iloc[-2]
        assert test["timestamp"].min() == last
        assert (test["timestamp"] >= last).all()
        # every event at or after the last target, of any type, is test
        assert len(test) == int((own["timestamp"] >= last).sum())
        if second < last:
            assert validation["timestamp"].min() == second
        assert (validation["timestamp"] < last).all()
        later = pd.concat([validation, test])["timestamp"]
        assert (train["timestamp"] < later.min()).all(), user
        if targets["timestamp"].iloc[-3] < second:  # the earlier targets stay for training
            assert len(train) > 0, user
    assert split.info["held_out_users"] == held_out > 0


# -- cut times ---------------------------------------------------------------------------------
def test_temporal_cuts_are_one_pair_for_every_user():
    events = random_events(0)
    split = temporal_split(events, test_days=7, validation_days=5)
    cuts = split.cuts
    t1, t2 = pd.Timestamp(split.info["validation_start"]), pd.Timestamp(split.info["test_start"])
    assert cuts.is_global
    assert cuts.validation_start == t1 and cuts.test_start == t2
    assert cuts.latest_validation == t1 and cuts.latest_test == t2
    users = ["u1", "u7", "nobody"]
    assert list(cuts.validation_at(users)) == [t1] * 3
    assert list(cuts.test_at(users)) == [t2] * 3
    # the masks reproduce the parts
    assert cuts.before_validation(events).sum() == len(split.train)
    assert cuts.in_validation(events).sum() == len(split.validation)
    assert (~cuts.before_test(events)).sum() == len(split.test)
    # what the split stage writes (every user) reads back as the same global cuts
    again = Cuts.from_frame(cuts.to_frame(events["user_id"]))
    assert again.is_global and again.validation_start == t1 and again.test_start == t2


def test_leave_last_out_cuts_are_each_held_out_users_target_times():
    events = hand_made_log()
    cuts = leave_last_out_split(events, TARGETS, min_holdout_events=3).cuts
    now = ts("2024-01-10") + pd.Timedelta(seconds=1)  # the data ends 2024-01-10
    assert not cuts.is_global
    users = ["a", "b", "c", "d", "never-seen"]
    assert list(cuts.validation_at(users)) == [
        ts("2024-01-05"),  # a's second-to-last target
        now,  # b and c are not held out: all their events are train
        now,
        ts("2024-01-04"),
        now,
    ]
    assert list(cuts.test_at(users)) == [ts("2024-01-07"), now, now, ts("2024-01-09"), now]
    assert cuts.latest_validation == cuts.latest_test == now
    with pytest.raises(ValueError, match="per user"):
        _ = cuts.validation_start
    frame = cuts.to_frame(events["user_id"])
    assert frame["user_id"].tolist() == ["a", "b", "c", "d"]
    again = Cuts.from_frame(frame)
    for user_ids in (users, events["user_id"]):
        assert list(again.validation_at(user_ids)) == list(cuts.validation_at(user_ids))
        assert list(again.test_at(user_ids)) == list(cuts.test_at(user_ids))


@pytest.mark.parametrize("seed", [0, 1])
def test_leave_last_out_cut_masks_reproduce_the_parts(seed):
    events = random_events(seed, n=300)
    split = leave_last_out_split(events, TARGETS, min_holdout_events=3)
    cuts = split.cuts
    assert key(events[cuts.before_validation(events)]) == key(split.train)
    assert key(events[cuts.in_validation(events)]) == key(split.validation)
    assert key(events[~cuts.before_test(events)]) == key(split.test)


def test_a_user_held_out_with_one_target_has_an_empty_validation_window():
    events = make_events(
        [
            ("e", "v1", "view", "2024-01-01"),
            ("e", "p1", "purchase", "2024-01-02"),  # the one target: test from here
            ("e", "v2", "view", "2024-01-03"),
            ("f", "v1", "view", "2024-01-04"),  # no target: wholly train
        ]
    )
    split = leave_last_out_split(events, ["purchase"], min_holdout_events=1)
    cuts = split.cuts
    assert split.train["item_id"].tolist() == ["v1", "v1"] and split.validation.empty
    assert list(cuts.validation_at(["e"])) == list(cuts.test_at(["e"])) == [ts("2024-01-02")]
    for mask, part in (
        (cuts.before_validation(events), split.train),
        (cuts.in_validation(events), split.validation),
        (~cuts.before_test(events), split.test),
    ):
        assert key(events[mask]) == key(part)
