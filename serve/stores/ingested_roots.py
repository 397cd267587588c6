"""The files and folders `docent ingest` (and `docent sync`) were given here, recorded under DOCENT_DATA_DIR.

The API serves a document's original file only from under one of these, the uploads folder or a configured
root (serve/documents.py), so a plain `docent ingest ./docs; docent serve` can open its sources with no setting,
and a symlink or a moved source still cannot lead out of what an operator chose to index.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


class IngestedRoots:
    """A JSON list of resolved paths at `path`; reading a missing or unreadable file gives no roots."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> tuple[Path, ...]:
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ()
        return tuple(Path(e) for e in entries if isinstance(e, str) and os.path.isabs(e))

    def add(self, paths: Iterable[Path]) -> None:
        """Record `paths` (resolved) besides those already recorded; written whole to a temporary file and
        moved into place, so a reader never sees half a list."""
        known = [str(p) for p in self.read()]
        for path in paths:
            resolved = str(Path(path).resolve())
            if resolved not in known:
                known.append(resolved)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False, encoding="utf-8") as out:
            json.dump(known, out, ensure_ascii=False, indent=1)
        Path(out.name).replace(self.path)
