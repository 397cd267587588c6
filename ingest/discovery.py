"""Finding the files to ingest and giving each a stable identity."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from retrieval.errors import PathNotFoundError

_DOCUMENT_NAMESPACE = uuid.UUID("0b6f3c1e-2d4a-5e8f-9a1b-7c3d2e1f0a9b")


def discover(paths: Iterable[Path], *, exclude: Iterable[Path] = ()) -> list[Path]:
    """Regular files under `paths`, sorted, skipping hidden entries, Office lock files (~$x.docx) and
    anything under `exclude` (the index's own data folder, when it lies inside a folder being ingested)."""
    excluded = [Path(e).expanduser().resolve() for e in exclude]
    found: set[Path] = set()
    for root in paths:
        root = Path(root).expanduser()
        if not root.exists():
            raise PathNotFoundError(f"no such file or folder: {root}")
        if root.is_file():
            found.add(root.resolve())
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and (Path(folder) / d).resolve() not in excluded]
            for name in files:
                path = Path(folder) / name
                if not name.startswith((".", "~$")) and path.is_file():
                    found.add(path.resolve())
    return sorted(found)


def source_of(path: Path) -> str:
    """The source a document is known by: its absolute path."""
    return str(path.resolve())


def document_id(source: str) -> str:
    return str(uuid.uuid5(_DOCUMENT_NAMESPACE, source))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def under_roots(source: str, roots: Iterable[Path]) -> bool:
    """Whether `source` is one of the root files or lies inside one of the root folders."""
    for root in roots:
        root_str = str(Path(root).expanduser().resolve())
        if source == root_str or source.startswith(root_str.rstrip(os.sep) + os.sep):
            return True
    return False
