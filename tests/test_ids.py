"""Id lookups: a column (through its distinct values) finds what its text copy finds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoprec.ids import positions_in


def test_a_column_finds_the_same_positions_as_its_text():
    index = pd.Index(np.array(["u1", "u2", "u3"]))
    column = pd.Series(["u3", "ghost", "u1", "u3", None, "u2"], dtype="string")
    found = positions_in(index, column)
    assert found.tolist() == [2, -1, 0, 2, -1, 1]  # a missing id is found nowhere
    assert found.tolist() == positions_in(index, ["u3", "ghost", "u1", "u3", "", "u2"]).tolist()
    assert positions_in(index, pd.Series([], dtype="string")).tolist() == []
    assert positions_in(index, pd.Series(["u2"], dtype=object)).tolist() == [1]
