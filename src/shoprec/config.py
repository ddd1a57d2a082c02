"""Typed parameters, loaded once from ``params.yaml`` (the one place every tunable lives).

Stages and flows call ``load_params()`` and pass plain values on to library functions.
A missing file, malformed YAML or an out-of-range value raises ``ConfigError`` with the
dotted path of the offending key, so the user gets one readable line.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from shoprec.errors import ConfigError

DEFAULT_PARAMS_PATH = Path("params.yaml")

EventType = Literal["view", "addtocart", "purchase"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticSource(_Strict):
    """The built-in synthetic shop (deterministic by seed)."""

    source: Literal["synthetic"] = "synthetic"
    users: PositiveInt = 4000
    items: PositiveInt = 2000
    days: PositiveInt = 56
    seed: int = 42


class FilesSource(_Strict):
    """Canonical events/items tables as CSV(.gz) or Parquet files."""

    source: Literal["files"]
    events: Path
    items: Path


class OnlineRetailSource(_Strict):
    """The UCI Online Retail transaction log, read as published."""

    source: Literal["online_retail"]
    path: Path


class S3RecSource(_Strict):
    """Sequence files in the S3-Rec format (``user item item …`` per line), e.g. Amazon Toys;
    ``attributes`` defaults to ``<stem>_item2attributes.json`` beside ``path``."""

    source: Literal["s3rec"]
    path: Path
    attributes: Path | None = None


DataSource = Annotated[
    SyntheticSource | FilesSource | OnlineRetailSource | S3RecSource,
    Field(discriminator="source"),
]


class SplitParams(_Strict):
    """How interactions are split into train / validation / test (never at random)."""

    strategy: Literal["temporal", "leave_last_out"] = "temporal"
    test_days: PositiveInt = 14
    validation_days: PositiveInt = 14
    min_holdout_events: PositiveInt = Field(
        3, description="leave_last_out: users with fewer target events stay wholly in train"
    )


class FeatureParams(_Strict):
    """How events become the user × item interaction matrix."""

    event_weights: dict[EventType, float] = Field(
        default_factory=lambda: {"view": 1.0, "addtocart": 3.0, "purchase": 5.0}
    )
    transform: Literal["sum", "log1p", "binary"] = "log1p"


class MostPopularParams(_Strict):
    measure: Literal["users", "weight"] = "users"


class ItemKNNParams(_Strict):
    neighbors: PositiveInt = 100
    shrinkage: float = Field(10.0, ge=0)


class EASEParams(_Strict):
    l2: PositiveFloat = 500.0
    max_items: PositiveInt = 30000


ModelName = Literal["most_popular", "itemknn", "ease"]


class TrainParams(_Strict):
    models: list[ModelName] = Field(
        default_factory=lambda: ["most_popular", "itemknn", "ease"], min_length=1
    )
    two_tower: bool = True
    sequential: bool = True
    two_stage: bool = True

    def evaluated(self) -> list[str]:
        """Every model the evaluate stage scores: the baselines, then each switched-on model
        trained from events by its own stage."""
        switches = {"two_tower": self.two_tower, "sequential": self.sequential}
        switches["two_stage"] = self.two_stage
        return list(self.models) + [name for name, on in switches.items() if on]


class TwoTowerParams(_Strict):
    """The TensorFlow two-tower retrieval model (see shoprec.models.two_tower)."""

    embedding_dim: PositiveInt = 64
    history_length: PositiveInt = 20
    temperature: PositiveFloat = 0.1
    learning_rate: PositiveFloat = 0.001
    batch_size: PositiveInt = 1024
    epochs: PositiveInt = 10
    patience: PositiveInt = 3
    id_dropout: float = Field(0.15, ge=0, lt=1)
    random_negatives: int = Field(0, ge=0)
    user_hash_bins: PositiveInt = 50_000
    n_price_buckets: PositiveInt = 16
    early_stopping_k: PositiveInt = 20
    refit: bool = True
    seed: int = 42


class SequentialParams(_Strict):
    """The SASRec-style sequential model (see shoprec.models.sequential)."""

    embedding_dim: PositiveInt = 64
    max_length: PositiveInt = 50  # recent events the model attends over
    blocks: PositiveInt = 2
    heads: PositiveInt = 2
    dropout: float = Field(0.3, ge=0, lt=1)
    id_dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: PositiveFloat = 0.002
    batch_size: PositiveInt = 256  # x4 (and mixed precision) when TensorFlow sees a GPU
    epochs: PositiveInt = 30  # at most; early stopping on validation NDCG@10
    patience: PositiveInt = 3
    full_softmax_max_items: PositiveInt = 50_000  # above this: sampled softmax
    sampled_negatives: PositiveInt = 500  # shared per batch, logQ-corrected
    max_windows_per_user: PositiveInt = 8  # training windows of max_length + 1 events per user
    n_price_buckets: PositiveInt = 16
    title_hash_bins: PositiveInt = 2**15
    early_stopping_k: PositiveInt = 10
    refit: bool = True  # retrain on train + validation for the best epochs
    seed: int = 42


class CandidateSizes(_Strict):
    """How many items each retrieval source proposes per user (0 turns a source off)."""

    two_tower: NonNegativeInt = 100
    sequential: NonNegativeInt = 100
    itemknn: NonNegativeInt = 100
    ease: NonNegativeInt = 100
    covisit: NonNegativeInt = 50
    popular_recent: NonNegativeInt = 30
    popular_category: NonNegativeInt = 30


class BoosterParams(_Strict):
    """XGBoost learning-to-rank settings (``tree_method`` is always ``hist``)."""

    objective: Literal["rank:ndcg", "rank:pairwise", "rank:map"] = "rank:ndcg"
    learning_rate: PositiveFloat = 0.1
    max_depth: PositiveInt = 3
    min_child_weight: float = Field(20.0, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    lambdarank_pair_method: Literal["topk", "mean"] = "topk"
    lambdarank_num_pair_per_sample: PositiveInt = 8
    eval_k: PositiveInt = 10
    num_boost_round: PositiveInt = 500
    early_stopping_rounds: PositiveInt = 30


class TwoStageParams(_Strict):
    """Candidates from several sources, ranked by XGBoost (see shoprec.ranking)."""

    candidates: CandidateSizes = CandidateSizes()
    session_gap_minutes: PositiveFloat = 30.0
    covisit_neighbors: PositiveInt = 100
    covisit_shrinkage: float = Field(10.0, ge=0)
    popularity_windows_days: list[PositiveInt] = Field(
        default_factory=lambda: [1, 7, 30], min_length=1
    )
    recency_half_life_days: PositiveFloat = 7.0
    label_grades: dict[EventType, NonNegativeInt] = Field(
        default_factory=lambda: {"view": 1, "addtocart": 2, "purchase": 3}
    )
    max_query_users: PositiveInt = 50_000
    holdout_share: float = Field(0.2, gt=0, lt=1)
    booster: BoosterParams = BoosterParams()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    reasons: PositiveInt = 3
    # items without any history at the cut, proposed by a content-aware source (two_tower,
    # sequential), keep that source's rank in the final list: the ranker's popularity
    # features cannot bury the cold-start ability of those sources
    cold_items_at_source_rank: bool = True
    seed: int = 42


class ModelParams(_Strict):
    most_popular: MostPopularParams = MostPopularParams()
    itemknn: ItemKNNParams = ItemKNNParams()
    ease: EASEParams = EASEParams()
    two_tower: TwoTowerParams = TwoTowerParams()
    sequential: SequentialParams = SequentialParams()
    two_stage: TwoStageParams = TwoStageParams()


class BootstrapParams(_Strict):
    samples: PositiveInt = 1000
    confidence: float = Field(0.95, gt=0, lt=1)
    seed: int = 0


class TargetParams(_Strict):
    """What counts as a positive: the split (who has a target), the training recipes (labels
    and early stopping) and the evaluation all read this one section."""

    relevant_event_types: list[EventType] = Field(
        default_factory=lambda: ["addtocart", "purchase"], min_length=1
    )
    # false: items seen before the target period are neither ranked nor targets
    repeat_purchases: bool = False


class CrossValidationParams(_Strict):
    """Rolling-origin folds: fold k slides the validation and test windows back by k·step_days
    (``temporal``) or holds out each user's k-th-from-last target (``leave_last_out``)."""

    # the fold numbers, one DVC stage each (cv_fold@k); 0 is today's split. A list, not a
    # count, because DVC's foreach iterates a list: [0, 1, 2] is three folds.
    folds: list[NonNegativeInt] = Field(default_factory=list)
    step_days: PositiveInt = 14  # temporal: how far each fold slides back

    @field_validator("folds")
    @classmethod
    def _distinct(cls, folds: list[int]) -> list[int]:
        if len(set(folds)) != len(folds):
            raise ValueError(f"evaluation.cv.folds lists a fold twice: {folds}")
        return sorted(folds)


