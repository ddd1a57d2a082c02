"""``shoprec registry``: register, propose, approve, promote, roll back, verify, trace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from shoprec.cli.common import (
    ByOption,
    ParamsOption,
    ReasonOption,
    RegistryOption,
    console,
    open_registry_from,
    promotion_settings,
    readable_errors,
)
from shoprec.errors import ShoprecError

registry_app = typer.Typer(
    help="The model registry: register, approve, promote, roll back, verify, trace.",
    no_args_is_help=True,
)


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
    from shoprec.release.lineage import lineage

    if not directory.is_dir():
        raise ShoprecError(f"{directory}: no such model folder")
    store = open_registry_from(registry, params)
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
    from shoprec.release.propose import check_servability

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
    from shoprec.release.propose import propose
    from shoprec.render.gate import gate_table
    from shoprec.render.table import to_rich

    loaded = load_params(params)
    store = open_registry_from(registry, params)
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
    console.print(to_rich(gate_table(proposal.gate.as_dict())))
    if proposal.version is None:
        raise ShoprecError(f"gate failed for {name}: " + "; ".join(proposal.gate.reasons))
    console.print(
        f"registered {name} v{proposal.version}: pending approval. Next:\n"
        f"  shoprec registry approve {name} {proposal.version} --by NAME --reason TEXT\n"
        f"  shoprec registry promote {name} {proposal.version} --by NAME"
    )


@registry_app.command("list")
@readable_errors
def registry_list(
    registry: RegistryOption = None, params: ParamsOption = Path("params.yaml")
) -> None:
    """Every model and version with its status and the aliases pointing at it."""
    from rich.table import Table

    store = open_registry_from(registry, params)
    alias = promotion_settings(params).alias
    table = Table(title=f"registry {store.store.location}", title_justify="left")
    for column in ("model", "version", "status", "aliases", "registered"):
        table.add_column(column)
    for name in store.models():
        pointer = store.alias(name, alias) or {}
        for info in store.versions(name):
            aliases = alias if pointer.get("version") == info.version else ""
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

    info = open_registry_from(registry, params).info(name, version)
    print(json.dumps({"status": info.status, "manifest": info.manifest}, indent=2))


def _decide(decision: str, name: str, version: int, by: str, reason: str, uri, params) -> None:
    from shoprec.release.promotion import resume_waiting_flow, waiting_flow_run

    store = open_registry_from(uri, params)
    store.decide(name, version, decision, by, reason)
    console.print(f"{name} v{version}: {decision} by {escape(by)}")
    if waiting_flow_run(store, name, version):
        with console.status("telling the waiting training flow…"):
            said = resume_waiting_flow(store, name, version, decision == "approved", by, reason)
        console.print(said)


def _decision_command(command_name: str, decision: str, help_text: str) -> None:
    """``approve`` and ``reject``: the same arguments, a different decision."""

    def command(
        name: str,
        version: int,
        by: ByOption,
        reason: ReasonOption,
        registry: RegistryOption = None,
        params: ParamsOption = Path("params.yaml"),
    ) -> None:
        _decide(decision, name, version, by, reason, registry, params)

    command.__doc__ = help_text
    registry_app.command(command_name)(readable_errors(command))


_decision_command(
    "approve",
    "approved",
    "Approve a complete version (once); only approved versions can be promoted.",
)
_decision_command(
    "reject", "rejected", "Reject a complete version (once); it can never be promoted."
)


@registry_app.command("promote")
@readable_errors
def registry_promote(
    name: str,
    version: int,
    by: ByOption,
    reason: ReasonOption = "",
    alias: Annotated[
        str | None, typer.Option(help="The alias to move (default: promotion.alias).")
    ] = None,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Point an alias (promotion.alias by default) at an approved version. Run from the project that
    trained it, the data in its dvc.lock is first pushed to the DVC remote (promotion.dvc_remote)
    so the version's lineage can always be pulled back."""
    from shoprec.release.promotion import promote_with_data

    store = open_registry_from(registry, params)
    root, remote = _data_remote(store, params)
    alias = alias or promotion_settings(params).alias
    with console.status(f"pushing the data to {remote}…"):
        done = promote_with_data(store, name, version, by, reason, alias, root, remote)
    console.print(f"{name}: {alias} → v{version} ({escape(done.data)})")


def _data_remote(store, params: Path) -> tuple[Path | None, str]:
    """The project root (None without a parameters file) and its DVC remote URL."""
    from shoprec.release.promotion import dvc_remote_url

    root = params.resolve().parent if params.is_file() else None
    configured = promotion_settings(params)
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
    from shoprec.release.lineage import dvc_lock_hashes
    from shoprec.release.promotion import push_data

    store = open_registry_from(registry, params)
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
    alias: Annotated[
        str | None, typer.Option(help="The alias to move back (default: promotion.alias).")
    ] = None,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Point an alias back at the version it held before."""
    alias = alias or promotion_settings(params).alias
    version = open_registry_from(registry, params).rollback(name, by, reason, alias)
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
    problems = open_registry_from(registry, params).verify(name, version)
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

    from shoprec.release.lineage import restore_command

    store = open_registry_from(registry, params)
    info = store.info(name, version)
    events = [e for e in store.audit_log(name) if e.get("version") == version]
    out = {"status": info.status, **((info.manifest or {}).get("lineage") or {}), "audit": events}
    pushed = [e["remote"] for e in events if e["action"] == "data_pushed"]
    commit = (out.get("git") or {}).get("commit")
    restore = restore_command(commit, pushed[-1] if pushed else None)
    if restore:
        out["restore_data"] = restore
    print(json.dumps(out, indent=2))
