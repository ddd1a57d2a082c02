"""Looking text ids up in an index, at the size of an events table.

``np.asarray(ids, dtype=str)`` of 50M ids is a fixed-width copy of every id (gigabytes)
before any hashing starts; a column is looked up through its distinct values instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def positions_in(index: pd.Index, ids: np.ndarray | list[str] | pd.Series) -> np.ndarray:
    """The position of each id in ``index`` (-1: absent or missing). A ``pd.Series`` (a
    column of an events frame) costs its integer codes (``pd.factorize``), not a text copy."""
    if isinstance(ids, pd.Series):
        codes, distinct = pd.factorize(ids)  # a missing id: code -1, and position -1
        found = index.get_indexer(pd.Index(np.asarray(distinct, dtype=str)))
        return np.append(found, -1)[codes]
    return index.get_indexer(pd.Index(np.asarray(ids, dtype=str)))
