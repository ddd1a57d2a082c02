"""The ``shoprec`` command line: the same entry points the DVC stages and flows use."""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from shoprec.errors import ShoprecError

app = typer.Typer(
    help="shoprec: train, evaluate and compare product recommenders for an online shop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Make and inspect data in the canonical events/items form.", no_args_is_help=True
)
flow_app = typer.Typer(help="Run the Prefect flows.", no_args_is_help=True)
app.add_typer(data_app, name="data")
registry_app = typer.Typer(
    help="The model registry: register, approve, promote, roll back, verify, trace.",
    no_args_is_help=True,
)
app.add_typer(flow_app, name="flow")
app.add_typer(registry_app, name="registry")
from shoprec.serving.batch_cli import batch_app  # noqa: E402  (a Typer app, no heavy imports)

app.add_typer(batch_app, name="batch")

console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., object])


def readable_errors(func: F) -> F:
    """Turn a user-caused error into one red line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ShoprecError as exc:
            err_console.print(
                f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


ParamsOption = Annotated[
    Path, typer.Option("--params", "-p", help="Parameters file.", show_default=True)
]


@data_app.command("generate")
@readable_errors
def data_generate(
    out: Annotated[
        Path, typer.Option(help="Directory to write events.parquet and items.parquet to.")
    ],
    users: Annotated[int, typer.Option(help="Number of shoppers.", min=1)] = 4000,
    items: Annotated[int, typer.Option(help="Number of catalogue items.", min=1)] = 2000,
    days: Annotated[int, typer.Option(help="Length of the event log in days.", min=1)] = 56,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same shop.")] = 42,
) -> None:
    """Generate the synthetic shop: events.parquet and items.parquet in OUT."""
    from shoprec.data.synthetic import generate_shop
    from shoprec.io import write_parquet

    if out.exists() and not out.is_dir():
        raise ShoprecError(f"{out}: exists and is not a directory")
    with console.status("generating the synthetic shop…"):
        events, catalogue = generate_shop(users=users, items=items, days=days, seed=seed)
    write_parquet(events, out / "events.parquet")
    write_parquet(catalogue, out / "items.parquet")
    counts = events["event_type"].value_counts().to_dict()
    console.print(
        f"wrote {len(events):,} events ({', '.join(f'{k} {v:,}' for k, v in counts.items())}) "
        f"and {len(catalogue):,} items to {out}/"
    )


@app.command("stage")
@readable_errors
def stage(
    name: Annotated[
        str,
        typer.Argument(
            help="ingest | validate | split | features | train | train_two_tower | "
            "train_ranker | evaluate"
        ),
    ],
    model: Annotated[str | None, typer.Argument(help="With train: the model to fit.")] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Run one pipeline stage in the current directory, without DVC's bookkeeping.

    Prefer `dvc repro -s NAME` (or `dvc repro train@MODEL`), which also records the outputs.
    """
    from shoprec.config import load_params
    from shoprec.stages import STAGE_PARAMS, configure_logging, run_stage

    if name not in STAGE_PARAMS:
        raise ShoprecError(f"unknown stage {name!r}; stages: {', '.join(STAGE_PARAMS)}")
    configure_logging()
    run_stage(name, load_params(params), *([model] if model else []))


