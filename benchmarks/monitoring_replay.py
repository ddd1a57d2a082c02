"""Online Retail replayed day by day through shoprec's monitoring: the Christmas drift.

The real log (``benchmarks/datasets.py``: loaded and validated as the pipeline does; every
event is a purchase, items have a title and a price, category ``unknown``) is cut at
``--cut`` (default 2011-09-01). An ItemKNN (``models.itemknn`` of params.yaml) is fit on the
events before the cut, saved, and registered into a fresh folder registry with its reference
profiles, as ``propose`` registers a version: the data profile of the training events and
items, and the served profile of the model's own top-K for the offline test users (the users
active in the last 14 days before the cut; nothing after the cut is read). It is checked for
servability, approved and promoted to ``production``.

Then each day from the cut to the end of the data is served: the day's *visitors* are the
customers with a purchase that day (a purchase log shows no other visits, so every visitor
buys something). Each visitor gets one impression ``--lead-minutes`` before their first
purchase of the day: the model's top 10 for a known user, the popular fallback
(``fallback: true``) for an unknown one. The model is never retrained: the drift grows.

Every Monday from the first full week after the cut, and once at the end of the data,
``shoprec.monitoring.monitor`` checks the 7 days before (``monitoring.days``) with the
thresholds as shipped in params.yaml, given all validated events and all impressions so far.
Prints the weekly table, writes ``benchmarks/results/monitoring_replay_online_retail.json``
(every statistic with its threshold and verdict, per window) and copies the last window's
HTML report to ``benchmarks/results/monitoring_replay_online_retail.html``.

    python benchmarks/monitoring_replay.py                # cut 2011-09-01, a minute or two
    python benchmarks/monitoring_replay.py --cut 2011-10-01
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import ONLINE_RETAIL, load_validated
from machine import machine_info

from shoprec.config import load_params
from shoprec.evaluation.profiles import data_profile, served_profile
from shoprec.features.interactions import build_interactions
from shoprec.impressions import SCHEMA, impression
from shoprec.monitoring.run import monitor
from shoprec.registry import LocalStore, Registry
from shoprec.release.propose import check_servability
from shoprec.training.model_table import create_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
NAME = "monitoring_replay_online_retail"
MODEL = "itemknn"
ENDPOINT = "recommendations"


def day_of(stamps: pd.Series) -> pd.Series:
    return pd.to_datetime(stamps, utc=True).dt.floor("D")


def fit_and_register(events, items, cut, args, params, work: Path, console) -> dict:
    """ItemKNN on the events before ``cut``, registered with its profiles and promoted."""
    stamps = pd.to_datetime(events["timestamp"], utc=True)
    train = events[stamps < cut].reset_index(drop=True)
    seen = train["item_id"].astype(str).unique()
    # the catalogue as it was at the cut: the items sold before it (no peeking at later ones)
    catalogue = items[items["item_id"].astype(str).isin(seen)].reset_index(drop=True)
    started = time.perf_counter()
    history = build_interactions(train, catalogue["item_id"], params.features.event_weights)
    knn = params.models.itemknn
    model = create_model(MODEL, neighbors=knn.neighbors, shrinkage=knn.shrinkage).fit(history)
    model_dir = work / "model"
    model.save(model_dir)
    fit_seconds = time.perf_counter() - started

    started = time.perf_counter()
    test_since = cut - pd.Timedelta(days=args.test_days)
    recent = train[pd.to_datetime(train["timestamp"], utc=True) >= test_since]
    test_users = np.sort(recent["user_id"].astype(str).unique())
    rows = history.user_positions(test_users)
    data = data_profile(train, catalogue)
    served = served_profile(
        model,
        rows[rows >= 0],
        params.serving.default_k,
        data,
        exclude_seen=not params.targets.repeat_purchases,
    )
    profile_seconds = time.perf_counter() - started

    started = time.perf_counter()
    registry = Registry(LocalStore(work / "registry"))
    metadata = {"data_profile": data, "served_profile": served}
    version = registry.register(MODEL, model_dir, "benchmark", metadata)
    servable = check_servability(registry, MODEL, version, model_dir)
    if not servable["passed"]:
        raise SystemExit(f"{MODEL} v{version} failed the servability check: {servable}")
    registry.decide(MODEL, version, "approved", "benchmark", "monitoring replay")
    registry.promote(MODEL, version, "benchmark", "monitoring replay")
    register_seconds = time.perf_counter() - started
    console.print(
        f"trained on {len(train):,} events of {history.shape[0]:,} customers and "
        f"{history.shape[1]:,} items before {cut:%Y-%m-%d}; {MODEL} v{version} promoted; "
        f"offline test users {len(test_users):,} (active from {test_since:%Y-%m-%d})"
    )
    return {
        "model": model,
        "registry": registry,
        "version": version,
        "info": {
            "model": MODEL,
            "params": {"neighbors": knn.neighbors, "shrinkage": knn.shrinkage},
            "version": version,
            "since": pd.Timestamp(stamps.min()).isoformat(),
            "until": cut.isoformat(),
            "events": len(train),
            "users": int(history.shape[0]),
            "items": int(history.shape[1]),
            "test_users": {
                "since": test_since.isoformat(),
                "users": len(test_users),
                "profiled": int(served["users"]),
            },
            "served_profile": {
                k: served[k] for k in ("k", "users", "popularity", "novelty", "coverage")
            },
            "data_profile": {
                "price_mean": data["price"]["mean"],
                "price_std": data["price"]["std"],
                "items_per_user_day_mean": data["items_per_user_day"]["mean"],
                "known_items": data["known_items"],
            },
        },
        "seconds": {
            "fit": round(fit_seconds, 2),
            "profiles": round(profile_seconds, 2),
            "register": round(register_seconds, 2),
        },
    }


def serve_days(events, cut, model, version, k, exclude_seen, lead) -> tuple[pd.DataFrame, list]:
    """One impression per visitor and day from ``cut`` on, ``lead`` before their first
    purchase that day; the model's list for known users, the popular fallback otherwise."""
    later = events[pd.to_datetime(events["timestamp"], utc=True) >= cut]
    visits = (
        pd.DataFrame(
            {
                "user_id": later["user_id"].astype(str).to_numpy(),
                "timestamp": pd.to_datetime(later["timestamp"], utc=True).to_numpy(),
            }
        )
        .assign(day=lambda f: f["timestamp"].dt.floor("D"))
        .groupby(["day", "user_id"], as_index=False)["timestamp"]
        .min()
        .sort_values(["timestamp", "user_id"], kind="stable")
        .reset_index(drop=True)
    )
    history = model.history
    counts = history.item_user_counts()
    popular = [str(i) for i in history.item_ids[np.lexsort((np.arange(len(counts)), -counts))[:k]]]
    known = history.user_positions(visits["user_id"].to_numpy()) >= 0
    lists: dict[str, list[str]] = {}
    known_users = np.unique(visits.loc[known, "user_id"].to_numpy())
    if len(known_users):
        table = model.recommend(known_users, k, exclude_seen=exclude_seen)
        table = table[table["item_id"].notna()]
        lists = table.groupby("user_id", sort=False)["item_id"].agg(list).to_dict()
    rows, per_day = [], []
    for n, visit in enumerate(visits.itertuples(index=False)):
        mine = bool(known[n])
        rows.append(
            impression(
                f"replay-{n:07d}",
                visit.user_id,
                MODEL,
                version,
                not mine,
                lists.get(visit.user_id, []) if mine else popular,
                endpoint=ENDPOINT,
                k=k,
                served_at=(visit.timestamp - lead).to_pydatetime(),
            )
        )
    for day, group in visits.assign(known=known).groupby("day"):
        per_day.append(
            {"day": f"{day:%Y-%m-%d}", "visitors": len(group), "known": int(group["known"].sum())}
        )
    frame = pa.Table.from_pylist(rows, schema=SCHEMA).to_pandas()
    return frame, per_day


