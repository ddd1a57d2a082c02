"""What the service shows about items, and how it finds similar ones without interactions.

The model knows items by column index; the catalogue lines titles, prices and categories up
with those columns, and appends items that are in the shop's catalogue but not in the model
(new products), so ``/v1/similar`` can answer for them from content alone: TF-IDF over title
words, the category path and the brand, hashed into a fixed-width sparse space.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.io import memory_mapped_sparse

CONTENT_DIMENSIONS = 1 << 18
TOKEN = re.compile(r"[a-z0-9]{2,}")


def content_tokens(title: str, category: str, brand: str) -> list[str]:
    tokens = [f"w:{t}" for t in TOKEN.findall(title.lower())]
    parts = [p for p in category.lower().split("/") if p]
    tokens += [f"c:{'/'.join(parts[: i + 1])}" for i in range(len(parts))]
    if brand:
        tokens.append(f"b:{brand.lower()}")
    return tokens


def content_matrix(titles, categories, brands) -> sp.csr_matrix:
    """Rows: items, L2-normalised TF-IDF of hashed content tokens."""
    rows, cols = [], []
    for row, (title, category, brand) in enumerate(zip(titles, categories, brands, strict=True)):
        for token in set(content_tokens(title, category, brand)):
            rows.append(row)
            cols.append(zlib.crc32(token.encode()) % CONTENT_DIMENSIONS)
    n = len(titles)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, CONTENT_DIMENSIONS)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    df = np.asarray((matrix > 0).sum(axis=0)).ravel()
    idf = np.log((1 + n) / (1 + df)).astype(np.float32) + 1.0
    matrix = matrix @ sp.diags(idf)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix, dtype=np.float32)


@dataclass
class Catalogue:
    """Item metadata by row: rows ``< n_model_items`` are the model's columns, in order."""

    item_ids: np.ndarray
    titles: np.ndarray
    categories: np.ndarray
    brands: np.ndarray
    prices: np.ndarray  # float64, NaN when unknown
    n_model_items: int
    content: sp.csr_matrix
    _position: pd.Index

    @classmethod
    def build(cls, model_item_ids: np.ndarray, items: pd.DataFrame | None) -> Catalogue:
        model_ids = pd.Index(np.asarray(model_item_ids, dtype=str))
        frame = pd.DataFrame({"item_id": model_ids.to_numpy()})
        if items is not None and len(items):
            table = items.drop_duplicates("item_id").copy()
            table["item_id"] = table["item_id"].astype(str)
            extra = table[~table["item_id"].isin(model_ids)]
            frame = pd.concat([frame, extra[["item_id"]]], ignore_index=True)
            frame = frame.merge(table, on="item_id", how="left")
        for column in ("title", "category", "brand"):
            if column not in frame:
                frame[column] = ""
            frame[column] = frame[column].astype(object).where(frame[column].notna(), "")
        if "price" not in frame:
            frame["price"] = np.nan
        titles = frame["title"].astype(str).to_numpy()
        categories = frame["category"].astype(str).to_numpy()
        brands = frame["brand"].astype(str).to_numpy()
        ids = frame["item_id"].astype(str).to_numpy()
        return cls(
            item_ids=ids,
            titles=titles,
            categories=categories,
            brands=brands,
            prices=pd.to_numeric(frame["price"], errors="coerce").to_numpy(dtype=np.float64),
            n_model_items=len(model_ids),
            content=content_matrix(titles, categories, brands),
            _position=pd.Index(ids),
        )

    @classmethod
    def load(cls, model_item_ids: np.ndarray, items_path: str | Path | None) -> Catalogue:
        """From a Parquet items table (item_id, title, category, brand, price); without one the
        service still answers, with ids only."""
        items = None
        if items_path is not None and Path(items_path).is_file():
            items = pd.read_parquet(items_path)
        return cls.build(model_item_ids, items)

    # -- a prepared copy, shared by worker processes ---------------------------------------
    _ARRAYS = ("item_ids", "titles", "categories", "brands", "prices")

    def save(self, directory: str | Path) -> Path:
        """Fixed-width arrays and the content matrix, for :meth:`load_prepared`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in self._ARRAYS:
            values = getattr(self, name)
            values = values if name == "prices" else np.asarray(values, dtype=str)
            np.save(directory / f"{name}.npy", values, allow_pickle=False)
        sp.save_npz(directory / "content.npz", self.content, compressed=False)
        (directory / "catalogue.json").write_text(
            json.dumps({"n_model_items": self.n_model_items}) + "\n"
        )
        return directory

    @classmethod
    def load_prepared(cls, directory: str | Path) -> Catalogue | None:
        """A catalogue saved by :meth:`save`, memory-mapped (None when incomplete)."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / "catalogue.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None
        arrays = {
            name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            for name in cls._ARRAYS
        }
        return cls(
            **arrays,
            n_model_items=int(meta["n_model_items"]),
            content=memory_mapped_sparse(directory / "content.npz"),
            _position=pd.Index(np.asarray(arrays["item_ids"])),
        )

    @classmethod
    def prepared(
        cls, directory: str | Path, model_item_ids: np.ndarray, items_path: str | Path | None
    ) -> Catalogue:
        """The catalogue of ``items_path`` for this model, built once into ``directory`` (one
        folder per items file, size and time) and memory-mapped from there."""
        stamp = "none"
        if items_path is not None and Path(items_path).is_file():
            stat = Path(items_path).stat()
            key = f"{Path(items_path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
            stamp = f"{zlib.crc32(key.encode()):08x}"
        folder = Path(directory) / f"catalogue_{stamp}"
        found = cls.load_prepared(folder)
        if found is None:
            cls.load(model_item_ids, items_path).save(folder)
            found = cls.load_prepared(folder)
        return found

    def position(self, item_id: str) -> int:
        """Catalogue row of ``item_id``, -1 when the shop does not have it."""
        return int(self._position.get_indexer([item_id])[0])

    def in_category(self, category: str) -> np.ndarray:
        """Boolean mask over the model's items: the category or one below it."""
        cats = self.categories[: self.n_model_items]
        prefix = category.rstrip("/")
        return (cats == prefix) | np.char.startswith(cats.astype(str), prefix + "/")

    def describe(self, row: int) -> dict:
        price = self.prices[row]
        return {
            "item_id": str(self.item_ids[row]),
            "title": str(self.titles[row]) or None,
            "category": str(self.categories[row]) or None,
            "price": None if np.isnan(price) else float(price),
        }

    def similar_by_content(self, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` model items (rows < n_model_items) whose content is closest to ``row``'s."""
        scores = (self.content[: self.n_model_items] @ self.content[row].T).toarray().ravel()
        if row < self.n_model_items:
            scores[row] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        best = np.argpartition(-scores, k - 1)[:k] if k else np.array([], dtype=np.int64)
        best = best[np.lexsort((best, -scores[best]))]
        keep = scores[best] > 0
        return best[keep], scores[best][keep]
