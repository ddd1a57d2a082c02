"""The peer a user would pick instead: ``implicit``'s item-kNN ``recommend`` in a FastAPI shell.

The same interactions and the same neighbourhood size as shoprec's ItemKNN, ``implicit``'s
``CosineRecommender`` fitted at start-up, and per request its ``recommend`` (seen items
filtered) with titles and prices from arrays: what a team would build around the library users
know, so ``serving.py`` can compare shoprec's service with it on one machine, in one run.

    python benchmarks/implicit_service.py --model-dir DIR --items items.parquet --port 8002
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit warns and slows down otherwise

import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from implicit.nearest_neighbours import CosineRecommender

from shoprec.training.model_table import load_model


def build(model_dir: str, items_path: str, neighbors: int) -> FastAPI:
    history = load_model(model_dir).history  # the same interactions shoprec's model saw
    user_items = history.matrix.tocsr().astype(np.float32)
    model = CosineRecommender(K=neighbors)
    model.fit(user_items, show_progress=False)
    items = pd.read_parquet(items_path).set_index("item_id").reindex(history.item_ids)
    titles = items["title"].fillna("").astype(str).to_numpy()
    prices = items["price"].astype(float).to_numpy()
    popular = np.argsort(-history.item_user_counts(), kind="stable")
    app = FastAPI()

    @app.get("/v1/recommendations/{user_id}")
    async def recommendations(user_id: str, k: int = 10):
        row = int(history.user_positions([user_id])[0])
        if row < 0:
            ids, scores, fallback = popular[:k], np.zeros(k), True
        else:
            ids, scores = model.recommend(
                row, user_items[row], N=k, filter_already_liked_items=True
            )
            fallback = False
        out = [
            {
                "rank": rank,
                "item_id": str(history.item_ids[i]),
                "title": titles[i],
                "price": float(prices[i]),
                "score": float(s),
            }
            for rank, (i, s) in enumerate(zip(ids, scores, strict=True), start=1)
        ]
        return JSONResponse({"user_id": user_id, "fallback": fallback, "items": out})

    @app.get("/readyz")
    async def readyz():
        return {"status": "ready"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--items", required=True)
    parser.add_argument("--neighbors", type=int, default=50)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = build(args.model_dir, args.items, args.neighbors)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
