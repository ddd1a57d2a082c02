"""Helpers for the batch-scoring tests: a synthetic event log whose users' last events have known
ages, an ItemKNN fit on it, and checks of a scored table."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from shoprec.features.interactions import build_interactions
from shoprec.training.model_table import create_model
from tests.projects import REPO_ROOT

EVENT_TYPES = ["view", "addtocart", "purchase"]
WEIGHTS = {"view": 1.0, "addtocart": 3.0, "purchase": 5.0}
LATEST = pd.Timestamp("2026-03-01 12:00", tz="UTC")


def synthetic_events(n_users: int, n_items: int, per_user: int = 8, seed: int = 0):
    """Events with a popularity skew; user u's last event is ``u % 40`` days before LATEST."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, size=(n_users, per_user), p=popularity / popularity.sum())
    users = np.repeat(np.arange(n_users), per_user)
    age_days = np.repeat(np.arange(n_users) % 40, per_user) + rng.uniform(0, 20, users.size)
    age_days[::per_user] = np.arange(n_users) % 40  # each user's newest event, exactly
    return pd.DataFrame(
        {
            "user_id": [f"u{u:05d}" for u in users],
            "item_id": [f"i{i:04d}" for i in items.ravel()],
            "event_type": rng.choice(
                ["view", "addtocart", "purchase"], users.size, p=[0.8, 0.1, 0.1]
            ),
            "timestamp": LATEST - pd.to_timedelta(age_days, unit="D"),
        }
    )


def fit_itemknn(events: pd.DataFrame, n_items: int):
    catalogue = np.array([f"i{i:04d}" for i in range(n_items)])
    history = build_interactions(events, catalogue, WEIGHTS)
    return create_model("itemknn", neighbors=20).fit(history)


def read_parts(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def assert_top_k_of(table: pd.DataFrame, model, users: np.ndarray, k: int) -> None:
    """Each user once, ranks 1..n, exactly the items and scores of ``model.recommend``."""
    assert sorted(table["user_id"].unique()) == sorted(users)
    expected = model.recommend(list(users), k)
    got = table.sort_values(["user_id", "rank"]).reset_index(drop=True)
    expected = expected.sort_values(["user_id", "rank"]).reset_index(drop=True)
    assert got["user_id"].tolist() == expected["user_id"].tolist()
    assert got["rank"].tolist() == expected["rank"].tolist()
    assert got["item_id"].tolist() == expected["item_id"].tolist()
    np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-6)
    ranks = got.groupby("user_id")["rank"].agg(["min", "max", "count"])
    assert (ranks["min"] == 1).all() and (ranks["max"] == ranks["count"]).all()


# -- the command line --------------------------------------------------------------------------
def write_project(folder: Path, batch: dict, registry: str = "registry") -> Path:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["registry"] = {"uri": registry}
    params["batch_scoring"] = {**params["batch_scoring"], **batch}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return folder / "params.yaml"


SCORE = [sys.executable, "-m", "shoprec", "batch", "score"]