def mondays(start: pd.Timestamp, until: pd.Timestamp) -> list[pd.Timestamp]:
    """Every Monday 00:00 that ends a full week from ``start`` on, up to ``until``."""
    first_monday = (start + pd.Timedelta(days=(7 - start.weekday()) % 7)).normalize()
    if first_monday < start:
        first_monday += pd.Timedelta(days=7)
    return list(pd.date_range(first_monday + pd.Timedelta(days=7), until, freq="7D"))


def windows(cut: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """The ``now`` of each check: every Monday 00:00 from the end of the first full week after
    the cut, and the midnight after the last event."""
    nows = mondays(cut, end)
    last = end.normalize() + pd.Timedelta(days=1)
    if not nows or nows[-1] < last:
        nows.append(last)
    return nows


def _stat(report: dict, check: str, name: str) -> dict:
    for c in report["checks"]:
        if c["name"] == check:
            for s in c["statistics"]:
                if s["name"] == name or (name == "followed share" and s["name"].startswith(name)):
                    return s
    return {}


def window_row(report, seconds: float) -> dict:
    data = report.to_dict()
    stats = [
        {
            "check": check["name"],
            "name": s["name"],
            "value": s["value"],
            "rule": s["rule"],
            "threshold": s["threshold"],
            "judged": s["judged"],
            "verdict": s["verdict"],
            "interval": list(s["interval"]) if s["interval"] else None,
            "reference": s["reference"],
            "current": s["current"],
            "note": s["note"],
        }
        for check in data["checks"]
        for s in check["statistics"]
    ]
    return {
        "now": data["time"],
        "since": data["window"]["since"],
        "until": data["window"]["until"],
        "counts": data["counts"],
        "verdict": data["verdict"],
        "breaches": data["breaches"],
        "checks": {c["name"]: c["verdict"] for c in data["checks"]},
        "notes": [n for c in data["checks"] for n in c["notes"]] + data["notes"],
        "statistics": stats,
        "seconds": round(seconds, 2),
    }


DATA_STATISTICS = ("event mix", "items per user and day", "price", "category", "new-item share")


def control_summary(control: list[dict]) -> dict:
    """Per data-drift statistic: its range and breaches over the in-sample weeks."""
    out = {}
    for name in DATA_STATISTICS:
        stats = [s for row in control for s in row["statistics"] if s["name"] == name]
        values = [s["value"] for s in stats if s["value"] is not None]
        out[name] = {
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "judged": len(values),
            "breaches": sum(s["verdict"] == "breach" for s in stats),
        }
    return {"weeks": len(control), "statistics": out}


def control_row(row: dict) -> dict:
    """A control window: its events and data-drift values (None: not judged) and breaches;
    nothing else is judged without impressions, and the thresholds are the replay's."""
    data = [s for s in row["statistics"] if s["check"] == "data drift"]
    return {
        "since": row["since"],
        "until": row["until"],
        "events": row["counts"]["events"],
        "values": {s["name"]: s["value"] for s in data},
        "breaches": [s["name"] for s in data if s["verdict"] == "breach"],
    }


def value_text(stat: dict, places: int = 3) -> str:
    if not stat or stat.get("value") is None:
        return "–"
    mark = " !" if stat["verdict"] == "breach" else ""
    return f"{stat['value']:.{places}f}{mark}"


def print_table(console: Console, rows: list[dict]) -> None:
    table = Table(
        title="Online Retail replayed through monitoring (ItemKNN trained before the cut)"
    )
    columns = (
        "week ending",
        "events",
        "impressions",
        "fallback",
        "new items",
        "price dist",
        "items/user dist",
        "coverage ratio",
        "popularity ratio",
        "novelty ratio",
        "followed (95% CI)",
        "verdict",
    )
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("week ending", "verdict") else "right"
        )
    for row in rows:
        stats = {(s["check"], s["name"].split(",")[0]): s for s in row["statistics"]}
        followed = stats.get(("online quality", "followed share"), {})
        follow_text = "–"
        if followed.get("value") is not None:
            low, high = followed["interval"]
            follow_text = f"{followed['value']:.3f} ({low:.3f}–{high:.3f})"
        breached = sorted({b.split(": ")[1].rsplit(" ", 3)[0] for b in row["breaches"]})
        table.add_row(
            row["until"][:10],
            f"{row['counts']['events']:,}",
            f"{row['counts']['impressions']:,}",
            value_text(stats.get(("recommendation drift", "fallback share"))),
            value_text(stats.get(("data drift", "new-item share"))),
            value_text(stats.get(("data drift", "price"))),
            value_text(stats.get(("data drift", "items per user and day"))),
            value_text(stats.get(("recommendation drift", "catalogue coverage ratio"))),
            value_text(stats.get(("recommendation drift", "popularity ratio"))),
            value_text(stats.get(("recommendation drift", "novelty ratio"))),
            follow_text,
            row["verdict"] + (f": {', '.join(breached)}" if breached else ""),
        )
    console.print(table)
    console.print("! = breach; the window is the 7 days before the week's end (exclusive)")


