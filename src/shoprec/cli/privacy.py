"""``shoprec privacy``: forget a user, list the deletion list, show a user's pseudonym.

``forget`` is the one way to honour a deletion request: the entry on the deletion list (which
ingest applies on the next ``dvc repro`` and the service polls), the user's rows taken out of
the batch outputs already written, and the request in the registry's audit log. Only the id
as shoprec stores it (the pseudonym when pseudonymisation is on) is written or printed.
"""

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
    readable_errors,
)
from shoprec.errors import ConfigError, ShoprecError

privacy_app = typer.Typer(
    help="Privacy: forget a user, the deletion list, pseudonyms (docs/privacy.md).",
    no_args_is_help=True,
)

UserArgument = Annotated[
    str, typer.Argument(help="The user's id: the raw id, or its pseudonym when pseudonymised.")
]


def _project(params: Path):
    from shoprec.config import load_params

    if not params.is_file():
        raise ConfigError(f"{params}: no such parameters file (run in the project, or pass -p)")
    return load_params(params), params.resolve().parent


def stored_id(user_id: str, privacy, root: Path) -> str:
    """The id as shoprec stores it: the pseudonym when pseudonymisation is on (a pseudonym
    given stays itself), else the id as given (stripped)."""
    from shoprec.privacy.pseudonym import pseudonymiser

    user_id = user_id.strip()
    if not user_id:
        raise ShoprecError("the user id is empty")
    pseudonym = pseudonymiser(privacy, root)
    return pseudonym(user_id) if pseudonym else user_id


@privacy_app.command("forget")
@readable_errors
def forget(
    user_id: UserArgument,
    by: ByOption,
    reason: ReasonOption,
    registry: RegistryOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Forget a user: add them to the deletion list (ingest quarantines their events as
    `erased`, so the next training run leaves them out), remove their rows from the batch
    outputs already written, and record the request in the registry's audit log."""
    from shoprec.batch_scoring.erase import erase_users
    from shoprec.batch_scoring.score import resolve_output
    from shoprec.privacy.erasures import ErasureList

    if not by.strip() or not reason.strip():
        raise ShoprecError("a deletion request needs who records it (--by) and why (--reason)")
    p, root = _project(params)
    stored = stored_id(user_id, p.privacy, root)
    erasures = ErasureList.open(p.privacy, root)
    entry, new = erasures.add(stored, by, reason)
    batch = erase_users(resolve_output(p.batch_scoring.output, root), {stored})
    audit = open_registry_from(registry, params)
    models = sorted({p.serving.model, p.batch_scoring.model})
    for model in models:
        audit.audit(model, "forget", by, reason, user_id=stored, new_entry=new)
    shown = escape(stored)
    state = "added to" if new else f"already on (since {entry.requested_at})"
    console.print(f"{shown}: {state} the deletion list in {escape(erasures.store.location)}")
    console.print(
        f"batch outputs under {escape(batch.output)}: {batch.parts_rewritten} of "
        f"{batch.parts_read} part(s) rewritten, {batch.rows_removed} row(s) removed"
    )
    console.print(
        f"audit log: recorded for {', '.join(models)} in {escape(audit.store.location)}",
        soft_wrap=True,
    )
    console.print(
        f"a running service drops the user within privacy.poll_interval_s "
        f"({p.privacy.poll_interval_s:g} s); the next `dvc repro` quarantines their events "
        "(reason erased) and retrains without them"
    )


@privacy_app.command("list")
@readable_errors
def list_erasures(params: ParamsOption = Path("params.yaml")) -> None:
    """The deletion list: one line per forgotten user (the id as stored), who and why."""
    from rich.table import Table

    from shoprec.privacy.erasures import ErasureList

    p, root = _project(params)
    erasures = ErasureList.open(p.privacy, root)
    entries = erasures.entries()
    if not entries:
        console.print(f"the deletion list in {escape(erasures.store.location)} is empty")
        return
    table = Table("user (as stored)", "requested at", "by", "reason")
    for e in entries:
        table.add_row(escape(e.user_id), e.requested_at, escape(e.by), escape(e.reason))
    console.print(table)
    console.print(f"{len(entries)} user(s) in {escape(erasures.store.location)}")


@privacy_app.command("pseudonym")
@readable_errors
def pseudonym(user_id: UserArgument, params: ParamsOption = Path("params.yaml")) -> None:
    """Print the user's pseudonym (to find their rows in batch outputs or the data)."""
    p, root = _project(params)
    if not p.privacy.pseudonymise_users:
        raise ConfigError(
            "privacy.pseudonymise_users is off: user ids are stored as they are, not pseudonymised"
        )
    console.print(stored_id(user_id, p.privacy, root), highlight=False)