class SegmentParams(_Strict):
    """The user and item segments every metric is also reported on (metrics/segments.json)."""

    # history length (events before the user's test cut) bins: [3, 10] is 1–2, 3–9, 10+
    history_edges: list[PositiveInt] = Field(default_factory=lambda: [3, 10], min_length=1)
    # head items: this share of the items with history, the most popular (distinct users
    # before the test cut); the tail is every other item with history; new items have none
    head_items: float = Field(0.2, gt=0, lt=1)

    @field_validator("history_edges")
    @classmethod
    def _increasing(cls, edges: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(edges)) or edges[0] < 2:
            raise ValueError(
                f"evaluation.segments.history_edges must rise and start at 2 or more: {edges}"
            )
        return edges


class EvaluationParams(_Strict):
    ks: list[PositiveInt] = Field(default_factory=lambda: [5, 10, 20, 50], min_length=1)
    bootstrap: BootstrapParams = BootstrapParams()
    segments: SegmentParams = SegmentParams()
    cv: CrossValidationParams = CrossValidationParams()

    @model_validator(mode="before")
    @classmethod
    def _moved_to_targets(cls, data: object) -> object:
        moved = [k for k in ("relevant_event_types", "repeat_purchases") if k in (data or {})]
        if isinstance(data, dict) and moved:
            raise ValueError(
                f"{', '.join(moved)} moved from evaluation: to the targets: section "
                "(what counts as a positive is read by split, training and evaluation)"
            )
        return data


