"""Where each stage reads and writes, relative to the project root (mirrors ``dvc.yaml``)."""

from pathlib import Path

DATA = Path("data")
RAW = DATA / "raw"
QUARANTINE = DATA / "quarantine"
VALIDATED = DATA / "validated"
SPLIT = DATA / "split"
FEATURES = DATA / "features"
MODELS = Path("models")
METRICS = Path("metrics")
REPORTS = Path("reports")

EVENTS_FILE = "events.parquet"
ITEMS_FILE = "items.parquet"

# Feature sets: interactions strictly before the test period (what models are fit on for the
# test evaluation) and strictly before the validation period (for tuning and early stopping).
BEFORE_TEST = FEATURES / "before_test"
BEFORE_VALIDATION = FEATURES / "before_validation"

VALIDATION_REPORT = REPORTS / "validation"
VALIDATION_BASELINE = VALIDATION_REPORT / "baseline.json"

TWO_TOWER_AT_VALIDATION = MODELS / "two_tower" / "at_validation_start"
TWO_STAGE = MODELS / "two_stage"
SEQUENTIAL = MODELS / "sequential"
SEQUENTIAL_AT_VALIDATION = SEQUENTIAL / "at_validation_start"
SEQUENTIAL_SAVEDMODEL = SEQUENTIAL / "savedmodel"  # <version>/saved_model.pb, as TF Serving loads
CANDIDATE_RECALL = METRICS / "candidates.json"

EVALUATION_METRICS = METRICS / "evaluation.json"
CONFIDENCE_INTERVALS = METRICS / "confidence_intervals.json"
CURVES = METRICS / "curves"
COLD_ITEMS = METRICS / "cold_items.json"
SEGMENTS = METRICS / "segments.json"

# Cross-validation (evaluation.cv): one file per fold (stage cv_fold@k), the summary over
# folds (stage cv) and one dvc plots file per model.
CV_FOLDS = METRICS / "cv"
CV = METRICS / "cv.json"
CV_PLOTS = METRICS / "cv_plots"


def cv_fold_file(fold: int) -> Path:
    return CV_FOLDS / f"fold_{fold}.json"
