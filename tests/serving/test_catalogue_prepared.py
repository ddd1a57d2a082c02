"""A prepared catalogue (built once per version and items file, memory-mapped by every worker)
answers exactly like one built in memory."""

from __future__ import annotations

import numpy as np

from shoprec.serving.catalogue import Catalogue


def test_prepared_catalogue_equals_the_built_one(tiny_shop, tmp_path):
    items = tiny_shop["items"].astype({"price": float})
    path = tmp_path / "items.parquet"
    items.to_parquet(path)
    model_ids = items["item_id"].astype(str).to_numpy()[:-5]  # 5 items the model never saw
    built = Catalogue.load(model_ids, path)
    prepared = Catalogue.prepared(tmp_path / "version", model_ids, path)
    again = Catalogue.prepared(tmp_path / "version", model_ids, path)
    assert len(list((tmp_path / "version").glob("catalogue_*"))) == 1  # built once
    assert isinstance(again.titles, np.memmap)
    assert prepared.n_model_items == built.n_model_items
    for row in range(len(built.item_ids)):
        assert prepared.describe(row) == built.describe(row)
    new = len(built.item_ids) - 1
    np.testing.assert_array_equal(
        prepared.similar_by_content(new, 5)[0], built.similar_by_content(new, 5)[0]
    )
    category = str(items["category"].iloc[0]).split("/")[0]
    np.testing.assert_array_equal(prepared.in_category(category), built.in_category(category))
    assert prepared.position(str(model_ids[3])) == 3 and prepared.position("nope") == -1


def test_another_items_file_gets_its_own_copy(tiny_shop, tmp_path):
    items = tiny_shop["items"].astype({"price": float})
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    items.to_parquet(first)
    items.assign(title="renamed").to_parquet(second)
    ids = items["item_id"].astype(str).to_numpy()
    Catalogue.prepared(tmp_path / "v", ids, first)
    renamed = Catalogue.prepared(tmp_path / "v", ids, second)
    assert renamed.describe(0)["title"] == "renamed"
    assert len(list((tmp_path / "v").glob("catalogue_*"))) == 2