class RatioBounds(_Strict):
    """Allowed ratio of a batch figure to the same figure of the previous accepted batch."""

    min_ratio: PositiveFloat = 0.5
    max_ratio: PositiveFloat = 3.0


class ValidationParams(_Strict):
    events_suite: Path = Path("expectations/events.json")
    items_suite: Path = Path("expectations/items.json")
    features_suite: Path = Path("expectations/features.json")
    max_bad_row_share: float = Field(0.05, ge=0, le=1)
    min_timestamp: AwareDatetime = datetime(1995, 1, 1, tzinfo=UTC)
    max_future_minutes: NonNegativeInt = 60
    max_id_length: PositiveInt = 64
    max_text_length: PositiveInt = 1000
    max_price: PositiveFloat = 1_000_000.0
    max_quantity: PositiveFloat = 100_000.0
    max_events_per_user: PositiveInt = 20_000
    max_feature_value: PositiveFloat = 1_000_000.0
    volume: RatioBounds = RatioBounds(min_ratio=0.5, max_ratio=3.0)
    max_event_mix_kl: PositiveFloat = 0.1
    items_per_user: RatioBounds = RatioBounds(min_ratio=0.5, max_ratio=2.0)

    def relative_to(self, root: str | Path) -> ValidationParams:
        """The same settings with the suite paths resolved against the project ``root``."""
        suites = ("events_suite", "items_suite", "features_suite")
        return self.model_copy(update={name: Path(root) / getattr(self, name) for name in suites})


class GateParams(_Strict):
    """What a model must show before it can be proposed for production."""

    model: str = "two_stage"  # the candidate the pipeline proposes
    metric: str = Field("ndcg@10", pattern=r"^[a-z]+@\d+$")
    floors: dict[str, float] = Field(default_factory=lambda: {"ndcg@10": 0.02, "recall@20": 0.05})
    min_lift_over_baselines: float = 0.0  # relative, over the best baseline of the same run
    min_lift_over_production: float = 0.0  # relative, over the champion re-scored now
    require_significance: bool = True  # paired bootstrap interval of the difference above 0
    bootstrap_samples: PositiveInt = 1000
    confidence: float = Field(0.95, gt=0, lt=1)
    max_model_mb: PositiveFloat = 2000.0
    max_latency_ms: PositiveFloat = 200.0  # p95 of recommend() for one user
    latency_users: PositiveInt = 200
    # cross-validation (evaluation.cv): the candidate must beat the best baseline, and the
    # production model where its folds match, in at least this many folds (0: not checked)
    min_folds_won: NonNegativeInt = 0
    # the verdict names the weakest segment (metrics/segments.json) among those this large
    min_segment_users: PositiveInt = 20


