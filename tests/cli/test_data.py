"""``shoprec data generate``: the synthetic shop, the same for the same seed."""

from __future__ import annotations

import pandas as pd

from tests.cli.helpers import invoke


def test_data_generate_writes_the_same_shop_for_the_same_seed(tmp_path):
    for out in ("a", "b"):
        result = invoke(
            *("data", "generate", "--out", str(tmp_path / out)),
            *("--users", "200", "--items", "100", "--days", "14", "--seed", "5"),
        )
        assert result.exit_code == 0, result.output
        assert "events" in result.stdout
    for name in ("events.parquet", "items.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "a" / name), pd.read_parquet(tmp_path / "b" / name)
        )
