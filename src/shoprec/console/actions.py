"""The decisions a reviewer takes in the console, through the functions ``shoprec registry``
uses: ``Registry.decide`` then ``resume_waiting_flow`` (a training flow run paused for this
version wakes with the decision, as after ``shoprec registry approve``), ``promote_with_data``
(the data in this project's dvc.lock is pushed to the DVC remote first when it is the
version's), ``Registry.rollback``. ``by`` is always the signed-in user's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shoprec.registry import Registry
from shoprec.release.promotion import (
    dvc_remote_url,
    promote_with_data,
    resume_waiting_flow,
    waiting_flow_run,
)


@dataclass(frozen=True)
class ActionSettings:
    alias: str = "production"
    project_root: Path | None = None  # the project whose dvc.lock may hold the version's data
    dvc_remote: str = ""  # promotion.dvc_remote


def decide(registry: Registry, name: str, version: int, approve: bool, by: str, reason: str) -> str:
    """Approve or reject once; wake the training flow run waiting on it. The outcome, one line."""
    decision = "approved" if approve else "rejected"
    registry.decide(name, version, decision, by, reason)
    said = f"{name} v{version}: {decision} by {by}"
    if waiting_flow_run(registry, name, version):
        said += "; " + resume_waiting_flow(registry, name, version, approve, by, reason)
    return said


def promote(
    registry: Registry, settings: ActionSettings, name: str, version: int, by: str, reason: str
) -> str:
    root = settings.project_root
    remote = dvc_remote_url(settings.dvc_remote, registry.store.location, root or ".")
    done = promote_with_data(registry, name, version, by, reason, settings.alias, root, remote)
    return f"{name}: {settings.alias} → v{version} ({done.data})"


def rollback(registry: Registry, settings: ActionSettings, name: str, by: str, reason: str) -> str:
    version = registry.rollback(name, by, reason, settings.alias)
    return f"{name}: {settings.alias} → v{version} (rolled back)"
