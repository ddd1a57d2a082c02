"""How long the console takes to render a version's page over HTTP: the candidate with three
cross-validation folds and segments, against production and the best baseline.

The registry is the one the console tests use (``tests/console/world.py``): ItemKNN fit three
times on the tiny synthetic shop (``tests/tiny.make_shop``: 500 users, 300 items, 28 days),
each version registered with the manifest ``shoprec registry propose`` writes (gate, folds,
segments, metrics at K = 5, 10, 20, 50 with intervals). The console runs under uvicorn on
loopback, a reviewer signs in with HTTP Basic, and each page is fetched ``--requests`` times
one after another (after five warm-up requests). Target: p95 under 300 ms.

    python benchmarks/console.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' registry and server
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from shoprec.console.app import ConsoleSettings, create_app
from shoprec.console.auth import REVIEWER, UserStore, add_user
from tests.console.helpers import PASSWORDS, Server, client
from tests.console.world import build_world

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "console.json"
TARGET_MS = 300.0
PAGES = {
    "version page (3 folds, segments)": "/models/itemknn/versions/3",
    "versions list": "/models",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    console = Console(width=120)
    work = Path(tempfile.mkdtemp(prefix="shoprec-console-bench-"))
    started = time.perf_counter()
    registry = build_world(work / "registry")
    built_s = time.perf_counter() - started
    add_user(work / "users.json", "ana", REVIEWER, PASSWORDS["ana"])
    app = create_app(registry, UserStore(work / "users.json"), ConsoleSettings())
    rows = []
    with Server(app) as server, client(server) as http:
        for label, path in PAGES.items():
            for _ in range(5):
                assert http.get(path).status_code == 200
            times, size = [], 0
            for _ in range(args.requests):
                begun = time.perf_counter()
                reply = http.get(path)
                times.append((time.perf_counter() - begun) * 1000)
                assert reply.status_code == 200, reply.text[:300]
                size = len(reply.content)
            lat = np.array(times)
            rows.append(
                {
                    "page": label,
                    "path": path,
                    "requests": args.requests,
                    "bytes": size,
                    "p50_ms": round(float(np.percentile(lat, 50)), 2),
                    "p95_ms": round(float(np.percentile(lat, 95)), 2),
                    "max_ms": round(float(lat.max()), 2),
                }
            )
    table = Table(
        title=f"shoprec console over HTTP, {args.requests} requests each "
        f"(target p95 < {TARGET_MS:.0f} ms)"
    )
    for column in ("page", "bytes", "p50 ms", "p95 ms", "max ms", "under target"):
        table.add_column(column, justify="left" if column == "page" else "right")
    for r in rows:
        table.add_row(
            r["page"],
            f"{r['bytes']:,}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['max_ms']:.1f}",
            "yes" if r["p95_ms"] < TARGET_MS else "NO",
        )
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": machine_info(),
                "registry": {
                    "shop": "tests/tiny.make_shop (500 users, 300 items, 28 days)",
                    "model": "itemknn",
                    "versions": 3,
                    "folds": 3,
                    "built_s": round(built_s, 1),
                },
                "target_p95_ms": TARGET_MS,
                "rows": rows,
                "under_target": all(r["p95_ms"] < TARGET_MS for r in rows),
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
