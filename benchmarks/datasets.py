"""The datasets benchmarks run on, loaded and validated exactly as the pipeline does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shoprec.config import OnlineRetailSource, Params
from shoprec.data.sources import load_source
from shoprec.validation.batch import validate_batch

ROOT = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = ROOT.parent / "shared/datasets/online_retail/online_retail.csv.gz"
DATASETS = ("online_retail", "synthetic")


def load_validated(
    dataset: str, params: Params, path: Path = ONLINE_RETAIL
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Events and items of ``dataset`` after validation (quarantined rows removed), and counts."""
    source = (
        OnlineRetailSource(source="online_retail", path=path)
        if dataset == "online_retail"
        else params.data
    )
    data = load_source(source)
    settings = params.validation.relative_to(ROOT)
    checked = validate_batch(data.events, data.items, settings, problems=data.problems)
    if not checked.accepted:
        raise SystemExit(f"the data was rejected by validation: {checked.message}")
    return checked.events, checked.items, checked.counts()
