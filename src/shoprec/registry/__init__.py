"""The model registry: versions, approvals, aliases and an audit log on S3 or a local folder."""

from __future__ import annotations

import os
from pathlib import Path

from shoprec.registry.registry import Registry, RegistryError, VersionInfo, check_name
from shoprec.storage import (
    LocalStore,
    NotFound,
    PreconditionFailed,
    S3Store,
    open_store,
)

REGISTRY_ENV = "SHOPREC_REGISTRY_URI"


def registry_uri(configured: str | Path, root: str | Path = ".") -> str:
    """``SHOPREC_REGISTRY_URI`` when set, else ``registry.uri`` from params.yaml; a relative
    folder is taken relative to the project ``root``."""
    uri = os.environ.get(REGISTRY_ENV) or str(configured)
    if uri.startswith("s3://"):
        return uri
    path = Path(uri)
    return str(path if path.is_absolute() else Path(root) / path)


def open_registry(configured: str | Path, root: str | Path = ".") -> Registry:
    return Registry(open_store(registry_uri(configured, root)))


__all__ = [
    "REGISTRY_ENV",
    "LocalStore",
    "NotFound",
    "PreconditionFailed",
    "Registry",
    "RegistryError",
    "S3Store",
    "VersionInfo",
    "check_name",
    "open_registry",
    "registry_uri",
]
