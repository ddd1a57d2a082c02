"""The precomputed two-stage lists answer exactly what ``recommend_with_reasons`` answers."""

from __future__ import annotations

import numpy as np
import pytest

from shoprec.ranking.precomputed import PrecomputedLists
from shoprec.ranking.reasons import ReasonKinds


@pytest.fixture(scope="module")
def model(two_stage_fit):
    return two_stage_fit[0]


@pytest.fixture(scope="module")
def lists(model, tmp_path_factory):
    built = PrecomputedLists.build(model, n_items=30, n_explained=12, batch_size=64)
    return built, PrecomputedLists.load(built.save(tmp_path_factory.mktemp("lists")))


def test_every_user_gets_the_live_answer(model, lists):
    _, loaded = lists
    kinds = ReasonKinds.of(model.names)
    users = model.history.user_ids
    live = model.recommend_with_reasons(users, k=12)
    for row, user in enumerate(users):
        expected = live[live["user_id"] == user]
        got = loaded.entries(row, 12, model, kinds)
        assert [model.history.item_ids[e[0]] for e in got] == list(expected["item_id"])
        np.testing.assert_allclose([e[1] for e in got], expected["score"], rtol=1e-6)
        assert [e[2] for e in got] == list(expected["source"])
        assert [e[3] for e in got] == list(expected["reasons"])


def test_lists_are_memory_mapped_and_equal_to_the_built_ones(lists):
    built, loaded = lists
    for name in ("items", "scores", "candidate", "totals", "seeds", "values"):
        assert isinstance(getattr(loaded, name), np.memmap), name
        np.testing.assert_array_equal(getattr(loaded, name), getattr(built, name))


def test_a_list_past_the_explained_part_is_left_to_the_live_path(model, lists):
    _, loaded = lists
    assert loaded.entries(0, 13, model, ReasonKinds.of(model.names)) is None


def test_an_incomplete_folder_is_not_loaded(tmp_path, lists):
    built, _ = lists
    folder = built.save(tmp_path / "lists")
    (folder / "precomputed.json").unlink()
    assert PrecomputedLists.load(folder) is None
