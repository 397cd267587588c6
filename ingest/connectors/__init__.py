"""The kinds of source `docent sync` reads, by name.

Each kind is a class named as "module:Class" and imported only when a source of that kind is configured (the
vendors' SDKs are not imported by a process that never syncs). A connector class has a pydantic `Options`
model (unknown options are errors) and is built with `Class.from_options(options)`; the options it receives
have their secrets resolved already (see `resolve_secrets`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

from ingest.connectors.base import Connector
from retrieval.errors import ConfigError

KINDS: dict[str, str] = {
    "folder": "ingest.connectors.folder:FolderConnector",
    "s3": "ingest.connectors.s3:S3Connector",
    "web": "ingest.connectors.web:WebConnector",
    "git": "ingest.connectors.git:GitConnector",
    "confluence": "ingest.connectors.confluence:ConfluenceConnector",
    "sharepoint": "ingest.connectors.sharepoint:SharePointConnector",
}


def resolve_secrets(options: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Options with secrets kept out of the configuration: `<name>_env: VAR` becomes `<name>` with the value of
    the environment variable VAR, and `<name>_file: PATH` the contents of the file (a mounted Kubernetes
    Secret), stripped of surrounding whitespace. A missing variable or file is a configuration error."""
    resolved: dict[str, Any] = {}
    for key, value in options.items():
        if key.endswith("_env") and isinstance(value, str):
            name = key.removesuffix("_env")
            if value not in environ:
                raise ConfigError(f"option {name!r}: the environment variable {value} is not set")
            resolved[name] = environ[value]
        elif key.endswith("_file") and isinstance(value, str):
            name = key.removesuffix("_file")
            try:
                resolved[name] = Path(value).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"option {name!r}: cannot read {value}: {exc.strerror}") from exc
        else:
            resolved[key] = value
    return resolved


def make_connector(kind: str, options: Mapping[str, Any]) -> Connector:
    """A connector of `kind` built from `options` (secrets resolved here)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown source kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    module, _, name = KINDS[kind].partition(":")
    cls = getattr(import_module(module), name)
    connector: Connector = cls.from_options(resolve_secrets(options))
    return connector
