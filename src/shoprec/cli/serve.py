"""``shoprec serve``: the recommendation service over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from shoprec.cli.common import (
    ParamsOption,
    RegistryOption,
    console,
    open_registry_from,
    readable_errors,
)

serve_app = typer.Typer()


@serve_app.command("serve")
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
        open_registry_from(registry, params), model or s.model, alias or s.alias, items_path
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
