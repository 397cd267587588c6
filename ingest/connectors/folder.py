"""A folder (a mounted share, a synced drive) as a named source: the same files `docent sync PATH` reads, but
known by the source's name and their path under the root, with the source's ACL."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from ingest.connectors.base import FetchError, SourceDocument, SourceUnavailableError
from ingest.discovery import discover
from retrieval.errors import ConfigError


class FolderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path


class FolderConnector:
    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        try:
            return cls(FolderOptions.model_validate(options).path)
        except ValidationError as exc:
            raise ConfigError(f"folder source: {exc}") from exc

    def documents(self) -> Iterator[SourceDocument]:
        if not self.root.is_dir():  # an unmounted share must not read as "every file deleted"
            raise SourceUnavailableError(f"folder {self.root} is missing or not a folder")
        for path in discover([self.root]):
            stat = path.stat()
            yield SourceDocument(
                key=path.relative_to(self.root).as_posix(),
                marker=f"{stat.st_mtime_ns}-{stat.st_size}",
                name=path.name,
                modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                size=stat.st_size,
            )

    def fetch(self, document: SourceDocument, *, max_bytes: int) -> bytes:
        path = self.root / document.key
        try:
            with path.open("rb") as f:
                return f.read(max_bytes + 1)
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror}") from exc

    def close(self) -> None:
        pass