@app.command("validate")
@readable_errors
def validate(
    events: Annotated[Path, typer.Option(help="Events file: CSV, CSV.gz or Parquet.")],
    items: Annotated[Path, typer.Option(help="Items (catalogue) file: CSV, CSV.gz or Parquet.")],
    report: Annotated[
        Path | None, typer.Option(help="Directory for the HTML report and its JSON summary.")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Profile of the previous accepted batch: volume and event mix are compared "
            "with it, and an accepted batch is written there as the new one."
        ),
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Check an export against the data contracts (the rules of the validate stage).

    Exit 0 when the batch is accepted (bad rows are counted as quarantined), exit 1 with the
    reason when it is rejected. Uses the `validation` section of the parameters file; the
    suite paths in it are relative to that file's folder (the project root).
    """
    from rich.table import Table

    from shoprec.config import load_params
    from shoprec.validation.batch import validate_files

    settings = load_params(params).validation.relative_to(params.resolve().parent)
    with console.status("validating…"):
        outcome = validate_files(events, items, settings, baseline, report)
    table = Table(title="rows", title_justify="left")
    for column in ("table", "in", "accepted", "quarantined", "reasons"):
        table.add_column(column, justify="left" if column in ("table", "reasons") else "right")
    for name, counts in outcome.counts().items():
        reasons = ", ".join(
            f"{escape(r)} {n:,}" for r, n in outcome.checks[name].reason_counts().items()
        )
        table.add_row(
            name, *(f"{counts[k]:,}" for k in ("in", "accepted", "quarantined")), reasons or "—"
        )
    console.print(table)
    for note in outcome.notes:
        console.print(f"[dim]{note}[/dim]")
    if report is not None:
        console.print(f"report: {escape(str(report / 'index.html'))}", highlight=False)
    if not outcome.accepted:
        raise ShoprecError(f"batch rejected: {outcome.message}")
    console.print("[green]batch accepted[/green]")


@app.command("params")
@readable_errors
def show_params(params: ParamsOption = Path("params.yaml")) -> None:
    """Check the parameters file and print it with every default filled in."""
    import yaml

    from shoprec.config import load_params

    loaded = load_params(params)
    console.print(yaml.safe_dump(loaded.model_dump(mode="json"), sort_keys=False), highlight=False)


@app.command("metrics")
@readable_errors
def metrics(
    path: Annotated[Path, typer.Option(help="Metrics file written by the evaluate stage.")] = Path(
        "metrics/evaluation.json"
    ),
) -> None:
    """Print the test metrics table of the last evaluation."""
    from shoprec.evaluation.report import load_metrics_table

    console.print(load_metrics_table(path, path.with_name("confidence_intervals.json")))


@app.command("recommend")
@readable_errors
def recommend(
    user_ids: Annotated[list[str], typer.Argument(help="One or more known user ids.")],
    model: Annotated[Path, typer.Option(help="A saved model folder.")] = Path("models/two_stage"),
    k: Annotated[int, typer.Option("--k", "-k", help="How many items.", min=1, max=1000)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead.")] = False,
) -> None:
    """Recommend items for known users; the two-stage model also says why.

    Each reason names the features behind it and, for "bought with" and "similar to"
    reasons, the item of the user's own history it comes from.
    """
    import json

    from rich.table import Table

    from shoprec.models import load_model
    from shoprec.ranking.two_stage import TwoStageRecommender

    loaded = load_model(model)
    if isinstance(loaded, TwoStageRecommender):
        table = loaded.recommend_with_reasons(user_ids, k=k)
    else:
        table = loaded.recommend(user_ids, k=k).assign(source=loaded.name)
        table["reasons"] = [[] for _ in range(len(table))]
    if as_json:
        for record in table.to_dict(orient="records"):
            print(json.dumps(record, default=float))
        return
    for user_id, rows in table.groupby("user_id", sort=False):
        out = Table(
            title=f"{escape(str(user_id))}: top {k} from {loaded.name}", title_justify="left"
        )
        for column in ("rank", "item", "score", "why"):
            out.add_column(column, justify="right" if column in ("rank", "score") else "left")
        for row in rows.itertuples():
            why = "; ".join(r["text"] for r in row.reasons) or (
                "popular overall" if row.source == "popularity_fallback" else "—"
            )
            item = f"{row.item_id} {row.title}" if getattr(row, "title", "") else str(row.item_id)
            out.add_row(str(row.rank), escape(item), f"{row.score:.3f}", escape(why))
        console.print(out)


RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="s3://bucket/prefix or a folder; default: $SHOPREC_REGISTRY_URI, else registry.uri "
        "in the parameters file.",
    ),
]
ByOption = Annotated[str, typer.Option("--by", help="Who does this (recorded in the audit log).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]


def _registry(uri: str | None, params: Path):
    from shoprec.config import load_params
    from shoprec.registry import Registry, open_registry, open_store

    if uri:
        return Registry(open_store(uri))
    return open_registry(load_params(params).registry.uri, params.resolve().parent)


@registry_app.command("register")
@readable_errors
def registry_register(
    name: Annotated[str, typer.Argument(help="Model name in the registry, e.g. two_stage.")],
    directory: Annotated[Path, typer.Argument(help="The saved model folder to upload.")],
    by: ByOption,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Upload a saved model as a new version, with its lineage (data hashes from dvc.lock,
    params, git commit, test metrics). It starts pending: approve it before promoting it."""
    from shoprec.registry.lineage import lineage

    if not directory.is_dir():
        raise ShoprecError(f"{directory}: no such model folder")
    store = _registry(registry, params)
    root = params.resolve().parent

    with console.status(f"uploading {directory} to {store.store.location}…"):
        version = store.register(name, directory, by, {"lineage": lineage(root, name)})
    servable = _servability(store, name, version, directory)
    console.print(
        f"registered {name} v{version} (pending approval; servability {servable}) "
        f"in {store.store.location}"
    )


def _servability(store, name: str, version: int, directory: Path) -> str:
    """Round-trip check when the folder is a shoprec model; other files are left unchecked
    (and so cannot be approved)."""
    from shoprec.models.base import METADATA_FILE
    from shoprec.registry.propose import check_servability

    if not (directory / METADATA_FILE).is_file():
        return "not checked: not a shoprec model folder"
    with console.status("checking that it loads and recommends in a fresh process…"):
        return (
            "passed" if check_servability(store, name, version, directory)["passed"] else "FAILED"
        )


@registry_app.command("propose")
@readable_errors
def registry_propose(
    by: ByOption,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Run the evaluation gate on the pipeline's candidate model (gate.model in the parameters
    file) and, if it passes, register it for approval. Exit 1 with the reasons if it fails."""
    from shoprec.config import load_params
    from shoprec.registry.propose import propose

    loaded = load_params(params)
    store = _registry(registry, params)
    root = params.resolve().parent
    with console.status("running the evaluation gate…"):
        proposal = propose(root, loaded, store, by)
    name = loaded.gate.model
    if proposal.gate is None:
        status = store.info(name, proposal.version).status
        console.print(
            f"{name}: these files are already registered as v{proposal.version} ({status})"
        )
        return
    console.print(gate_table(proposal.gate))
    if proposal.version is None:
        raise ShoprecError(f"gate failed for {name}: " + "; ".join(proposal.gate.reasons))
    console.print(
        f"registered {name} v{proposal.version}: pending approval. Next:\n"
        f"  shoprec registry approve {name} {proposal.version} --by NAME --reason TEXT\n"
        f"  shoprec registry promote {name} {proposal.version} --by NAME"
    )


def gate_table(result):
    from rich.table import Table

    verdict = "[green]passed[/green]" if result.passed else "[red]FAILED[/red]"
    table = Table(title=f"evaluation gate for {result.model}: {verdict}", title_justify="left")
    for column in ("check", "value", "threshold", "verdict"):
        table.add_column(column)
    for c in result.checks:
        value = "—" if c.value is None else f"{c.value:.4f}"
        table.add_row(
            escape(c.name),
            value,
            escape(c.threshold),
            "pass" if c.passed else f"[red]fail[/red] {escape(c.detail)}",
        )
    return table


@registry_app.command("list")
@readable_errors
def registry_list(
    registry: RegistryOption = None, params: ParamsOption = Path("params.yaml")
) -> None:
    """Every model and version with its status and the aliases pointing at it."""
    from rich.table import Table

    store = _registry(registry, params)
    table = Table(title=f"registry {store.store.location}", title_justify="left")
    for column in ("model", "version", "status", "aliases", "registered"):
        table.add_column(column)
    for name in store.models():
        production = store.alias(name, "production") or {}
        for info in store.versions(name):
            aliases = "production" if production.get("version") == info.version else ""
            when = (info.manifest or {}).get("registered_at", "")
            table.add_row(name, str(info.version), info.status, aliases, when)
    console.print(table)


@registry_app.command("show")
@readable_errors
def registry_show(
    name: str,
    version: int,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """The version's status and manifest (files with sha256, metrics, lineage)."""
    import json

    info = _registry(registry, params).info(name, version)
    print(json.dumps({"status": info.status, "manifest": info.manifest}, indent=2))


def _decide(decision: str, name: str, version: int, by: str, reason: str, uri, params) -> None:
    from shoprec.registry.promotion import resume_waiting_flow, waiting_flow_run

    store = _registry(uri, params)
    store.decide(name, version, decision, by, reason)
    console.print(f"{name} v{version}: {decision} by {escape(by)}")
    if waiting_flow_run(store, name, version):
        with console.status("telling the waiting training flow…"):
            said = resume_waiting_flow(store, name, version, decision == "approved", by, reason)
        console.print(said)


@registry_app.command("approve")
@readable_errors
def registry_approve(
    name: str,
    version: int,
    by: ByOption,
    reason: ReasonOption,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Approve a complete version (once); only approved versions can be promoted."""
    _decide("approved", name, version, by, reason, registry, params)


@registry_app.command("reject")
@readable_errors
def registry_reject(
    name: str,
    version: int,
    by: ByOption,
    reason: ReasonOption,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Reject a complete version (once); it can never be promoted."""
    _decide("rejected", name, version, by, reason, registry, params)


@registry_app.command("promote")
@readable_errors
def registry_promote(
    name: str,
    version: int,
    by: ByOption,
    reason: ReasonOption = "",
    alias: Annotated[str, typer.Option(help="The alias to move.")] = "production",
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Point an alias (production by default) at an approved version. Run from the project that
    trained it, the data in its dvc.lock is first pushed to the DVC remote (promotion.dvc_remote)
    so the version's lineage can always be pulled back."""
    from shoprec.registry.promotion import promote_with_data

    store = _registry(registry, params)
    root, remote = _data_remote(store, params)
    with console.status(f"pushing the data to {remote}…"):
        done = promote_with_data(store, name, version, by, reason, alias, root, remote)
    console.print(f"{name}: {alias} → v{version} ({escape(done.data)})")


def _data_remote(store, params: Path) -> tuple[Path | None, str]:
    """The project root (None without a parameters file) and its DVC remote URL."""
    from shoprec.config import PromotionParams, load_params
    from shoprec.registry.promotion import dvc_remote_url

    root = params.resolve().parent if params.is_file() else None
    configured = load_params(params).promotion if root else PromotionParams()
    return root, dvc_remote_url(configured.dvc_remote, store.store.location, root or ".")


@registry_app.command("push-data")
@readable_errors
def registry_push_data(
    name: str,
    version: int,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Push the data a version was trained on (this project's dvc.lock outputs, which must be
    the version's) to the DVC remote (promotion.dvc_remote)."""
    from shoprec.registry.lineage import dvc_lock_hashes
    from shoprec.registry.promotion import push_data

    store = _registry(registry, params)
    root, remote = _data_remote(store, params)
    wanted = ((store.info(name, version).manifest or {}).get("lineage") or {}).get("data")
    if root is None or not wanted or dvc_lock_hashes(root) != wanted:
        raise ShoprecError(
            f"this project's dvc.lock does not hold {name} v{version}'s data hashes: check out "
            "its commit (shoprec registry lineage) and run dvc repro first"
        )
    with console.status(f"pushing the data to {remote}…"):
        said = push_data(root, remote)
    store.audit(name, "data_pushed", "cli", remote=remote, version=int(version))
    console.print(f"{name} v{version}: {escape(said)} → {remote}")


@registry_app.command("rollback")
@readable_errors
def registry_rollback(
    name: str,
    by: ByOption,
    reason: ReasonOption = "",
    alias: Annotated[str, typer.Option(help="The alias to move back.")] = "production",
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Point an alias back at the version it held before."""
    version = _registry(registry, params).rollback(name, by, reason, alias)
    console.print(f"{name}: {alias} → v{version} (rolled back)")


@registry_app.command("verify")
@readable_errors
def registry_verify(
    name: str,
    version: int,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Re-compute every file's sha256 against the manifest; exit 1 on any mismatch."""
    problems = _registry(registry, params).verify(name, version)
    if problems:
        shown = "; ".join(f"{f}: {p}" for f, p in sorted(problems.items())[:5])
        raise ShoprecError(f"{name} v{version} failed verification: {shown}")
    console.print(f"{name} v{version}: every file matches its sha256")


@registry_app.command("lineage")
@readable_errors
def registry_lineage(
    name: str,
    version: int,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Data hashes (dvc.lock), params, git commit, metrics and the audit trail of a version."""
    import json

    store = _registry(registry, params)
    info = store.info(name, version)
    events = [e for e in store.audit_log(name) if e.get("version") == version]
    out = {"status": info.status, **((info.manifest or {}).get("lineage") or {}), "audit": events}
    pushed = [e["remote"] for e in events if e["action"] == "data_pushed"]
    commit = (out.get("git") or {}).get("commit")
    if pushed and commit:
        out["restore_data"] = (
            f"git checkout {commit} && dvc remote add --local -f shoprec {pushed[-1]} && "
            "dvc pull --remote shoprec"
        )
    print(json.dumps(out, indent=2))


def _load_flow_module(project_dir: Path, name: str):
    path = project_dir / "flows" / f"{name}.py"
    if not path.is_file():
        raise ShoprecError(
            f"{path}: flow not found; run from the project root or pass --project-dir"
        )
    spec = importlib.util.spec_from_file_location(f"shoprec_flows_{name}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@flow_app.command("train")
@readable_errors
def flow_train(
    project_dir: Annotated[Path, typer.Option(help="Project root (with dvc.yaml).")] = Path("."),
    force: Annotated[bool, typer.Option(help="Re-run every stage even if unchanged.")] = False,
    gate: Annotated[
        bool, typer.Option(help="Gate, register and wait for approval after the stages.")
    ] = True,
    by: Annotated[str, typer.Option(help="Who registers (recorded in the audit log).")] = "prefect",
) -> None:
    """Run the training flow (all DVC stages as Prefect tasks), print the metrics table, then
    gate, register and wait for approval (promotion.* in the parameters file).

    Uses the Prefect API in PREFECT_API_URL, or a temporary local one when it is unset.
    """
    from shoprec.evaluation.report import metrics_table
    from shoprec.io import read_json

    module = _load_flow_module(project_dir, "training")
    logging.getLogger("prefect").setLevel(logging.WARNING)
    try:
        result = module.training_flow(project_dir=str(project_dir), force=force, gate=gate, by=by)
    except ShoprecError:
        raise
    except Exception as exc:  # Prefect wraps some failures; keep the message readable
        raise ShoprecError(f"training flow failed: {exc}") from None
    intervals_path = project_dir / "metrics" / "confidence_intervals.json"
    intervals = read_json(intervals_path) if intervals_path.is_file() else {}
    console.print(metrics_table(result["metrics"], intervals))
    outcome = result["registry"]
    if outcome:
        where = f" v{outcome['version']}" if outcome["version"] else ""
        reasons = "; ".join(outcome.get("reasons", []))
        console.print(f"{outcome['model']}{where}: {outcome['status']} {escape(reasons)}".strip())


@app.command("serve")
@readable_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Default: serving.host.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: serving.port.")] = None,
    registry: RegistryOption = None,
    model: Annotated[str | None, typer.Option(help="Registry model name (serving.model).")] = None,
    alias: Annotated[str | None, typer.Option(help="The alias to follow (serving.alias).")] = None,
    items: Annotated[
        Path | None, typer.Option(help="Items Parquet for titles and prices (serving.items).")
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Serve recommendations over HTTP from the model behind the alias (verified, hot-reloaded).

    OpenAPI docs at /docs; /readyz turns ready once a verified model is loaded."""
    import uvicorn

    from shoprec.config import load_params
    from shoprec.serving.app import ServiceSettings, create_app
    from shoprec.serving.reloader import ModelHolder

    s = load_params(params).serving
    root = params.resolve().parent
    items_path = items or (root / s.items)
    holder = ModelHolder(
        _registry(registry, params), model or s.model, alias or s.alias, items_path
    )
    with console.status("loading the model behind the alias…"):
        holder.refresh()
    if holder.current is None:
        console.print(f"[yellow]not ready yet:[/yellow] {escape(str(holder.last_error))}")
    else:
        console.print(f"serving {holder.name} v{holder.current.version} ({holder.alias})")
    settings = ServiceSettings(s.default_k, s.max_k, s.session_events, s.poll_interval_s)
    uvicorn.run(
        create_app(holder, settings), host=host or s.host, port=port or s.port, log_level="warning"
    )


def main() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())
