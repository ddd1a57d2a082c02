"""The service's view of the deletion list: new entries are picked up by one listing, their
sessions dropped, and from then on the user is unknown to the served model (every version)."""

from __future__ import annotations

import numpy as np

from shoprec.models.itemknn import ItemKNN
from shoprec.privacy.erasures import ErasureList
from shoprec.serving.app import SessionStore
from shoprec.serving.catalogue import Catalogue
from shoprec.serving.engine import ServedModel
from shoprec.serving.forgotten import ForgottenUsers
from shoprec.storage import LocalStore
from tests.tiny import make_interactions, random_dense


def test_new_entries_are_seen_once_and_handed_on(tmp_path):
    erasures = ErasureList(LocalStore(tmp_path / "erasures"))
    handed: list[frozenset] = []
    forgotten = ForgottenUsers(erasures, on_forget=handed.append)
    assert forgotten.refresh() == frozenset() and len(forgotten) == 0  # no folder yet
    erasures.add("u1", "dpo", "asked")
    erasures.add("u2", "dpo", "asked")
    assert forgotten.refresh() == {"u1", "u2"}
    assert "u1" in forgotten and "u3" not in forgotten
    assert forgotten.refresh() == frozenset()  # nothing new: nothing handed on again
    erasures.add("u3", "dpo", "asked")
    assert forgotten.refresh() == {"u3"}
    assert handed == [frozenset({"u1", "u2"}), frozenset({"u3"})]


def test_an_unreadable_list_keeps_who_was_forgotten_and_is_read_again(tmp_path):
    store = LocalStore(tmp_path / "erasures")
    erasures = ErasureList(store)
    erasures.add("u1", "dpo", "asked")
    forgotten = ForgottenUsers(erasures)
    forgotten.refresh()
    broken = "erased/" + "0" * 64 + ".json"
    store.put(broken, b"{not json")
    assert forgotten.refresh() == frozenset()
    assert "u1" in forgotten and forgotten.last_error
    store.put(broken, b'{"user_id": "u2", "by": "x", "reason": "y", "requested_at": "z"}')
    assert forgotten.refresh() == {"u2"} and forgotten.last_error is None


def test_a_forgotten_user_is_unknown_to_the_served_model():
    history = make_interactions(random_dense(4, n_users=12, n_items=9, density=0.5))
    model = ItemKNN(neighbors=5).fit(history)
    served = ServedModel("itemknn", 1, model, Catalogue.load(history.item_ids, None))
    user = str(history.user_ids[2])
    before = served.recommend(user, 3)
    assert not before.fallback and served.knows_user(user)
    served.forgotten = {user}
    after = served.recommend(user, 3)
    assert after.fallback and not served.knows_user(user)
    assert all(i["source"] == "popularity_fallback" for i in after.items)
    popular = history.item_ids[np.lexsort((np.arange(9), -history.item_user_counts()))[:3]]
    assert [i["item_id"] for i in after.items] == popular.tolist()
    assert not served.recommend(str(history.user_ids[3]), 3).fallback  # others unchanged


def test_dropping_sessions_keeps_the_others():
    sessions = SessionStore(per_user=5)
    sessions.add("a", [(1, "view")])
    sessions.add("b", [(2, "view")])
    sessions.drop({"a", "not-there"})
    assert sessions.entries("a") == [] and sessions.items("b") == [2]