class RegistryParams(_Strict):
    """Where model versions live: ``s3://bucket/prefix`` or a folder (relative to the project).
    ``SHOPREC_REGISTRY_URI`` overrides it."""

    uri: str = "registry"


class PromotionParams(_Strict):
    """What happens to a version that passed the gate, in the training flow."""

    require_approval: bool = True  # false: promote automatically (development only)
    approval_timeout_s: PositiveInt = 86400  # then the version stays pending; approve later
    poll_interval_s: PositiveInt = 10  # how often the paused flow checks for a decision
    alias: str = "production"
    # where `dvc push` sends the data of a promoted version: s3://bucket/prefix or a folder;
    # empty means beside the registry (<registry>-dvc); SHOPREC_DVC_REMOTE overrides it
    dvc_remote: str = ""


class ServingParams(_Strict):
    """``shoprec serve``: which registry model it serves and how it answers."""

    model: str = "two_stage"
    alias: str = "production"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    poll_interval_s: PositiveFloat = 30.0  # how often the alias is checked for a new version
    default_k: PositiveInt = 10
    max_k: PositiveInt = 100
    session_events: PositiveInt = 50  # recent events kept in memory per user (POST /v1/events)
    items: str = "data/validated/items.parquet"  # titles, prices, categories (folder-relative)
    workers: PositiveInt = 1  # processes behind the port; they share one copy of the model
    # two-stage: each known user's top N ranked when a version loads, the first M explained;
    # requests within them cost a lookup; others (category filters, sessions) rank live
    precomputed_items: NonNegativeInt = 100
    explained_items: NonNegativeInt = 20
    # TF Serving's REST predict API (/v1/models/{name}:predict): model name -> TF Serving base
    # path (<version>/saved_model.pb, folder-relative); a path that is not there is skipped
    savedmodels: dict[str, str] = Field(
        default_factory=lambda: {
            "sequential": "models/sequential/savedmodel",
            "two_tower": "models/two_tower/tower/user_tower_savedmodel",
        }
    )
    # what the service recommended, as Parquet parts: a folder (project-relative) or
    # s3://bucket/prefix; empty: not recorded. Written in the background every flush interval
    impressions: str = ""
    impressions_flush_s: PositiveFloat = 1.0


class BatchScoringParams(_Strict):
    """The nightly batch: top-K for every active user, written as Parquet parts."""

    model: str = "two_stage"
    alias: str = "production"
    output: str = "batch/recommendations"  # a folder (project-relative) or s3://bucket/prefix
    k: PositiveInt = 20
    chunk_size: PositiveInt = 5000
    active_days: int = Field(30, ge=0)  # an event in the last N days; 0: every known user
    events: str = "data/validated/events.parquet"


class ComputeParams(_Strict):
    """Where the heavy work runs: this process (``local``) or a Dask cluster (``dask``).

    With ``dask`` and no ``address`` shoprec starts a ``distributed.LocalCluster`` of
    ``n_workers`` processes; with an address (``tcp://host:8786``) it connects to the user's
    scheduler. ``SHOPREC_DASK_ADDRESS`` overrides the address. Results equal the local
    engine's (docs/scaling.md)."""

    engine: Literal["local", "dask"] = "local"
    address: str | None = None
    n_workers: PositiveInt = 2
    threads_per_worker: PositiveInt = 1
    memory_limit: str = "auto"  # per LocalCluster worker, e.g. "6GiB"
    partition_rows: PositiveInt = 2_000_000  # events per partition, ingest chunk, split batch

    def resolved_address(self) -> str | None:
        return os.environ.get("SHOPREC_DASK_ADDRESS") or self.address


class PrivacyParams(_Strict):
    """Pseudonymised user ids and the deletion list (docs/privacy.md).

    With ``pseudonymise_users`` every user id is replaced at ingest (and by the service, on
    each request) by a keyed HMAC-SHA256; the key comes from ``SHOPREC_ID_KEY`` or the file
    named by ``key_file``, never from this file. ``erasures`` is where ``shoprec privacy
    forget`` records deletion requests: a folder (project-relative) or s3://bucket/prefix."""

    pseudonymise_users: bool = False
    key_file: Path | None = None
    erasures: str = "privacy/erasures"
    poll_interval_s: PositiveFloat = 2.0  # how often the service reads the deletion list


