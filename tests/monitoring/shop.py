"""A monitored shop for the monitoring tests: the batch shop's ItemKNN registered with its
reference profiles and promoted, a catalogue with prices and categories, the latest events
(clean, or with the event mix flipped) and the impressions the service would have logged."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from shoprec.evaluation.profiles import data_profile, served_profile
from shoprec.impressions import ImpressionWriter, impression, open_log
from shoprec.registry import LocalStore, Registry
from shoprec.release.propose import check_servability
from tests.batches import LATEST, synthetic_events
from tests.projects import REPO_ROOT

N_ITEMS = 150
# monitoring runs 60 days after the batch shop's newest event: its last week holds the latest
# events of a second draw of the same shop, shifted by 60 days
SHIFT = pd.Timedelta(days=60)
NOW = LATEST + SHIFT
CLEAN_MIX = (0.8, 0.1, 0.1)  # view, addtocart, purchase: the training data's
FLIPPED_MIX = (0.1, 0.1, 0.8)


def catalogue() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [f"i{i:04d}" for i in range(N_ITEMS)],
            "category": [f"c{i % 5}/sub{i % 3}" for i in range(N_ITEMS)],
            "price": np.round(np.linspace(2.0, 90.0, N_ITEMS), 2),
        }
    )


def latest_events(mix=CLEAN_MIX, seed: int = 1, users: int = 2000) -> pd.DataFrame:
    """The same shop 60 days on (another seed); ``mix``: the shares of the event types."""
    events = synthetic_events(users, N_ITEMS, seed=seed)
    events["timestamp"] = events["timestamp"] + SHIFT
    rng = np.random.default_rng(seed + 100)
    events["event_type"] = rng.choice(["view", "addtocart", "purchase"], len(events), p=mix)
    return events


def register_production(folder: Path, batch_shop: dict, profiles: bool = True) -> Registry:
    """``itemknn`` v1 in a folder registry, with its profiles (or without: an old version),
    checked for servability, approved and promoted."""
    registry = Registry(LocalStore(folder))
    events = pd.read_parquet(batch_shop["events"])
    model = batch_shop["model"]
    metadata = {}
    if profiles:
        data = data_profile(events, catalogue())
        rows = np.arange(model.history.shape[0])
        metadata = {"data_profile": data, "served_profile": served_profile(model, rows, 10, data)}
    version = registry.register("itemknn", batch_shop["dir"], "ci", metadata)
    assert check_servability(registry, "itemknn", version, batch_shop["dir"])["passed"]
    registry.decide("itemknn", version, "approved", "ci", "test")
    registry.promote("itemknn", version, "ci")
    return registry


def served_impressions(model, users: list[str], start, hours: float = 1.0) -> list[dict]:
    """The model's top 10 for each of ``users``, one every ``hours / len(users)`` from
    ``start`` (what the service would log for them)."""
    lists = model.recommend(users, 10)
    step = timedelta(hours=hours) / max(len(users), 1)
    return [
        impression(
            f"r{n:05d}",
            user,
            "itemknn",
            1,
            False,
            lists.loc[lists["user_id"] == user, "item_id"].tolist(),
            served_at=(start + n * step).to_pydatetime(),
        )
        for n, user in enumerate(users)
    ]


def write_impressions(project: Path, rows: list[dict]) -> None:
    writer = ImpressionWriter(open_log("impressions", project))
    for row in rows:
        writer.record(row)
    writer.close()


def write_project(project: Path, registry: Path, events: pd.DataFrame, **monitoring) -> Path:
    """params.yaml (the repository's, with the registry, the impressions log and
    ``monitoring`` overrides), the latest events and the catalogue."""
    project.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["registry"] = {"uri": str(registry)}
    params["serving"]["impressions"] = "impressions"
    params["monitoring"] = {
        **params["monitoring"],
        "model": "itemknn",
        "events": "latest.parquet",
        "items": "items.parquet",
        "min_impressions": 50,
        **monitoring,
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    events.to_parquet(project / "latest.parquet", index=False)
    catalogue().to_parquet(project / "items.parquet", index=False)
    return project / "params.yaml"
