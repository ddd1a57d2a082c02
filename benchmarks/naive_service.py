"""The hand-built service that ``serving.py`` compares shoprec's against.

What a first version typically looks like: FastAPI, the model loaded once, and per request a
dense score over the catalogue, a pandas Series sorted in full, seen items dropped by label,
and titles and prices looked up row by row in the items DataFrame.

    python benchmarks/naive_service.py --model-dir DIR --items items.parquet --port 8001
"""

from __future__ import annotations

import argparse

import pandas as pd
import uvicorn
from fastapi import FastAPI

from shoprec.training.model_table import load_model


def build(model_dir: str, items_path: str) -> FastAPI:
    model = load_model(model_dir)
    history = model.history
    items = pd.read_parquet(items_path).set_index("item_id")
    app = FastAPI()

    @app.get("/v1/recommendations/{user_id}")
    def recommendations(user_id: str, k: int = 10):
        rows = history.user_positions([user_id])
        if rows[0] < 0:
            counts = pd.Series(history.item_user_counts(), index=history.item_ids)
            ranked = counts.sort_values(ascending=False)
            fallback = True
        else:
            user_history = history.matrix[rows]
            scores = pd.Series(model.score(user_history)[0], index=history.item_ids)
            seen = history.item_ids[user_history.indices]
            ranked = scores.drop(seen).sort_values(ascending=False)
            fallback = False
        out = []
        for rank, (item_id, score) in enumerate(ranked.head(k).items(), start=1):
            row = items.loc[item_id]
            out.append(
                {
                    "rank": rank,
                    "item_id": item_id,
                    "title": row["title"],
                    "price": float(row["price"]),
                    "score": float(score),
                }
            )
        return {"user_id": user_id, "fallback": fallback, "items": out}

    @app.get("/readyz")
    def readyz():
        return {"status": "ready"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--items", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        build(args.model_dir, args.items), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
