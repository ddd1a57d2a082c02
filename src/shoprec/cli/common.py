"""What every ``shoprec`` command shares: the console, readable errors, common options and
the registry named by them."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from shoprec.errors import ShoprecError

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


def open_registry_from(uri: str | None, params: Path):
    from shoprec.config import load_params
    from shoprec.registry import Registry, open_registry, open_store

    if uri:
        return Registry(open_store(uri))
    return open_registry(load_params(params).registry.uri, params.resolve().parent)


def promotion_settings(params: Path):
    """``promotion`` from the parameters file, or its defaults where there is no such file
    (a registry used from outside a project)."""
    from shoprec.config import PromotionParams, load_params

    return load_params(params).promotion if params.is_file() else PromotionParams()
