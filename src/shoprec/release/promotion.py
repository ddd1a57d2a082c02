"""Promotion: push the version's data to the DVC remote, then move the alias.

The manifest of every version records the ``dvc.lock`` hashes of the data it was trained on.
DVC's remote is content-addressed by those hashes, so pushing the outputs before the alias
moves means a production version's data can always be fetched back:
``git checkout <commit> && dvc pull -r shoprec``. The remote lives on the same store as the
registry, under another prefix (``<registry>-dvc`` unless ``promotion.dvc_remote`` says).

A training flow waiting for approval records its flow run id in the audit log
(``awaiting_approval``); ``shoprec registry approve/reject`` resumes it with the decision.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from shoprec.registry import RegistryError
from shoprec.registry.registry import Registry
from shoprec.release.lineage import dvc_lock_hashes
from shoprec.stages.dvc_runner import last_error, run_dvc

log = logging.getLogger(__name__)
DVC_REMOTE_ENV = "SHOPREC_DVC_REMOTE"
REMOTE_NAME = "shoprec"


def dvc_remote_url(configured: str, registry_location: str, root: str | Path = ".") -> str:
    """``SHOPREC_DVC_REMOTE``, else ``promotion.dvc_remote``, else beside the registry:
    ``s3://bucket/prefix`` → ``s3://bucket/prefix-dvc`` (``s3://bucket`` → ``s3://bucket/dvc``),
    a folder ``.../registry`` → ``.../registry-dvc``. A relative folder is taken from ``root``."""
    url = os.environ.get(DVC_REMOTE_ENV) or configured
    if not url:
        base = registry_location.rstrip("/")
        url = f"{base}/dvc" if re.fullmatch(r"s3://[^/]+", base) else f"{base}-dvc"
    if url.startswith("s3://") or Path(url).is_absolute():
        return url
    return str((Path(root) / url).resolve())


def configure_remote(root: str | Path, url: str) -> None:
    """Point the DVC remote ``shoprec`` of this project at ``url`` (in ``.dvc/config.local``,
    which git ignores); an S3 endpoint comes from ``AWS_ENDPOINT_URL`` when it is set."""
    commands = [["remote", "add", "--local", "--force", REMOTE_NAME, url]]
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if url.startswith("s3://") and endpoint:
        commands.append(["remote", "modify", "--local", REMOTE_NAME, "endpointurl", endpoint])
    for args in commands:
        proc = run_dvc(args, root)
        if proc.returncode != 0:
            raise RegistryError(
                f"cannot configure the DVC remote {url}: {last_error(proc.stdout + proc.stderr)}"
            )


def _transfer(direction: str, root: str | Path, url: str, targets: list[str]) -> str:
    configure_remote(root, url)
    proc = run_dvc([direction, "--remote", REMOTE_NAME, *targets], root)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise RegistryError(f"dvc {direction} to {url} failed: {last_error(output)}")
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else f"dvc {direction}: done"


def push_data(root: str | Path, url: str) -> str:
    """``dvc push`` every output in ``dvc.lock`` to ``url``; returns DVC's summary line."""
    return _transfer("push", root, url, [])


def pull_data(root: str | Path, url: str, targets: list[str] | None = None) -> str:
    """``dvc pull`` (all outputs, or ``targets``) from ``url``; returns DVC's summary line."""
    return _transfer("pull", root, url, targets or [])


@dataclass
class Promotion:
    version: int
    alias: str
    data: str  # what happened to the data: DVC's summary, or why it was not pushed


def promote_with_data(
    registry: Registry,
    name: str,
    version: int,
    by: str,
    reason: str,
    alias: str,
    root: str | Path | None,
    remote_url: str,
) -> Promotion:
    """Push the data (when ``root`` holds this version's ``dvc.lock``), then move the alias.

    Without matching data here (a promotion from another checkout) the alias still moves; the
    data was pushed when the version was promoted from its own project, or can be pushed there
    with ``shoprec registry push-data``."""
    info = registry.info(name, version)
    if info.status != "approved":
        raise RegistryError(
            f"{name} v{version} is {info.status}: only an approved version can be promoted"
        )
    wanted = (info.manifest.get("lineage") or {}).get("data") or {}
    if root is None:
        data = "data not pushed: no project given"
    elif not wanted:
        data = f"data not pushed: v{version} records no DVC data hashes"
    elif dvc_lock_hashes(Path(root)) == wanted:
        data = push_data(root, remote_url)
        registry.audit(name, "data_pushed", by, remote=remote_url, version=int(version))
    else:
        data = (
            f"data not pushed: {Path(root).resolve()}/dvc.lock does not hold v{version}'s data "
            "hashes (push it from the project that trained it)"
        )
    registry.promote(name, version, by, reason, alias)
    return Promotion(int(version), alias, data)


def waiting_flow_run(registry: Registry, name: str, version: int) -> str | None:
    """The id of the last flow run that said it waits for a decision on this version."""
    waits = [
        e
        for e in registry.audit_log(name)
        if e["action"] == "awaiting_approval" and e.get("version") == int(version)
    ]
    return waits[-1].get("flow_run_id") if waits else None


def _run_is_final(flow_run_id: str) -> bool:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    return state is None or state.is_final()


def resume_waiting_flow(
    registry: Registry,
    name: str,
    version: int,
    approve: bool,
    by: str,
    reason: str,
    settle_s: float = 30.0,
) -> str:
    """Resume the paused training flow waiting on this version, if any; a one-line outcome.

    The decision itself is already in the registry; this only wakes the flow so it promotes
    now instead of at its timeout."""
    flow_run_id = waiting_flow_run(registry, name, version)
    if flow_run_id is None:
        return "no training flow is waiting on this version"
    try:
        from prefect.exceptions import FlowPauseTimeout, NotPausedError
        from prefect.flow_runs import resume_flow_run

        run_input = {"approve": approve, "by": by, "reason": reason}
        # The flow records "awaiting_approval" just before it pauses: a decision in between
        # finds it not paused yet, so try again for a little while instead of leaving the
        # run asleep until its timeout.
        deadline = time.monotonic() + settle_s
        while True:
            try:
                resume_flow_run(flow_run_id, run_input=run_input)
                break
            except NotPausedError:
                if time.monotonic() > deadline or _run_is_final(flow_run_id):
                    raise
                time.sleep(0.5)
    except FlowPauseTimeout:
        return f"flow run {flow_run_id} stopped waiting (timed out)"
    except Exception as exc:  # a finished run, or no Prefect API here: the decision stands
        return f"flow run {flow_run_id} not resumed ({type(exc).__name__}: {exc})"
    return f"resumed the training flow run {flow_run_id}"
