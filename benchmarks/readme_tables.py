"""Render the result tables and figures in README.md and docs/*.md from benchmarks/results/*.json.

Each figure that comes from a benchmark lives between two marker comments, for example::

    <!-- results:baselines_online_retail -->
    ...rendered from benchmarks/results/baselines_online_retail.json...
    <!-- /results:baselines_online_retail -->

``python benchmarks/readme_tables.py`` rewrites every marked block; ``--check`` rewrites
nothing, prints a unified diff and exits 1 when a document differs from what the JSON says (or
when a marker is missing, unknown or unbalanced). The rendering is plain functions of the
loaded JSON (``render(name, results)``), so a test can call them on a hand-made dict.

Rounding: half up, on the value as it is written in the JSON (its decimal digits, not the
binary float: ``0.0625`` -> ``0.063``, ``2.85`` -> ``2.9``). The benchmarks already round what
they write (mostly to 5 decimals), so a figure whose JSON digits end in 5 can be one unit above
the unrounded value (``ranking_synthetic.json`` holds two-tower Recall@20 ``0.14345``, shown
``0.1435``; the pipeline's ``metrics/evaluation.json`` has ``0.143445``). One rule per column:

- NDCG, Recall, Precision, cold-item Recall, the paired NDCG difference: 4 decimals
  (an exact zero is written ``0``);
- HitRate, Coverage, candidate recall, the Spearman correlation: 3 decimals;
- the bounds of a 95% interval: 3 decimals;
- seconds: 2 decimals;
- latencies in ms: 1 decimal; requests/s: 1 decimal (the offered rate as a whole number);
- rows/s, users/s, examples/s, pairs, events, users, items: whole numbers with thousands commas;
- ratios (×): 1 decimal; lifts: whole percent;
- MB: peak and loaded RSS whole, output sizes 1 decimal;
- monitoring statistics (shares, distances, served / offline ratios) and their thresholds:
  3 decimals.

Only the standard library is imported, so this runs in a fraction of a second.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# The documents whose marked blocks are rendered, relative to the project root.
DOCUMENTS = (
    "README.md",
    "docs/serving.md",
    "docs/batch_scoring.md",
    "docs/validation.md",
    "docs/data-sources.md",
    "docs/scaling.md",
    "docs/monitoring.md",
)

Results = dict[str, dict]

MODEL_LABELS = {
    "most_popular": "most-popular",
    "itemknn": "ItemKNN",
    "ease": "EASE",
    "two_tower": "two-tower",
    "sequential": "sequential",
    "two_stage": "two-stage",
    "source:covisit": "co-visitation",
    "source:popular_recent": "recent popularity",
    "source:popular_category": "per-category popularity",
}
DATASET_LABELS = {"online_retail": "Online Retail", "synthetic": "synthetic"}
SERVICE_LABELS = {
    "shoprec": "shoprec, ItemKNN",
    "shoprec 2 workers": "shoprec, ItemKNN, 2 workers",
    "naive": "naive, same model and catalogue",
    "implicit item-kNN": "implicit `CosineRecommender` in FastAPI",
    "shoprec two_stage": "shoprec, two-stage",
    "shoprec two_stage 2 workers": "shoprec, two-stage, 2 workers",
}
# The serving targets the benchmark checks (issue 15).
SERVING_TARGET_RPS = 200.0


# -- number formats -------------------------------------------------------------------------
def _decimal(value: float | int, places: int) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def fixed(value: float | int, places: int) -> str:
    """``value`` with ``places`` decimals, rounded half up on its JSON digits."""
    return f"{_decimal(value, places):.{places}f}"


def grouped(value: float | int, places: int = 0) -> str:
    """Like ``fixed``, with thousands commas."""
    return f"{_decimal(value, places):,.{places}f}"


def metric(value: float) -> str:
    """NDCG, Recall, Precision: 4 decimals, an exact zero as ``0``."""
    return "0" if value == 0 else fixed(value, 4)


def rate(value: float) -> str:
    """HitRate, Coverage, candidate recall: 3 decimals."""
    return fixed(value, 3)


def interval(bounds: Iterable[float]) -> str:
    low, high = bounds
    return f"({fixed(low, 3)}–{fixed(high, 3)})"


def seconds(value: float) -> str:
    return f"{fixed(value, 2)} s"


def ms(value: float) -> str:
    return grouped(value, 1)


def ratio(value: float) -> str:
    return f"{fixed(value, 1)}×"


def percent(share: float) -> str:
    """A lift or share (0.362) as a whole percent (36%)."""
    return f"{fixed(share * 100, 0)}%"


def signed(value: float) -> str:
    return ("+" if value >= 0 else "−") + metric(abs(value))


def machine(info: dict) -> str:
    return f"{info['cpu']}, {info['cores']} cores, {info['memory']}"


def bold_best(values: list[float], texts: list[str]) -> list[str]:
    """Bold the text of the largest value (all of them on a tie); nothing when it is 0."""
    best = max(values, default=0)
    return [f"**{t}**" if v == best and best > 0 else t for v, t in zip(values, texts, strict=True)]


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A Markdown table; ``align`` holds one character per column, ``l`` or ``r``."""
    rules = [("---:" if a == "r" else "---") for a in (align or "l" * len(header))]
    lines = [header, rules, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _by_model(data: dict) -> dict[str, dict]:
    return {row["model"]: row for row in data["results"]}


def _date(timestamp: str) -> str:
    return timestamp[:10]


# -- baselines ------------------------------------------------------------------------------
def baselines_machine(results: Results) -> str:
    """The machine of the baseline runs (each one named when they differ)."""
    described = {d: machine(results[f"baselines_{d}"]["machine"]) for d in DATASET_LABELS}
    if len(set(described.values())) == 1:
        return next(iter(described.values()))
    return "; ".join(f"{text} ({DATASET_LABELS[d]})" for d, text in described.items())


def dataset_summary(data: dict) -> str:
    """One sentence on the data a quality benchmark ran on."""
    events, items = data["validation"]["events"], data["validation"]["items"]
    evaluation = data["evaluation"]
    if events["quarantined"]:
        kept = (
            f"{grouped(events['in'])} events, of which validation quarantines "
            f"{grouped(events['quarantined'])}, leaving {grouped(events['accepted'])}"
        )
    else:
        kept = f"{grouped(events['in'])} events, all accepted by validation"
    start = data.get("protocol", {}).get("split", {}).get("test_start")
    period = f"the test period starts {_date(start)}; " if start else ""
    return (
        f"{kept}, on {grouped(items['accepted'])} items; {period}"
        f"{grouped(evaluation['evaluated_users'])} test users with new targets are scored."
    )


def baselines_table(data: dict) -> str:
    rows = data["results"]
    top = f"top-{max(data['protocol']['ks'])}, all users"
    ndcg = [r["metrics"]["ndcg@10"] for r in rows]
    recall = [r["metrics"]["recall@20"] for r in rows]
    ndcg_text = bold_best(ndcg, [metric(v) for v in ndcg])
    recall_text = bold_best(recall, [metric(v) for v in recall])
    body = [
        [
            MODEL_LABELS[r["model"]],
            f"{ndcg_text[i]} {interval(r['intervals']['ndcg@10'])}",
            f"{recall_text[i]} {interval(r['intervals']['recall@20'])}",
            metric(r["metrics"]["precision@10"]),
            rate(r["metrics"]["hitrate@10"]),
            rate(r["metrics"]["coverage@10"]),
            seconds(r["fit_seconds"]),
            seconds(r["recommend_seconds"]),
        ]
        for i, r in enumerate(rows)
    ]
    header = ["model", "NDCG@10", "Recall@20", "Precision@10", "HitRate@10", "Coverage@10"]
    return table([*header, "fit", top], body)


def baselines_block(dataset: str, title: str) -> Callable[[Results], str]:
    def render(results: Results) -> str:
        data = results[f"baselines_{dataset}"]
        return f"**{title}**: {dataset_summary(data)}\n\n{baselines_table(data)}"

    return render


# -- two-tower retrieval --------------------------------------------------------------------
RETRIEVAL_DATASETS = ("synthetic", "online_retail")


def retrieval_table(results: Results) -> str:
    body = []
    for dataset in RETRIEVAL_DATASETS:
        rows = results[f"retrieval_{dataset}"]["results"]
        columns = {
            "ndcg": [r["metrics"]["ndcg@10"] for r in rows],
            "recall": [r["metrics"]["recall@20"] for r in rows],
            "cold": [r["cold_items"]["recall@20"] for r in rows],
        }
        text = {k: bold_best(v, [metric(x) for x in v]) for k, v in columns.items()}
        for i, r in enumerate(rows):
            body.append(
                [
                    DATASET_LABELS[dataset],
                    MODEL_LABELS[r["model"]],
                    f"{text['ndcg'][i]} {interval(r['intervals']['ndcg@10'])}",
                    f"{text['recall'][i]} {interval(r['intervals']['recall@20'])}",
                    text["cold"][i],
                    seconds(r["fit_seconds"]),
                ]
            )
    header = ["dataset", "model", "NDCG@10", "Recall@20", "cold-item Recall@20", "fit"]
    return table(header, body)


def cold_targets(results: Results) -> str:
    parts = []
    for dataset in RETRIEVAL_DATASETS:
        cold = results[f"retrieval_{dataset}"]["results"][0]["cold_items"]
        parts.append(
            f"{grouped(cold['targets'])} on {DATASET_LABELS[dataset]} "
            f"({grouped(cold['users'])} users)"
        )
    return "Cold-item targets: " + ", ".join(parts) + "."


def retrieval_vs_ranking(results: Results) -> str:
    """Where a model's figures differ between the retrieval and the ranking benchmark."""
    notes = []
    for dataset in RETRIEVAL_DATASETS:
        ours = _by_model(results[f"retrieval_{dataset}"])
        theirs = _by_model(results[f"ranking_{dataset}"])
        for model in ours.keys() & theirs.keys():
            a, b = ours[model]["metrics"], theirs[model]["metrics"]
            if any(metric(a[k]) != metric(b[k]) for k in ("ndcg@10", "recall@20")):
                notes.append(
                    f"{MODEL_LABELS[model]} on {DATASET_LABELS[dataset]}: NDCG@10 "
                    f"{metric(a['ndcg@10'])} here, {metric(b['ndcg@10'])} in the two-stage table"
                )
    if not notes:
        return ""
    return (
        "The retrieval and the two-stage benchmark each fit their own models, so some figures "
        "differ between this table and the two-stage table below ("
        + "; ".join(sorted(notes))
        + ")."
    )


def retrieval_block(results: Results) -> str:
    note = retrieval_vs_ranking(results)
    parts = [cold_targets(results), retrieval_table(results), note]
    return "\n\n".join(p for p in parts if p)


def two_tower_speed(results: Results) -> str:
    """The two-tower training throughput over both fits of both retrieval runs."""
    fits = [
        results[f"retrieval_{d}"]["two_tower_training"][fit]
        for d in RETRIEVAL_DATASETS
        for fit in ("first_fit", "refit")
    ]
    speeds = [f["examples_per_second"] for f in fits]
    devices = sorted({f["device"] for f in fits})
    precision = "mixed precision" if any(f["mixed_precision"] for f in fits) else "float32"
    batches = sorted({f["batch_size"] for f in fits})
    cpu = machine(results[f"retrieval_{RETRIEVAL_DATASETS[0]}"]["machine"])
    return (
        f"The two-tower model trained on the {'/'.join(devices)} ({cpu}) at "
        f"{grouped(min(speeds))}–{grouped(max(speeds))} examples/s ({precision}, batch "
        f"{'/'.join(grouped(b) for b in batches)}; the first fit and the refit on both datasets)."
    )


# -- two-stage ranking ----------------------------------------------------------------------
RANKING_DATASETS = ("online_retail", "synthetic")


def _candidate_key(model: str) -> str:
    return model.removeprefix("source:")


def ranking_rows(data: dict) -> list[tuple[str, dict, str]]:
    """(label, result row, candidate recall text) per model, best NDCG@10 first; sources with
    identical results (on a shop without categories) share one row."""
    n = data["candidates"]["n_per_source"]
    recall = data["candidates"]["test_recall"]
    rows: list[tuple[str, dict, str]] = []
    for r in sorted(data["results"], key=lambda r: -r["metrics"]["ndcg@10"]):
        key = _candidate_key(r["model"])
        if r["model"] == "two_stage":
            candidates = f"union {rate(recall['union'])} ({grouped(recall['union_size'])} items)"
        elif key in recall:
            candidates = f"{rate(recall[key])} @{n[key]}"
        else:
            candidates = ""
        label = MODEL_LABELS[r["model"]]
        for i, (other, row, text) in enumerate(rows):
            same = row["metrics"] == r["metrics"] and row["intervals"] == r["intervals"]
            if same and text == candidates:
                rows[i] = (f"{other}, {label} (identical)", row, text)
                break
        else:
            rows.append((label, r, candidates))
    return rows


def ranking_table(results: Results) -> str:
    body = []
    for dataset in RANKING_DATASETS:
        rows = ranking_rows(results[f"ranking_{dataset}"])
        ndcg = [r["metrics"]["ndcg@10"] for _, r, _ in rows]
        recall = [r["metrics"]["recall@20"] for _, r, _ in rows]
        ndcg_text = bold_best(ndcg, [metric(v) for v in ndcg])
        recall_text = bold_best(recall, [metric(v) for v in recall])
        for i, (label, r, candidates) in enumerate(rows):
            body.append(
                [
                    DATASET_LABELS[dataset],
                    label,
                    f"{ndcg_text[i]} {interval(r['intervals']['ndcg@10'])}",
                    f"{recall_text[i]} {interval(r['intervals']['recall@20'])}",
                    candidates,
                ]
            )
    return table(["dataset", "model", "NDCG@10", "Recall@20", "candidate recall@N"], body)


def comparison_bullet(dataset: str, data: dict) -> str:
    c = data["comparison"]
    low, high = c["paired_difference_interval"]
    overlap = "overlap" if c["intervals_overlap"] else "do not overlap"
    real = ", so the gain is real" if low > 0 else ", so the gain is not significant"
    goal = "met" if c["goal_met"] else "**not met**"
    lift = c["ndcg@10_lift"]
    label = DATASET_LABELS[dataset]
    direction = "better" if lift >= 0 else "worse"
    return (
        f"- **{label[0].upper()}{label[1:]}:** the two-stage model is "
        f"**{percent(abs(lift))} {direction}** than {MODEL_LABELS[c['best_single_model']]} on "
        f"NDCG@10, and the two intervals {overlap}.\n"
        f"  The paired difference is {signed(c['paired_difference'])} "
        f"(95% CI {signed(low)} to {signed(high)}){real}.\n"
        f'  The goal of "+10% with separate intervals" is {goal} on this dataset.'
    )


def training_time_bullet(results: Results) -> str:
    data = {d: results[f"ranking_{d}"] for d in RANKING_DATASETS}
    names = " and ".join(DATASET_LABELS[d] for d in RANKING_DATASETS)

    def each(value: Callable[[dict], float]) -> str:
        return " and ".join(seconds(value(data[d])) for d in RANKING_DATASETS)

    others = [
        r["recommend_seconds"]
        for d in RANKING_DATASETS
        for r in data[d]["results"]
        if r["model"] != "two_stage"
    ]
    machines = sorted({machine(d["machine"]) for d in data.values()})
    return (
        f"- **Training time** ({names}, on {'; '.join(machines)}): the ranker, early stopping "
        f"included, took {each(lambda d: d['two_stage_training']['ranker']['training_seconds'])}"
        f", and the whole two-stage fit {each(lambda d: d['two_stage_training']['seconds'])}.\n"
        f"  Recommending for all test users took "
        f"{each(lambda d: _by_model(d)['two_stage']['recommend_seconds'])}, against "
        f"{fixed(min(others), 2)}–{seconds(max(others))} for each other row of the table."
    )


def ranking_notes(results: Results) -> str:
    bullets = [comparison_bullet(d, results[f"ranking_{d}"]) for d in RANKING_DATASETS]
    return "\n".join([*bullets, training_time_bullet(results)])


def ranker_device(results: Results) -> str:
    data = results["ranker_device_gpu"]
    timings = data["training_seconds"]
    cpu = timings["cpu"]
    body = [
        [
            f"{device} ({data['machine']['cores']} cores)" if device == "cpu" else device,
            seconds(value),
            ratio(cpu / value),
        ]
        for device, value in timings.items()
    ]
    shop = data["shop"]
    intro = (
        f"`python benchmarks/ranker_device.py --users {shop['users']} --items {shop['items']}` on "
        f"a GPU machine ({machine(data['machine'])}; XGBoost {data['xgboost']}): "
        f"{data['rounds']} rounds on {grouped(data['pairs'])} pairs of {data['features']} "
        f"features."
    )
    after = (
        f"With `device: auto` the ranker trained on {data['auto_device']} "
        f"({data['auto_best_rounds']} rounds with early stopping, the whole fit "
        f"{seconds(data['auto_fit_seconds'])}; test NDCG@10 {metric(data['test_ndcg@10'])}).\n"
        f"The GPU and CPU boosters order a sample of pairs alike (Spearman "
        f"{fixed(data['spearman_cpu_vs_gpu'], 3)})."
    )
    header = ["device", f"seconds, {data['rounds']} rounds", "speed-up vs CPU"]
    return f"{intro}\n\n{table(header, body, 'lrr')}\n\n{after}"


# -- serving --------------------------------------------------------------------------------
def _serving_rows(data: dict, service: str) -> list[dict]:
    return [r for r in data["rows"] if r["service"] == service]


def _offered(row: dict) -> str:
    return "one at a time" if row["target_rps"] == 0 else grouped(row["target_rps"])


def serving_setup(results: Results) -> str:
    data = results["serving"]
    c = data["catalogue"]
    model = MODEL_LABELS.get(data["model"], data["model"])
    text = (
        f"ItemKNN catalogue: {grouped(c['items'])} items, {grouped(c['users'])} users, "
        f"{grouped(c['interactions'])} interactions; {model} fitted in "
        f"{seconds(data['fit_seconds'])}; {fixed(data['seconds_per_rate'], 0)} s per rate.\n"
    )
    ts = data.get("two_stage_catalogue")
    if ts:
        text += (
            f"Two-stage catalogue (`benchmarks/two_stage_shop.py`): {grouped(ts['items'])} items, "
            f"{grouped(ts['users'])} users, {grouped(ts['interactions'])} interactions; its "
            f"serving lists built in {seconds(data['two_stage_lists_seconds'])}.\n"
        )
    return (
        text
        + f"Machine: {machine(data['machine'])}, shared by the services and the load generator."
    )


def serving_table(results: Results) -> str:
    data = results["serving"]
    body = []
    for service, label in SERVICE_LABELS.items():
        for i, r in enumerate(_serving_rows(data, service)):
            cells = [
                label if i == 0 else "",
                _offered(r),
                fixed(r["achieved_rps"], 1),
                ms(r["p50_ms"]),
                ms(r["p95_ms"]),
                ms(r["p99_ms"]),
                grouped(r["failed"]),
            ]
            if r["target_rps"] == SERVING_TARGET_RPS:
                cells[1:6] = [f"**{c}**" for c in cells[1:6]]
            body.append(cells)
    header = ["service", "offered (requests/s)", "achieved", "p50 ms", "p95 ms", "p99 ms"]
    return table([*header, "failed"], body, "lrrrrrr")


def _at(data: dict, service: str, rps: float) -> dict | None:
    return next((r for r in _serving_rows(data, service) if r["target_rps"] == rps), None)


def _met(flag: bool | None) -> str:
    return "met" if flag else "**not met**"


def _rate(value: float | None) -> str:
    return f"{grouped(value)}/s" if value else "no offered rate"


def serving_summary(results: Results) -> str:
    """The serving figures quoted in README's prose, one sentence per line."""
    data = results["serving"]
    s, targets = data["summary"], data["summary"]["targets"]
    lines = []
    for service in ("shoprec two_stage", "shoprec two_stage 2 workers"):
        alone, at_200 = _at(data, service, 0.0), _at(data, service, SERVING_TARGET_RPS)
        if alone is None:
            continue
        workers = "2 workers" if "workers" in service else "1 worker"
        lines.append(
            f"Two-stage, {workers}: {ms(alone['p50_ms'])} ms per request one at a time (p50); "
            f"p99 {ms(at_200['p99_ms'])} ms at {grouped(SERVING_TARGET_RPS)}/s (target < 10 ms: "
            f"{_met(targets.get(f'{service}: p99 < 10 ms at 200 rps'))}); highest offered rate "
            f"held with p99 < 50 ms: {_rate(s[f'{service}: highest rps with p99 < 50 ms'])} "
            f"(target ≥ 400/s: {_met(targets.get(f'{service}: >= 400 rps with p99 < 50 ms'))})."
        )
    quality = data.get("served_equals_offline", {}).get("shoprec two_stage")
    if quality:
        lines.append(
            f"Served top-{quality['k']} equal to the offline `recommend()` top-{quality['k']} "
            f"for {grouped(quality['identical_lists'])} of {grouped(quality['users'])} sampled "
            "users."
        )
    for service in ("shoprec", "shoprec 2 workers"):
        if _at(data, service, 0.0) is None:
            continue
        workers = "2 workers" if "workers" in service else "1 worker"
        lines.append(
            f"ItemKNN, {workers}: highest offered rate held with p99 < 10 ms: "
            f"{_rate(s[f'{service}: highest rps with p99 < 10 ms'])} (target ≥ 500/s: "
            f"{_met(targets.get(f'{service} (ItemKNN): >= 500 rps with p99 < 10 ms'))})."
        )
    for one, two in (
        ("shoprec", "shoprec 2 workers"),
        ("shoprec two_stage", "shoprec two_stage 2 workers"),
    ):
        key = f"{two}: memory (PSS) over one worker"
        if key in s:
            memory = data["memory"]
            met = _met(targets.get(f"{two}: memory < 1.3x one worker"))
            lines.append(
                f"Memory of {SERVICE_LABELS[two]}: {grouped(memory[two]['pss_mib'])} MiB PSS "
                f"against {grouped(memory[one]['pss_mib'])} MiB for one worker, "
                f"{fixed(s[key], 2)}× (target < 1.3×: {met})."
            )
    peers = []
    for peer in ("naive", "implicit item-kNN"):
        key = f"{peer} over shoprec ItemKNN, one at a time p50"
        if key in s:
            peers.append(
                f"{SERVICE_LABELS[peer]} takes {ms(_at(data, peer, 0.0)['p50_ms'])} ms one at a "
                f"time, {ratio(s[key])} shoprec's ItemKNN"
            )
    if peers:
        lines.append("; ".join(peers) + ".")
    return "\n".join(lines)


# -- batch scoring --------------------------------------------------------------------------
def batch_scoring_summary(results: Results) -> str:
    data = results["batch_scoring"]
    setup, r = data["setup"], data["results"]
    return (
        f"{grouped(setup['users'])} users × {grouped(setup['items'])} items with "
        f"`{setup['model']}`: {seconds(r['chunked']['seconds'])} and "
        f"{grouped(r['chunked']['peak_rss_mb'])} MB peak RSS, against "
        f"{seconds(r['one_table']['seconds'])} and {grouped(r['one_table']['peak_rss_mb'])} MB "
        f"for one `recommend()` table; a rerun after a kill at "
        f"{r['resume']['parts_before_kill']} of {r['chunked']['chunks_written']} parts took "
        f"{seconds(r['resume']['seconds'])}."
    )


def batch_scoring_table(results: Results) -> str:
    data = results["batch_scoring"]
    setup, r = data["setup"], data["results"]
    variants = [
        ("chunked (`score_to_parquet`)", r["chunked"]),
        ("one table (`model.recommend(all)` → `to_parquet`)", r["one_table"]),
        (
            f"resume after SIGKILL at {r['resume']['parts_before_kill']} of "
            f"{r['chunked']['chunks_written']} parts",
            r["resume"],
        ),
    ]

    def output(v: dict) -> str:
        size = f"{fixed(v['output_mb'], 1)} MB"
        if "chunks_written" not in v:
            return f"1 file, {size}"
        written = f"wrote {v['chunks_written']} parts"
        skipped = f", skipped {v['chunks_skipped']}" if v["chunks_skipped"] else ""
        return f"{written}{skipped}, {size}"

    body = [
        [
            name,
            fixed(v["seconds"], 2),
            grouped(v["users_per_second"]),
            f"{grouped(v['peak_rss_mb'])} MB",
            output(v),
        ]
        for name, v in variants
    ]
    intro = (
        f"Setup: {grouped(setup['users'])} users × {grouped(setup['items'])} items, "
        f"{setup['interactions_per_user']} interactions per user, `{setup['model']}` fitted in "
        f"{seconds(setup['fit_seconds'])}, k = {setup['k']}, parts of "
        f"{grouped(setup['chunk_size'])} users, {grouped(r['chunked']['rows'])} rows.\n"
        f"Machine: {machine(data['machine'])}, Python {data['machine']['python']}, NumPy "
        f"{data['machine']['numpy']}."
    )
    header = ["variant", "seconds", "users/s", "peak RSS", "output"]
    after = (
        f"The model takes {grouped(r['chunked']['rss_loaded_mb'])} MB RSS once loaded.\n"
        f"The rerun after a kill took {fixed(data['resume_vs_full'], 2)} of a full run: it "
        f"scored and wrote only the {r['resume']['chunks_written']} missing parts."
    )
    return f"{intro}\n\n{table(header, body, 'lrrrl')}\n\n{after}"


# -- the published protocol ----------------------------------------------------------------
PUBLISHED_DATASETS = {
    "amazon_toys": "Amazon Toys (S3-Rec file), leave one out",
    "online_retail": "Online Retail, temporal split",
    "synthetic": "synthetic shop, temporal split",
}


def published_protocol_block(dataset: str) -> Callable[[Results], str]:
    def render(results: Results) -> str:
        data = results[f"published_protocol_{dataset}"]
        rows = data["results"]
        ks = data["protocol"]["ks"]
        names = list(rows)
        best = {
            key: max(rows[m][key] for m in names)
            for key in (f"{m}@{k}" for m in ("hr", "ndcg") for k in ks)
        }
        body = []
        for name in names:
            r = rows[name]
            cells = [MODEL_LABELS.get(name, name)]
            for m in ("hr", "ndcg"):
                for k in ks:
                    text = metric(r[f"{m}@{k}"])
                    if r[f"{m}@{k}"] == best[f"{m}@{k}"]:
                        text = f"**{text}**"
                    if k == 10:
                        text += f" {interval(r[f'{m}@{k}_ci'])}"
                    cells.append(text)
            cells.append(seconds(r["fit_seconds"]) if "fit_seconds" in r else "")
            body.append(cells)
        for p in data.get("published", []):
            hr = [metric(p["hr@10"]) if k == 10 else "" for k in ks]
            nd = [metric(p["ndcg@10"]) if k == 10 else "" for k in ks]
            body.append([f"published: {p['model']}", *hr, *nd, ""])
        header = [
            "model",
            *(f"HR@{k}" for k in ks),
            *(f"NDCG@{k}" for k in ks),
            "fit s",
        ]
        protocol = data["protocol"]
        over = (
            "metrics over all of them, the others count as misses"
            if data.get("published")
            else "metrics over the evaluable ones, as in the pipeline"
        )
        intro = (
            f"{PUBLISHED_DATASETS[dataset]}: {grouped(protocol['evaluable_users'])} of "
            f"{grouped(protocol['held_out_users'])} test users evaluable ({over}); 95% "
            f"intervals at K = 10. Machine: {machine(data['machine'])}."
        )
        text = f"{intro}\n\n{table(header, body, 'l' + 'r' * (len(header) - 1))}"
        seq, ease = rows.get("sequential"), rows.get("ease")
        if not data.get("published") and seq and ease:
            above = seq["ndcg@10"] > ease["ndcg@10"]
            text += (
                f"\n\nThe sequential model is {'above' if above else '**below**'} EASE here "
                f"(NDCG@10 {metric(seq['ndcg@10'])} against {metric(ease['ndcg@10'])})"
            )
            if "two_stage" in rows:
                sources = ", ".join(data["notes"]["two_stage"]["sources"])
                text += (
                    f"; the two-stage model reaches {metric(rows['two_stage']['ndcg@10'])} "
                    f"with the sources {sources}"
                )
            text += "."
        return text

    return render


def published_protocol_verdict(results: Results) -> str:
    """Whether the sequential and two-stage models reach the published best on Toys."""
    data = results["published_protocol_amazon_toys"]
    rows = data["results"]
    top = max(data["published"], key=lambda p: p["ndcg@10"])
    lines = []
    for name in ("sequential", "two_stage"):
        if name not in rows:
            continue
        r = rows[name]
        reached = r["hr@10"] >= top["hr@10"] and r["ndcg@10"] >= top["ndcg@10"]
        lines.append(
            f"{MODEL_LABELS[name]}: HR@10 {metric(r['hr@10'])}, NDCG@10 {metric(r['ndcg@10'])} "
            f"against {top['model']}'s {metric(top['hr@10'])} / {metric(top['ndcg@10'])}: "
            + ("reached." if reached else "**not reached**.")
        )
    ease, seq = rows.get("ease"), rows.get("sequential")
    if ease and seq:
        apart = (
            seq["ndcg@10_ci"][0] > ease["ndcg@10_ci"][1]
            and seq["hr@10_ci"][0] > ease["hr@10_ci"][1]
        )
        lines.append(
            f"Sequential over EASE (NDCG@10 {metric(ease['ndcg@10'])}, λ "
            f"{fixed(data['notes']['ease']['l2_chosen_on_validation'], 0)} chosen on validation):"
            f" intervals {'do not overlap' if apart else '**overlap**'}."
        )
    if "sequential" in rows and "fit_seconds" in rows["sequential"]:
        r = rows["sequential"]
        within = r["fit_seconds"] <= 600
        lines.append(
            f"The sequential model trained (fit, early stopping and refit) in "
            f"{seconds(r['fit_seconds'])} on the CPU at {grouped(r['positions_per_second'])} "
            f"positions/s: the 10-minute target is {'met' if within else '**not met**'} in "
            f"this run; the GPU figure is still to be measured."
        )
    timing = results.get("published_protocol_amazon_toys_sequential_timing")
    if timing and "sequential" in timing["results"]:
        r = timing["results"]["sequential"]
        within = r["fit_seconds"] <= 600
        lines.append(
            f"Alone on the machine (`--models sequential --tag sequential_timing`, same metrics: "
            f"NDCG@10 {metric(r['ndcg@10'])}) it trained in {seconds(r['fit_seconds'])} at "
            f"{grouped(r['positions_per_second'])} positions/s ({len(r['validation_ndcg'])} "
            f"epochs with early stopping, then a refit of {r['epochs_used']}): "
            f"the 10-minute target is {'met' if within else '**not met**'}."
        )
    if "two_stage" in rows:
        lines.append(
            "The two-stage model's fit time is the ranker's and its own sources' "
            "(ItemKNN, EASE, co-visitation); its two-tower and sequential sources are the "
            "models in the rows above."
        )
    return "\n".join(lines)


def published_protocol_two_tower_on(results: Results) -> str:
    """The two-stage model on Online Retail with the two-tower source on, beside the default."""
    on = results["published_protocol_online_retail_two_tower_on"]
    off = results["published_protocol_online_retail"]["results"]["two_stage"]
    r = on["results"]["two_stage"]
    sources = ", ".join(on["notes"]["two_stage"]["sources"])
    return (
        f"With the two-tower model on as well (`--params {on['params']} --tag two_tower_on`), "
        f"the two-stage model on Online Retail reaches NDCG@10 {metric(r['ndcg@10'])} "
        f"{interval(r['ndcg@10_ci'])} against {metric(off['ndcg@10'])} "
        f"{interval(off['ndcg@10_ci'])} by default, with the sources {sources}; fit "
        f"{seconds(r['fit_seconds'])} for the ranker and its own sources."
    )


# -- cross-validation ----------------------------------------------------------------------
def _test_window(window: dict) -> str:
    """A fold's test window, first to last day (its end is the start of the next day)."""
    last = date.fromisoformat(window["test_end"][:10]) - timedelta(days=1)
    return f"{_date(window['test_start'])} – {last.isoformat()}"


def _signed_percent(share: float) -> str:
    return ("+" if share >= 0 else "−") + percent(abs(share))


def cross_validation_verdict(data: dict) -> str:
    """One sentence: does the two-stage model beat each fold's best baseline, with the numbers."""
    compared = [f for f in data["folds"] if f.get("comparison")]
    if not compared:
        return "No verdict: the two-stage model or every baseline is switched off in `train:`."
    won = sum(f["comparison"]["two_stage_wins"] for f in compared)
    every = won == len(compared)
    parts = []
    for f in compared:
        c = f["comparison"]
        lift = "" if c["lift"] is None else f"{_signed_percent(c['lift'])}"
        lost = "" if c["two_stage_wins"] else ", **lost**"
        parts.append(
            f"fold {f['fold']} {metric(c['two_stage_value'])} against "
            f"{MODEL_LABELS.get(c['best_baseline'], c['best_baseline'])}'s "
            f"{metric(c['best_baseline_value'])} ({lift}{lost})"
        )
    verb = "wins" if every else "does **not** win"
    return (
        f"The two-stage model {verb} every fold against the fold's best baseline on NDCG@10 "
        f"({won} of {len(compared)}): {'; '.join(parts)}."
    )


def cross_validation_block(dataset: str) -> Callable[[Results], str]:
    def render(results: Results) -> str:
        data = results[f"cross_validation_{dataset}"]
        p, folds, summary = data["protocol"], data["folds"], data["summary"]
        t = data["seconds"]
        intro = (
            f"**Across time** (`python benchmarks/cross_validation.py`, "
            f"`benchmarks/results/cross_validation_{dataset}.json`): {DATASET_LABELS[dataset]}, "
            f"{len(folds)} {p['split']} folds {p['step_days']} days apart (fold k's "
            f"{p['validation_days']}-day validation and {p['test_days']}-day test windows start "
            f"k × {p['step_days']} days earlier; fold 0 is today's split). Every model of "
            f"`train:` in `{data['params']}` is fit anew per fold on the data before its cuts "
            f"and scored on its test window; the best figure of each fold is bold, and the spread "
            f"rows give mean ± standard deviation (min) over the folds. "
            f"Machine: {machine(data['machine'])}, shared with other jobs."
        )
        body = []
        for f in folds:
            names = list(f["models"])
            columns = {
                m: [f["models"][n]["metrics"][m] for n in names] for m in ("ndcg@10", "recall@20")
            }
            text = {m: bold_best(v, [metric(x) for x in v]) for m, v in columns.items()}
            for i, name in enumerate(names):
                label = (
                    f"{f['fold']}: {_test_window(f['window'])}, {grouped(f['test_users'])} test "
                    f"users, {seconds(f['fold_seconds'])}"
                    if i == 0
                    else ""
                )
                fit = f["models"][name]["fit_seconds"]
                body.append(
                    [
                        label,
                        MODEL_LABELS.get(name, name),
                        text["ndcg@10"][i],
                        text["recall@20"][i],
                        "" if fit is None else seconds(fit),
                    ]
                )
        fit_totals = t["fit_total_per_model"]
        for i, (name, metrics) in enumerate(summary.items()):
            cells = [
                f"{metric(metrics[m]['mean'])} ± {metric(metrics[m]['std'])} "
                f"(min {metric(metrics[m]['min'])})"
                for m in ("ndcg@10", "recall@20")
            ]
            label = f"spread over {len(folds)} folds" if i == 0 else ""
            total = fit_totals.get(name)
            fit = "" if total is None else f"{seconds(total)} in all"
            body.append([label, MODEL_LABELS.get(name, name), *cells, fit])
        header = ["fold: test window, test users, time", "model", "NDCG@10", "Recall@20", "fit"]
        longest = max(fit_totals, key=fit_totals.get)
        each = ", ".join(f"fold {f['fold']} {seconds(f['fold_seconds'])}" for f in folds)
        timing = (
            f"Time: {each}; {seconds(t['total'])} in all, loading and validating the data "
            f"({seconds(t['load_and_validate'])}) included. The longest fit is the "
            f"{MODEL_LABELS.get(longest, longest)} model's, {seconds(fit_totals[longest])} over "
            f"the folds."
        )
        if "two_stage" in fit_totals and "sequential" in fit_totals:
            timing += (
                " The two-stage fit counts the ranker and the sources it fits itself; its "
                "sequential source is the sequential row."
            )
        parts = [intro, table(header, body, "llrrr"), timing, cross_validation_verdict(data)]
        return "\n\n".join(parts)

    return render


# -- validation and data --------------------------------------------------------------------
def validation_speed(results: Results) -> str:
    v = results["validation"]
    goal = "met" if v["meets_goal"] else "**not met**"
    return (
        f"`python benchmarks/validation.py` runs the full suite on {grouped(v['events'])} "
        f"synthetic events and {grouped(v['items'])} items in "
        f"{seconds(v['full_suite_with_baseline_seconds'])} with the volume and mix checks "
        f"against a previous batch ({grouped(v['rows_per_second'])} rows/s), and in "
        f"{seconds(v['full_suite_first_batch_seconds'])} for a first batch without them.\n"
        f"That is {ratio(v['overhead_vs_bare_ge'])} a bare Great Expectations run of the events "
        f"row rules alone ({seconds(v['bare_ge_events_row_rules_seconds'])}, on the "
        f"already-converted frame).\n"
        f"Importing Great Expectations adds "
        f"{seconds(v['great_expectations_import_seconds_once_per_process'])} once per process.\n"
        f"The goal, under {v['goal_seconds']} s, is {goal}.\n"
        f"Machine: {machine(v['machine'])}; results in `benchmarks/results/validation.json`."
    )


def synthetic_lift_over_popularity(results: Results) -> str:
    """NDCG@10 of the item-to-item baselines over most-popular, on the synthetic shop."""
    rows = _by_model(results["baselines_synthetic"])
    base = rows["most_popular"]["metrics"]["ndcg@10"]
    return " and ".join(
        f"{ratio(rows[m]['metrics']['ndcg@10'] / base)} ({MODEL_LABELS[m]})"
        for m in ("itemknn", "ease")
    )


def soak_summary(results: Results) -> str:
    """The soak run (benchmarks/soak.py) in one sentence."""
    data = results["soak"]
    a, s = data["args"], data["summary"]
    workers = f"{a['workers']} worker{'s' if a['workers'] > 1 else ''}"
    return (
        f"{fixed(a['minutes'], 0)} minutes at {grouped(a['rps'])} requests/s ({data['model']}, "
        f"{grouped(data['catalogue']['items'])} items, {workers}) with a promotion every "
        f"{fixed(a['promote_every'], 0)} s: {grouped(s['failed'])} failed of "
        f"{grouped(s['requests'])}, versions {', '.join(map(str, s['versions_seen']))} served "
        f"(each new one answering within {fixed(max(s['first_answer_of_new_version_s']), 1)} s "
        f"of its promotion), p99 {ms(s['p99_ms'])} ms; resident memory (RSS) grew "
        f"{fixed(s['rss']['growth_pct'], 1)}% (target < 10%: "
        f"{_met(s['rss']['growth_pct'] < 10)}), PSS {fixed(s['pss']['growth_pct'], 1)}%"
    )


def impressions_summary(results: Results) -> str:
    """benchmarks/impressions.py: the same service with the impressions log off and on."""
    data = results["impressions"]
    s = data["summary"]
    off, on, r = s["off"], s["on"], s["on_over_off"]
    return (
        f"{data['model']} on {grouped(data['catalogue']['items'])} items, {data['rounds']} runs "
        f"each, alternately, at {grouped(data['rate'])} requests/s for "
        f"{fixed(data['seconds'], 0)} s: p50 {ms(off['p50_ms'])} ms off, {ms(on['p50_ms'])} ms "
        f"on ({fixed(r['p50_ms'], 2)}×), p99 {ms(off['p99_ms'])} ms off, {ms(on['p99_ms'])} ms on "
        f"({fixed(r['p99_ms'], 2)}×), one at a time p50 {ms(off['one_at_a_time_p50_ms'])} and "
        f"{ms(on['one_at_a_time_p50_ms'])} ms (medians over the runs); building and appending "
        f"one row takes {fixed(s['record_us_per_request'], 1)} µs; every answered request was "
        f"in the log after the stop: {'yes' if s['every_answer_logged'] else '**no**'}"
    )


def scale_table(results: Results) -> str:
    """benchmarks/scale.py: per size and engine, time and peak memory of the pipeline's stages."""
    data = results["scale"]
    stages = [r["stage"] for r in next(iter(data["sizes"][0]["engines"].values()))["stages"]]
    header = ["events", "engine", *stages, "all", "peak RSS", "commit"]
    rows = []
    for size in data["sizes"]:
        if "shop" not in size:
            rows.append([f"{grouped(size['millions'] * 1e6)}", "-", size["error"]])
            continue
        commit = size.get("commit") or "-"
        for engine, e in size["engines"].items():
            times = {r["stage"]: r for r in e["stages"]}
            cells = [
                f"{fixed(times[s]['seconds'], 1)} s" + (" (failed)" if times[s]["error"] else "")
                if s in times
                else "-"
                for s in stages
            ]
            rows.append(
                [
                    grouped(size["shop"]["events"]),
                    engine,
                    *cells,
                    f"{fixed(e['seconds'], 0)} s",
                    f"{fixed(e['peak_rss_mib'] / 1024, 1)} GiB",
                    commit,
                ]
            )
    return table(header, rows, "rl" + "r" * (len(header) - 3) + "l")


def scale_summary(results: Results) -> str:
    """The time ratio per growth of the events, per engine, and the largest size's peak."""
    data = results["scale"]
    lines = []
    for engine, steps in data["scaling"].items():
        parts = [
            f"{fixed(s['from_millions'], 0)}M → {fixed(s['to_millions'], 0)}M events: time "
            f"×{fixed(s['time_ratio'], 2)} for events ×{fixed(s['events_ratio'], 2)} "
            f"({fixed(s['time_over_events'], 2)}; "
            + (
                f"goal ≤ 1.2: {_met(s['goal_met'])})"
                if s.get("same_commit", True)
                else "measured at different commits: not judged)"
            )
            for s in steps
        ]
        if parts:
            lines.append(f"{engine}: " + "; ".join(parts) + ".")
    s = data.get("summary", {})
    if s:
        line = (
            f"Largest size run: {fixed(s['largest_millions'], 0)}M events, peak "
            f"{fixed(s['largest_dask_peak_gib'], 1)} GiB on the dask engine"
        )
        if not s.get("largest_completed_on_dask"):
            line += " (it did not complete: see the table)"
        if s["largest_millions"] >= s.get("goal_millions", float("inf")):
            line += (
                f"; the goal at {fixed(s['goal_millions'], 0)}M (completes on the dask engine "
                f"with a peak under 16 GiB): {_met(s.get('peak_goal_met'))}"
            )
        lines.append(line + ".")
    return "\n".join(lines)


def online_retail_load(results: Results) -> str:
    data = results["baselines_online_retail"]
    return f"{seconds(data['load_and_validate_seconds'])} on {machine(data['machine'])}"


# -- monitoring replay ----------------------------------------------------------------------
REPLAY_COLUMNS = (  # (check, statistic, column heading)
    ("recommendation drift", "fallback share", "fallback share"),
    ("data drift", "new-item share", "new-item share"),
    ("data drift", "price", "price distance"),
    ("data drift", "items per user and day", "items per user distance"),
    ("recommendation drift", "catalogue coverage ratio", "coverage ratio"),
)
RULE_SIGNS = {"max": ">", "min": "<"}


def _replay_stat(window: dict, check: str, name: str) -> dict | None:
    for s in window["statistics"]:
        if s["check"] == check and (s["name"] == name or s["name"].startswith(name + ",")):
            return s
    return None


def _replay_value(stat: dict | None) -> str:
    """3 decimals, bold when it is a breach; ``–`` when not judged."""
    if stat is None or stat["value"] is None:
        return "–"
    text = fixed(stat["value"], 3)
    return f"**{text}**" if stat["verdict"] == "breach" else text


def _replay_week(window: dict) -> str:
    since = date.fromisoformat(window["since"][:10])
    last = date.fromisoformat(window["until"][:10]) - timedelta(days=1)
    return f"{since.isoformat()} – {last.strftime('%m-%d')}"


def monitoring_replay(results: Results) -> str:
    """The weekly monitoring of Online Retail after the cut: one row per window."""
    data = results["monitoring_replay_online_retail"]
    t, serving = data["training"], data["serving"]
    header = ["week (Mon–Sun)", "events", "impressions"]
    for check, name, heading in REPLAY_COLUMNS:
        stat = _replay_stat(data["windows"][0], check, name)
        header.append(f"{heading} ({RULE_SIGNS[stat['rule']]} {fixed(stat['threshold'], 3)})")
    header += ["followed share (95% interval)", "verdict"]
    rows = []
    for w in data["windows"]:
        cells = [
            _replay_week(w),
            grouped(w["counts"]["events"]),
            grouped(w["counts"]["impressions"]),
        ]
        cells += [_replay_value(_replay_stat(w, c, n)) for c, n, _ in REPLAY_COLUMNS]
        followed = _replay_stat(w, "online quality", "followed share")
        if followed is None or followed["value"] is None:
            cells.append("–")
        else:
            cells.append(f"{fixed(followed['value'], 3)} {interval(followed['interval'])}")
        breached = [s["name"] for s in w["statistics"] if s["verdict"] == "breach"]
        cells.append("breach: " + ", ".join(breached) if breached else w["verdict"])
        rows.append(cells)
    intro = (
        f"ItemKNN trained on the {grouped(t['events'])} purchases of {grouped(t['users'])} "
        f"customers and {grouped(t['items'])} items before {_date(t['until'])}, registered with "
        f"its profiles (offline lists: the {grouped(t['test_users']['users'])} customers active "
        f"from {_date(t['test_users']['since'])}), promoted and never retrained. The "
        f"{grouped(serving['impressions'])} impressions after the cut (one per customer and "
        f"purchase day, {grouped(serving['fallback'])} of them the popular fallback) and the "
        "events were checked weekly with the thresholds of `params.yaml`: a heading's "
        "`> t` is a breach above t, `< t` below it, and a breach is in bold."
    )
    control = data["control"]
    parts = []
    for name in ("items per user and day", "price"):
        c = control["statistics"][name]
        parts.append(
            f"{name} {fixed(c['min'], 3)}–{fixed(c['max'], 3)} ({c['breaches']} "
            f"breach{'es' if c['breaches'] != 1 else ''})"
        )
    after = (
        "The last window ends with the data (Friday 2011-12-09) and overlaps the one before.\n"
        f"Control, the {control['weeks']} weeks of the training data against the same profile "
        f"({control['statistics']['price']['judged']} with enough events to judge): "
        + "; ".join(parts)
        + ". Event mix and category are judged but say nothing here: every event is a purchase "
        "and every item's category is `unknown`, so both distances are 0.\n"
        f"Replay: {seconds(data['seconds']['total'])} in all (loading and validation "
        f"{seconds(data['seconds']['load'])}) on {machine(data['machine'])}."
    )
    align = "lrr" + "r" * len(REPLAY_COLUMNS) + "rl"
    return f"{intro}\n\n{table(header, rows, align)}\n\n{after}"


# name -> (renderer, inline). An inline block sits inside a sentence: no line breaks around it.
BLOCKS: dict[str, tuple[Callable[[Results], str], bool]] = {
    "baselines_machine": (baselines_machine, True),
    "baselines_online_retail": (baselines_block("online_retail", "UCI Online Retail"), False),
    "baselines_synthetic": (baselines_block("synthetic", "Synthetic shop (default params)"), False),
    "retrieval": (retrieval_block, False),
    "two_tower_speed": (two_tower_speed, False),
    "ranking": (ranking_table, False),
    "ranking_notes": (ranking_notes, False),
    "ranker_device": (ranker_device, False),
    "serving_summary": (serving_summary, True),
    "serving_setup": (serving_setup, False),
    "serving_table": (serving_table, False),
    "soak_summary": (soak_summary, True),
    "impressions_summary": (impressions_summary, True),
    "scale_table": (scale_table, False),
    "scale_summary": (scale_summary, False),
    "batch_scoring_summary": (batch_scoring_summary, True),
    "batch_scoring_table": (batch_scoring_table, False),
    "validation": (validation_speed, True),
    "monitoring_replay": (monitoring_replay, False),
    "synthetic_lift_over_popularity": (synthetic_lift_over_popularity, True),
    "online_retail_load": (online_retail_load, True),
    "published_protocol_verdict": (published_protocol_verdict, False),
    "published_protocol_two_tower_on": (published_protocol_two_tower_on, False),
    "cross_validation_online_retail": (cross_validation_block("online_retail"), False),
    **{f"published_protocol_{d}": (published_protocol_block(d), False) for d in PUBLISHED_DATASETS},
}

MARKER = re.compile(r"<!-- (/?)results:([a-z0-9_]+) -->")


def load_results(directory: Path = RESULTS) -> Results:
    """Every ``*.json`` in ``directory``, keyed by its file name without ``.json``."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


WIDTH = 100
# A number and its unit stay on one line.
_UNIT = re.compile(r"(\d) (s|ms|MB|GiB)\b")
# A wrapped line must not start like a list item, a heading, a quote or a table row.
_STARTS_BLOCK = re.compile(r"^\s*([-+*>#|]|\d+[.)])(\s|$)")


def wrap(text: str, width: int = WIDTH) -> str:
    """Wrap each prose line of ``text`` at ``width`` (tables are left as they are); a bullet's
    lines continue under its text."""
    out = []
    text = _UNIT.sub("\\1\0\\2", text)
    for line in text.split("\n"):
        if not line or line.startswith("|"):
            out.append(line)
            continue
        indent = "  " if line.startswith(("- ", "  ")) else ""
        lines = textwrap.wrap(
            line.removeprefix(indent) if indent and line.startswith("  ") else line,
            width,
            initial_indent=indent if line.startswith("  ") else "",
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        out.extend(lines if not any(_STARTS_BLOCK.match(x) for x in lines[1:]) else [line])
    return "\n".join(out).replace("\0", " ")


def render(name: str, results: Results) -> str:
    """The text of block ``name``, without its markers."""
    renderer, _ = BLOCKS[name]
    return wrap(renderer(results))


def block_names(text: str) -> list[str]:
    """The names of the blocks in ``text``, in order; ValueError on an unknown, nested or
    unbalanced marker."""
    names, open_name = [], None
    for match in MARKER.finditer(text):
        closing, name = match.group(1) == "/", match.group(2)
        if name not in BLOCKS:
            raise ValueError(f"unknown results block {name!r}")
        if closing != (open_name is not None) or (closing and name != open_name):
            raise ValueError(f"unbalanced marker for results block {name!r}")
        if closing:
            names.append(name)
        open_name = None if closing else name
    if open_name is not None:
        raise ValueError(f"results block {open_name!r} is never closed")
    return names


def rewrite(text: str, results: Results) -> str:
    """``text`` with every marked block rendered again from ``results``."""
    block_names(text)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        body = render(name, results)
        inline = BLOCKS[name][1]
        inner = body if inline else f"\n{body}\n"
        return f"<!-- results:{name} -->{inner}<!-- /results:{name} -->"

    pattern = re.compile(r"<!-- results:([a-z0-9_]+) -->.*?<!-- /results:\1 -->", re.DOTALL)
    return pattern.sub(replace, text)


def check(root: Path = ROOT, results: Results | None = None) -> list[str]:
    """Problems with the documents under ``root``: a unified diff per document that differs
    from its rendering, and a line for each block that no document holds. Empty when in sync."""
    results = load_results(root / "benchmarks" / "results") if results is None else results
    problems, seen = [], set()
    for relative in DOCUMENTS:
        path = root / relative
        text = path.read_text()
        try:
            seen.update(block_names(text))
            expected = rewrite(text, results)
        except ValueError as error:
            problems.append(f"{relative}: {error}")
            continue
        if expected != text:
            diff = difflib.unified_diff(
                text.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                f"{relative} (now)",
                f"{relative} (from benchmarks/results)",
            )
            problems.append("".join(diff))
    problems += [f"no document holds results block {name!r}" for name in BLOCKS.keys() - seen]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 and print a diff if stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    results = load_results()
    for relative in DOCUMENTS:
        path = ROOT / relative
        text = path.read_text()
        new = rewrite(text, results)
        if new != text:
            path.write_text(new)
            print(f"rewrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