def rounded(value):
    """Every float in ``value`` to 5 decimals (as the other benchmarks write them)."""
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=ONLINE_RETAIL, help="Online Retail file")
    parser.add_argument("--cut", default="2011-09-01", help="train on the events before (UTC)")
    parser.add_argument("--test-days", type=int, default=14, help="offline test users: active")
    parser.add_argument("--lead-minutes", type=float, default=5.0, help="impression before visit")
    args = parser.parse_args()
    console = Console(width=200)
    params = load_params(ROOT / "params.yaml")
    monitoring = params.monitoring.model_copy(update={"model": MODEL, "days": 7})
    params = params.model_copy(update={"monitoring": monitoring})
    cut = pd.Timestamp(args.cut, tz="UTC")
    total = time.perf_counter()

    started = time.perf_counter()
    events, items, counts = load_validated("online_retail", params, args.path)
    load_seconds = time.perf_counter() - started
    end = pd.to_datetime(events["timestamp"], utc=True).max()
    types = sorted(events["event_type"].astype(str).unique())
    console.print(
        f"Online Retail: {len(events):,} validated events ({', '.join(types)}), "
        f"{len(items):,} items, {pd.to_datetime(events['timestamp'], utc=True).min():%Y-%m-%d} "
        f"to {end:%Y-%m-%d %H:%M}; loaded in {load_seconds:.1f} s"
    )

    work = Path(tempfile.mkdtemp(prefix="shoprec-bench-replay-"))
    try:
        fitted = fit_and_register(events, items, cut, args, params, work, console)
        started = time.perf_counter()
        impressions, per_day = serve_days(
            events,
            cut,
            fitted["model"],
            fitted["version"],
            params.serving.default_k,
            not params.targets.repeat_purchases,
            timedelta(minutes=args.lead_minutes),
        )
        serve_seconds = time.perf_counter() - started
        console.print(
            f"served {len(impressions):,} impressions over {len(per_day)} trading days "
            f"({int(impressions['fallback'].sum()):,} fallback) in {serve_seconds:.1f} s"
        )
        served_at = pd.to_datetime(impressions["served_at"], utc=True)
        rows, last_html = [], None
        for now in windows(cut, end):
            started = time.perf_counter()
            report = monitor(
                work / "project",
                params,
                now=now.to_pydatetime(),
                events=events,
                items=items,
                impressions=impressions[served_at < now].reset_index(drop=True),
                registry=fitted["registry"],
                write=True,
            )
            rows.append(window_row(report, time.perf_counter() - started))
            last_html = report.html
        # the control: the weeks of the training data itself against the same profile (data
        # drift only, no impressions), how far the statistics move without any drift
        start = pd.to_datetime(events["timestamp"], utc=True).min()
        control = []
        for now in mondays(start, cut):
            started = time.perf_counter()
            report = monitor(
                work / "control",
                params,
                now=now.to_pydatetime(),
                events=events,
                items=items,
                impressions=impressions.iloc[:0],
                registry=fitted["registry"],
                write=False,
            )
            control.append(window_row(report, time.perf_counter() - started))
        monitor_seconds = sum(r["seconds"] for r in rows + control)
        print_table(console, rows)
        summary = control_summary(control)
        for name, info in summary["statistics"].items():
            console.print(
                f"in-sample control, {summary['weeks']} training weeks: {name} "
                f"{info['min']:.3f}–{info['max']:.3f}, {info['breaches']} breach(es)"
            )
        html_out = RESULTS / f"{NAME}.html"
        shutil.copyfile(last_html, html_out)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    m = params.monitoring
    thresholds = {
        key: getattr(m, key)
        for key in m.model_fields
        if key.startswith(("max_", "min_")) or key in ("days", "attribution_hours")
    }
    payload = {
        "benchmark": "monitoring_replay",
        "dataset": "online_retail",
        "machine": machine_info(),
        "args": {
            "cut": cut.isoformat(),
            "test_days": args.test_days,
            "lead_minutes": args.lead_minutes,
        },
        "validation": counts,
        "data": {
            "events": len(events),
            "items": len(items),
            "event_types": types,
            "end": end.isoformat(),
        },
        "protocol": {
            "visitors": "customers with a purchase that day (the only visits a purchase log "
            "shows); one impression each, lead_minutes before their first purchase that day",
            "lists": f"top {params.serving.default_k} of the model for known customers, the "
            "popular fallback (fallback: true) for unknown ones; no retraining after the cut",
            "windows": "each Monday 00:00 UTC from the end of the first full week after the cut, "
            "and the midnight after the last event; each checks the 7 days before",
            "thresholds": "as shipped in params.yaml (monitoring.model set to itemknn)",
        },
        "monitoring": thresholds,
        "training": fitted["info"],
        "serving": {
            "impressions": len(impressions),
            "fallback": int(impressions["fallback"].sum()),
            "days": per_day,
        },
        "windows": rows,
        "control": {
            "what": "every full week of the training data (Monday to Monday) checked against "
            "the same data profile: data drift only (no impressions before the cut)",
            **summary,
            "windows": [control_row(row) for row in control],
        },
        "report_html": html_out.relative_to(ROOT).as_posix(),
        "seconds": {
            "load": round(load_seconds, 2),
            **fitted["seconds"],
            "serve": round(serve_seconds, 2),
            "monitor": round(monitor_seconds, 2),
            "total": round(time.perf_counter() - total, 2),
        },
    }
    out = RESULTS / f"{NAME}.json"
    out.write_text(json.dumps(rounded(payload), indent=2, default=float) + "\n")
    console.print(f"wrote {out.relative_to(ROOT)} and {html_out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
