"""``shoprec console``: the review pages of model promotion, and ``console add-user``."""

from __future__ import annotations

import ipaddress
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from shoprec.cli.common import (
    ParamsOption,
    RegistryOption,
    console,
    err_console,
    open_registry_from,
    promotion_settings,
    readable_errors,
)
from shoprec.errors import ConfigError

console_app = typer.Typer(
    help="The review pages of model promotion: compare, approve, reject, promote, roll back.",
    invoke_without_command=True,
)
UsersFileOption = Annotated[
    Path | None,
    typer.Option("--users-file", help="Default: console.users_file (project-relative)."),
]


def _users_file(users_file: Path | None, params: Path) -> Path:
    from shoprec.config import ConsoleParams, load_params

    if users_file is not None:
        return users_file
    settings = load_params(params).console if params.is_file() else ConsoleParams()
    path = settings.users_file
    return path if path.is_absolute() else params.resolve().parent / path


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@console_app.callback()
@readable_errors
def serve_console(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default: console.host (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default: console.port.")] = None,
    registry: RegistryOption = None,
    users_file: UsersFileOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Serve the review pages (sign in with a user of `shoprec console add-user`). Binds
    127.0.0.1 unless --host says otherwise: HTTP Basic over plain HTTP."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from shoprec.config import ConsoleParams, GateParams, load_params
    from shoprec.console.app import ConsoleSettings, create_app
    from shoprec.console.auth import UserStore

    loaded = load_params(params) if params.is_file() else None
    settings = loaded.console if loaded else ConsoleParams()
    path = _users_file(users_file, params)
    users = UserStore(path)
    if not users.users():
        raise ConfigError(
            f"{path}: no console users yet; add one with "
            "shoprec console add-user NAME --role reviewer"
        )
    store = open_registry_from(registry, params)
    promotion = promotion_settings(params)
    app = create_app(
        store,
        users,
        ConsoleSettings(
            alias=promotion.alias,
            metric=(loaded.gate if loaded else GateParams()).metric,
            project_root=params.resolve().parent if params.is_file() else None,
            dvc_remote=promotion.dvc_remote,
        ),
    )
    host, port = host or settings.host, port or settings.port
    if not is_loopback(host):
        err_console.print(
            f"[yellow]warning:[/yellow] binding {escape(host)}: passwords travel in HTTP Basic "
            "over plain HTTP; put a TLS proxy in front or keep to 127.0.0.1"
        )
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stopped)
    console.print(f"shoprec console on http://{host}:{port} ({escape(store.store.location)})")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _stopped(signum, frame) -> None:
    raise SystemExit(0)


def _read_password() -> str:
    """From a hidden prompt (asked twice) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@console_app.command("add-user")
@readable_errors
def add_user(
    name: Annotated[str, typer.Argument(help="The name recorded in the audit log.")],
    role: Annotated[
        str, typer.Option(help="reviewer (decides) or read-only (sees everything).")
    ] = "reviewer",
    token: Annotated[
        bool,
        typer.Option(
            "--token", help="Mint a bearer token for scripts (printed once) instead of a password."
        ),
    ] = False,
    users_file: UsersFileOption = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Add or update a console user. The password is read from a hidden prompt or from stdin,
    never from the command line; only its argon2 hash is stored."""
    from shoprec.console.auth import add_user as store_user
    from shoprec.console.auth import mint_token

    path = _users_file(users_file, params)
    if token:
        store_user(path, name, role)
        print(mint_token(path, name))
        err_console.print(
            f"token for {escape(name)} ({role}) stored hashed in {path}: it is shown only once"
        )
        return
    store_user(path, name, role, _read_password())
    console.print(f"{escape(name)} ({role}) can sign in: {path}")