class MonitoringParams(_Strict):
    """The nightly monitoring flow (flows/monitoring.py): thresholds of its three checks."""

    model: str = "two_stage"
    alias: str = "production"
    events: str = "data/validated/events.parquet"  # the latest events (project-relative)
    items: str = "data/validated/items.parquet"
    days: PositiveInt = 7  # how many of the latest days of events and impressions are checked
    attribution_hours: PositiveFloat = 24.0  # an add-to-cart or purchase this soon after counts
    min_impressions: PositiveInt = 100  # fewer: the served checks are not judged
    min_events: PositiveInt = 100  # fewer latest events: data drift is not judged
    # data drift (distances: 0 is the training data's distribution; Jensen-Shannon at most
    # 0.83, normed Wasserstein unbounded)
    max_event_mix_distance: float = Field(0.1, ge=0, le=1)
    max_items_per_user_distance: float = Field(0.1, ge=0, le=1)
    max_price_distance: float = Field(0.1, ge=0, le=1)
    max_category_distance: float = Field(0.1, ge=0, le=1)
    max_new_item_share: float = Field(0.3, ge=0, le=1)
    # recommendation drift: served lists against the offline evaluation of the same version
    min_coverage_ratio: PositiveFloat = 0.5
    max_popularity_ratio: PositiveFloat = 1.5
    min_novelty_ratio: PositiveFloat = 0.8
    max_fallback_share: float = Field(0.5, ge=0, le=1)
    # online quality: a breach when the upper end of a version's 95% Wilson interval of the
    # followed share is below this (the data show it is lower); 0 turns the check off
    min_followed_share: float = Field(0.0, ge=0, le=1)
    trigger_training: bool = True  # a breach starts the training deployment
    training_deployment: str = "shoprec-training/nightly-training"
    report_dir: str = "reports/monitoring"


class ConsoleParams(_Strict):
    """``shoprec console``: the review pages of model promotion (docs/console.md).

    ``users_file`` holds the reviewers' names, roles and argon2 hashes (``shoprec console
    add-user``); it is project-relative and never committed with real users."""

    users_file: Path = Path("console/users.json")
    host: str = "127.0.0.1"  # loopback: HTTP Basic over plain HTTP must not leave the machine
    port: int = Field(8080, ge=1, le=65535)


class Params(_Strict):
    data: DataSource = SyntheticSource()
    split: SplitParams = SplitParams()
    features: FeatureParams = FeatureParams()
    train: TrainParams = TrainParams()
    models: ModelParams = ModelParams()
    targets: TargetParams = TargetParams()
    evaluation: EvaluationParams = EvaluationParams()
    validation: ValidationParams = ValidationParams()
    registry: RegistryParams = RegistryParams()
    gate: GateParams = GateParams()
    promotion: PromotionParams = PromotionParams()
    serving: ServingParams = ServingParams()
    batch_scoring: BatchScoringParams = BatchScoringParams()
    compute: ComputeParams = ComputeParams()
    privacy: PrivacyParams = PrivacyParams()
    monitoring: MonitoringParams = MonitoringParams()
    console: ConsoleParams = ConsoleParams()


SOURCES = ("synthetic", "files", "online_retail")


def _describe(error: dict) -> str:
    parts = [str(p) for p in error["loc"]]
    # pydantic puts the union member in the path (data.files.items): the user wrote data.items
    if len(parts) > 1 and parts[0] == "data" and parts[1] in SOURCES:
        del parts[1]
    # "[key]" marks an error in a mapping's key (features.event_weights.click.[key])
    location = ".".join(p for p in parts if p != "[key]")
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{location or '<top>'}: {error['msg']}{shown}"


def parse_params(raw: object, origin: str = "params") -> Params:
    """Validate an already-parsed mapping; raise ``ConfigError`` on the first bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{origin}: expected a mapping at the top level, got {type(raw).__name__}"
        )
    data = raw.get("data")
    if isinstance(data, dict) and "source" not in data:
        raise ConfigError(f"{origin}: data.source: required, one of {', '.join(SOURCES)}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors()[:3])
        raise ConfigError(f"{origin}: {problems}") from None


def load_params(path: str | Path = DEFAULT_PARAMS_PATH) -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such parameters file (run from the project root)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:  # its own text spans several lines: keep the gist
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_params(raw, str(path))


__all__ = ["Params", "load_params", "parse_params"]
