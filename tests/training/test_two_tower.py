"""Training the two-tower model the way the pipeline trains it (``fit_two_tower``) on a small
synthetic shop: vectors for every user and item, a loss that goes down, and a saved model that
ranks identically and beats popularity on the same split. The fit is the session's
``two_tower_fit`` (tests/conftest.py), shared with the model contract. On a leave_last_out
split, a stand-in tower (no TensorFlow) shows which user states the recipe builds: none sees
an event at or after that user's own validation cut."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoprec.config import TwoTowerParams
from shoprec.evaluation.evaluate import evaluate_model
from shoprec.training.model_table import create_model, load_model
from tests.tiny import leave_last_out_shop, make_leave_last_out_shop, training_inputs

pytestmark = [
    # Keras' own saving code trips NumPy 2's copy-keyword deprecation; not ours to fix.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]


@pytest.mark.slow  # TensorFlow
def test_every_history_user_and_catalogue_item_gets_a_finite_unit_vector(
    two_tower_shop, two_tower_fit
):
    holdout = two_tower_shop["holdout"]
    model, report, _ = two_tower_fit
    assert model.user_embeddings.shape == (holdout.history.shape[0], 16)
    assert model.item_embeddings.shape == (holdout.history.shape[1], 16)
    assert np.isfinite(model.user_embeddings).all() and np.isfinite(model.item_embeddings).all()
    np.testing.assert_allclose(np.linalg.norm(model.item_embeddings, axis=1), 1.0, rtol=1e-3)
    # items never interacted with before the test period still have (content) vectors
    never_seen = holdout.history.item_user_counts() == 0
    assert never_seen.any()
    assert (np.abs(model.item_embeddings[never_seen]).sum(axis=1) > 0).all()
    assert report["first_fit"]["loss"][-1] < report["first_fit"]["loss"][0]
    assert len(report["first_fit"]["val"]) >= 1


@pytest.mark.slow  # TensorFlow
def test_the_saved_model_ranks_identically_and_beats_popularity(
    two_tower_shop, two_tower_fit, tmp_path
):
    holdout = two_tower_shop["holdout"]
    model, _, _ = two_tower_fit
    rows = holdout.targets.user_rows
    model.save(tmp_path / "two_tower")
    loaded = load_model(tmp_path / "two_tower")
    before, _ = model.recommend_indices(rows, 20)
    after, _ = loaded.recommend_indices(rows, 20)
    np.testing.assert_array_equal(before, after)
    assert (tmp_path / "two_tower/tower/user_tower.keras").is_file()
    # popularity, scored on the same split with the same protocol
    ours = evaluate_model(loaded, holdout.targets, [10, 20], bootstrap_samples=50).values
    popular = create_model("most_popular").fit(holdout.history)
    theirs = evaluate_model(popular, holdout.targets, [10, 20], bootstrap_samples=50).values
    for metric in ("recall@20", "ndcg@10"):
        assert ours[metric] > theirs[metric], (metric, ours[metric], theirs[metric])


# -- leave_last_out, with a stand-in tower ------------------------------------------------------
class RecordingTower:
    """Stands in for the Keras towers: records the examples and user states it is given."""

    def __init__(self, calls: list) -> None:
        self.calls = calls

    def fit(self, items, users, positives, weights, trained, validate=None) -> dict:
        self.calls.append(("fit", users))
        if validate is not None:
            validate(self)
        return {"loss": [1.0], "best_epoch": 0}

    def user_embeddings(self, states) -> np.ndarray:
        self.calls.append(("states", states))
        return np.ones((len(states), 4), dtype=np.float32)

    def item_embeddings(self, items) -> np.ndarray:
        return np.ones((len(items), 4), dtype=np.float32)


def recorded_fit(shop: dict, monkeypatch, **replaced) -> list:
    """What ``fit_two_tower`` hands the tower: [first-fit examples, validation users' states,
    every user at the validation start, refit examples, every user at the test start]."""
    from shoprec.training import two_tower

    calls: list = []
    monkeypatch.setattr(two_tower, "_tower", lambda *args, **kwargs: RecordingTower(calls))
    params = TwoTowerParams(embedding_dim=4, history_length=5)
    two_tower.fit_two_tower(training_inputs(shop, **replaced), params)
    assert [kind for kind, _ in calls] == ["fit", "states", "states", "fit", "states"]
    return [inputs for _, inputs in calls]


def same_inputs(a, b) -> bool:
    return all(
        np.array_equal(getattr(a, key), getattr(b, key))
        for key in ("user_ids", "history", "behaviour")
    )


def state_of(inputs, user: str) -> tuple[list, list]:
    (row,) = np.flatnonzero(inputs.user_ids == user)
    return inputs.history[row].tolist(), inputs.behaviour[row].tolist()


def moved(shop: dict, user: str, before: bool) -> pd.DataFrame:
    """``user``'s events at or after their validation cut (or their last one before it) on
    another item; the cut times stay where they were."""
    events = shop["events"].copy()
    cut = shop["holdout"].cuts.validation_at([user])[0]
    mine = (events["user_id"] == user).to_numpy()
    late = (events["timestamp"] >= cut).to_numpy()
    chosen = np.flatnonzero(mine & ~late)[[-1]] if before else np.flatnonzero(mine & late)
    events.iloc[chosen, events.columns.get_loc("item_id")] = shop["items"]["item_id"].iloc[-1]
    return events


def test_leave_last_out_user_states_see_nothing_at_or_after_each_users_validation_cut(
    monkeypatch,
):
    shop = make_leave_last_out_shop()
    h = shop["holdout"]
    first = recorded_fit(shop, monkeypatch)
    assert len(first[1]) > 0  # validation users were scored at their own cut
    user = str(h.cuts.users.index[0])

    later = leave_last_out_shop(moved(shop, user, before=False), shop["items"])
    assert later["holdout"].cuts.users.equals(h.cuts.users)
    again = recorded_fit(later, monkeypatch)
    # the first fit's examples, its early-stopping states and every user at the validation
    # start (where the ranker learns) are unchanged; at the test start the moved events count
    for step in (0, 1, 2):
        assert same_inputs(again[step], first[step]), step
    assert state_of(again[4], user) != state_of(first[4], user)

    earlier = leave_last_out_shop(moved(shop, user, before=True), shop["items"])
    assert earlier["holdout"].cuts.users.equals(h.cuts.users)
    changed = recorded_fit(earlier, monkeypatch)
    assert state_of(changed[2], user) != state_of(first[2], user)

    # handed every event, the recipe still cuts each user's history at that user's cuts
    everything = pd.concat([h.split.train, h.split.validation, h.split.test], ignore_index=True)
    leaky = recorded_fit(shop, monkeypatch, train=everything, validation=everything)
    for step in range(5):
        assert same_inputs(leaky[step], first[step]), step
