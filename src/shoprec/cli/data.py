"""``shoprec data``: make data in the canonical events/items form."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shoprec.cli.common import (
    console,
    readable_errors,
)
from shoprec.errors import ShoprecError

data_app = typer.Typer(
    help="Make and inspect data in the canonical events/items form.", no_args_is_help=True
)


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
