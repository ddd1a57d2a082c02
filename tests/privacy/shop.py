"""A tiny shop as canonical CSV files whose user ids cannot occur by chance, for privacy tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

USERS = [f"customer-{n:06d}" for n in range(101, 113)]
BAD_TIMESTAMP_USER = USERS[2]  # one of their rows does not convert (kept as read in quarantine)
KEY = "0123456789abcdef" * 4  # a test key, not a secret


def write_shop(folder: Path) -> dict[str, Path]:
    """events.csv (3 events per user, one with a bad timestamp) and items.csv in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for u, user in enumerate(USERS):
        for j in range(3):
            rows.append(
                {
                    "user_id": user,
                    "item_id": f"item-{(u + j) % 6}",
                    "event_type": ("view", "addtocart", "purchase")[j],
                    "timestamp": f"2024-03-{1 + j:02d}T10:{u:02d}:00Z",
                }
            )
    rows[3 * 2]["timestamp"] = "not a time"  # BAD_TIMESTAMP_USER's first event
    events = folder / "events.csv"
    pd.DataFrame(rows).to_csv(events, index=False)
    items = folder / "items.csv"
    pd.DataFrame(
        {
            "item_id": [f"item-{i}" for i in range(6)],
            "title": [f"Item {i}" for i in range(6)],
            "category": "toys",
            "brand": "acme",
            "price": [1.0 + i for i in range(6)],
        }
    ).to_csv(items, index=False)
    return {"events": events, "items": items}


def write_params(project: Path, files: dict[str, Path], **privacy) -> Path:
    """A params.yaml reading ``files``, with ``privacy`` settings (registry in the project)."""
    params = {
        "data": {"source": "files", "events": str(files["events"]), "items": str(files["items"])},
        "privacy": {"pseudonymise_users": True, **privacy},
    }
    path = project / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path
