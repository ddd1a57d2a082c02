"""The datasets benchmarks run on, loaded and validated exactly as the pipeline does, and the
start and end every quality benchmark shares (arguments, holdout, results JSON)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from machine import machine_info
from rich.console import Console

from shoprec.config import OnlineRetailSource, Params, load_params
from shoprec.data.sources import load_source
from shoprec.evaluation.holdout import Holdout, prepare_holdout
from shoprec.training.inputs import TrainingInputs
from shoprec.validation.batch import validate_batch

ROOT = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = ROOT.parent / "shared/datasets/online_retail/online_retail.csv.gz"
DATASETS = ("online_retail", "synthetic")


def load_validated(
    dataset: str, params: Params, path: Path = ONLINE_RETAIL
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Events and items of ``dataset`` after validation (quarantined rows removed), and counts."""
    source = (
        OnlineRetailSource(source="online_retail", path=path)
        if dataset == "online_retail"
        else params.data
    )
    data = load_source(source)
    settings = params.validation.relative_to(ROOT)
    checked = validate_batch(data.events, data.items, settings, problems=data.problems)
    if not checked.accepted:
        raise SystemExit(f"the data was rejected by validation: {checked.message}")
    return checked.events, checked.items, checked.counts()


@dataclass
class QualityRun:
    """What every quality benchmark starts from: its arguments, the params, the validated
    data of the dataset and the holdout, the same protocol as the pipeline."""

    name: str
    args: argparse.Namespace
    params: Params
    console: Console
    events: pd.DataFrame
    items: pd.DataFrame
    counts: dict
    holdout: Holdout
    load_seconds: float

    def training_inputs(self) -> TrainingInputs:
        p = self.params
        return TrainingInputs.from_holdout(
            self.holdout, self.items, p.targets, p.features.event_weights
        )

    def write(self, **sections: object) -> Path:
        """``benchmarks/results/<name>_<dataset>.json``: the run's identity, machine, validation
        counts and evaluation targets, then ``sections``."""
        out = ROOT / "benchmarks/results" / f"{self.name}_{self.args.dataset}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "benchmark": self.name,
            "dataset": self.args.dataset,
            "machine": machine_info(),
            "validation": self.counts,
            "evaluation": self.holdout.targets.info,
            **sections,
        }
        out.write_text(json.dumps(payload, indent=2, default=float) + "\n")
        self.console.print(f"wrote {out.relative_to(ROOT)}")
        return out


def start_quality_run(name: str, doc: str, default_dataset: str = "synthetic") -> QualityRun:
    """Parse ``--dataset/--path/--bootstrap``, load and validate the data, split it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default=default_dataset)
    parser.add_argument("--path", type=Path, default=ONLINE_RETAIL, help="Online Retail file")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    started = time.perf_counter()
    events, items, counts = load_validated(args.dataset, params, args.path)
    load_seconds = time.perf_counter() - started
    holdout = prepare_holdout(events, items, params.split, params.features, params.targets)
    return QualityRun(
        name, args, params, Console(width=200), events, items, counts, holdout, load_seconds
    )
