"""``shoprec serve``: the recommendation service over HTTP."""

from __future__ import annotations

import shutil
import signal
import tempfile
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
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes sharing the port (serving.workers)."),
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Serve recommendations over HTTP from the model behind the alias (verified, hot-reloaded).

    OpenAPI docs at /docs; /readyz turns ready once a verified model is loaded. With
    serving.impressions set, every answer is recorded there (written on a clean stop); with
    privacy.pseudonymise_users, incoming user ids are pseudonymised (the key must be there)."""
    import uvicorn

    from shoprec.config import load_params
    from shoprec.impressions import ImpressionWriter, open_log
    from shoprec.privacy.erasures import ErasureList
    from shoprec.privacy.pseudonym import pseudonymiser

    everything = load_params(params)
    s = everything.serving
    root = params.resolve().parent
    pseudonymise = pseudonymiser(everything.privacy, root)  # no key: one clear error, no start
    if s.impressions:
        open_log(s.impressions, root)  # a malformed location stops here, not in a worker

    def app_parts() -> dict:
        """What each serving process opens for itself (after the fork with workers)."""
        return {
            "impressions": (
                ImpressionWriter(open_log(s.impressions, root), s.impressions_flush_s)
                if s.impressions
                else None
            ),
            "pseudonymise": pseudonymise,
            "erasures": ErasureList.open(everything.privacy, root),
        }

    workers = workers or s.workers
    host, port = host or s.host, port or s.port
    shared = Path(tempfile.mkdtemp(prefix="shoprec-serve-")) if workers > 1 else None
    if shared is not None:  # before prometheus-client makes its first metric
        from shoprec.serving.workers import enable_multiprocess_metrics

        (shared / "metrics").mkdir()
        enable_multiprocess_metrics(str(shared / "metrics"))

    from shoprec.serving.app import ServiceSettings, create_app
    from shoprec.serving.engine import Precompute
    from shoprec.serving.reloader import ModelHolder

    settings = ServiceSettings(
        s.default_k,
        s.max_k,
        s.session_events,
        s.poll_interval_s,
        everything.privacy.poll_interval_s,
    )
    # TF Serving's REST predict API over the exported SavedModels (missing folders: skipped)
    savedmodels = {name: root / base for name, base in s.savedmodels.items()}

    def make_holder() -> ModelHolder:
        return ModelHolder(
            open_registry_from(registry, params),
            model or s.model,
            alias or s.alias,
            items or (root / s.items),
            workdir=shared / "versions" if shared else None,
            precompute=Precompute(s.precomputed_items, s.explained_items),
        )

    if shared is None:
        # SIGTERM / SIGINT: uvicorn stops gracefully (the lifespan writes the last impressions)
        # and raises the signal again afterwards; here that ends the command with status 0
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, _stopped)
        holder = make_holder()
        with console.status("loading the model behind the alias…"):
            holder.refresh()
        if holder.current is None:
            console.print(f"[yellow]not ready yet:[/yellow] {escape(str(holder.last_error))}")
        else:
            console.print(f"serving {holder.name} v{holder.current.version} ({holder.alias})")
        app = create_app(holder, settings, savedmodels=savedmodels, **app_parts())
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return

    from shoprec.serving.workers import bind, preload, run_workers

    def make_server() -> uvicorn.Server:  # in each worker: it loads the model at startup
        app = create_app(make_holder(), settings, savedmodels=savedmodels, **app_parts())
        return uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))

    sock = bind(host, port)
    preload(model or s.model)  # imported before the fork: the workers share those pages
    console.print(f"{workers} workers on {host}:{port}; each turns ready once it has the model")
    try:
        run_workers(make_server, sock, workers)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _stopped(signum, frame) -> None:
    raise SystemExit(0)
