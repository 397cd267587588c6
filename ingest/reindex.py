"""`docent reindex`: rebuild the index into a new version from the documents' sources, then switch to it.

Changing what is in the index (a new embedding model, the multilingual vector, another chunk size) changes
every point. Rebuilding in place would mix old and new vectors while it runs, so the rebuild goes into a new
version beside the one that serves (`retrieval.versions`):

1. The documents of the serving version are listed with their sources and access (`DocumentGrant`): read from
   the version itself, or, while `docent serve` holds the embedded store, from the server's `/v1/documents`.
2. Each source file (an ingested path or a stored upload) goes through the ingest pipeline of the *current
   settings* into the new version, grouped by access list and tags. A killed run resumes: the target version
   is remembered in a state file, and documents already complete in it are skipped like unchanged files.
3. A catch-up pass lists the documents again and indexes what changed meanwhile (uploads during the rebuild),
   and removes from the new version what was deleted.
4. The switch is refused when the new version holds fewer documents than the old (a source gone missing, a
   parser that now fails) unless forced; otherwise the pointer moves atomically. Serving processes with the
   same settings follow it within a second; others keep the old version until restarted with the new settings.
5. The old version stays until `--drop-old` (or a later `--drop`), so a bad model can be switched back.

Documents written to the old version after the catch-up and before the switch are not in the new one; the next
`docent ingest` or `sync` of their folder adds them (they are absent there, so they are not "unchanged").
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ingest.attachments import owner_source
from ingest.pipeline import FileDone, IngestPipeline
from ingest.sync import ConnectedSources
from retrieval.errors import ConfigError, IndexLockedError
from retrieval.models import DocumentGrant
from retrieval.versions import next_version, read_pointer, version_number, write_pointer

if TYPE_CHECKING:
    from qdrant_client import QdrantClient
    from qdrant_client.http.models import CreateAliasOperation, DeleteAliasOperation

log = logging.getLogger("docent.reindex")


class Versions(Protocol):
    """One collection's versions on one backend, and its pointer."""

    collection: str

    def names(self) -> list[str]:
        """The versions that exist (built or being built)."""
        ...

    def current(self) -> str: ...

    def switch(self, version: str) -> None:
        """Point the collection at `version`, atomically."""
        ...

    def drop(self, version: str) -> None:
        """Delete a version that does not serve; `IndexLockedError` while a process still has it open."""
        ...


class EdgeVersions:
    """The embedded store's versions: shard folders under `qdrant-edge/`, the pointer a file."""

    def __init__(self, data_dir: Path, collection: str) -> None:
        self.root = Path(data_dir) / "qdrant-edge"
        self.collection = collection

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = {p.stem for p in self.root.glob("*.json")} | {p.name for p in self.root.iterdir() if p.is_dir()}
        return sorted(
            (n for n in found if version_number(self.collection, n) is not None),
            key=lambda n: version_number(self.collection, n) or 0,
        )

    def current(self) -> str:
        return read_pointer(self.root, self.collection)

    def switch(self, version: str) -> None:
        if not (self.root / f"{version}.json").exists():
            raise ConfigError(f"index version {version!r} does not exist in {self.root}")
        write_pointer(self.root, self.collection, version)

    def drop(self, version: str) -> None:
        from retrieval.edge_index import _lock, _unlock

        if version == self.current():
            raise ConfigError(f"index version {version!r} is the one serving: switch to another first")
        fd = _lock(self.root / f"{version}.lock", self.root / version)  # nobody may still have it open
        try:
            shutil.rmtree(self.root / version, ignore_errors=True)
            (self.root / f"{version}.json").unlink(missing_ok=True)
        finally:
            _unlock(fd)
        (self.root / f"{version}.lock").unlink(missing_ok=True)


class ServerVersions:
    """A Qdrant server's versions: collections `<collection>` and `<collection>-v<n>`, the pointer an alias."""

    def __init__(self, client: QdrantClient, collection: str) -> None:
        self.client = client
        self.collection = collection

    def names(self) -> list[str]:
        names = [c.name for c in self.client.get_collections().collections]
        return sorted(
            (n for n in names if version_number(self.collection, n) is not None),
            key=lambda n: version_number(self.collection, n) or 0,
        )

    def current(self) -> str:
        from retrieval.qdrant_index import current_version

        return current_version(self.client, self.collection)

    def switch(self, version: str) -> None:
        from qdrant_client import models

        from retrieval.versions import ALIAS_SUFFIX

        if not self.client.collection_exists(version):
            raise ConfigError(f"index version {version!r} does not exist on the Qdrant server")
        alias = self.collection + ALIAS_SUFFIX
        operations: list[DeleteAliasOperation | CreateAliasOperation] = []
        if any(a.alias_name == alias for a in self.client.get_aliases().aliases):
            operations.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
        operations.append(
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=version, alias_name=alias))
        )
        self.client.update_collection_aliases(change_aliases_operations=operations)  # one request: atomic

    def drop(self, version: str) -> None:
        if version == self.current():
            raise ConfigError(f"index version {version!r} is the one serving: switch to another first")
        self.client.delete_collection(version)


@dataclass(slots=True)
class ReindexReport:
    source_version: str
    target: str
    documents_before: int = 0  # in the serving version, at the catch-up
    documents_after: int = 0  # in the new version
    indexed: int = 0
    unchanged: int = 0  # already complete in the new version (a resumed run)
    failed: list[dict[str, str]] = field(default_factory=list)  # source and reason
    missing: list[str] = field(default_factory=list)  # sources that no longer exist
    removed: int = 0  # in the new version but deleted from the old meanwhile
    resumed: bool = False
    switched: bool = False
    refused: str | None = None  # why the switch did not happen
    dropped: str | None = None  # the old version, when --drop-old deleted it
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class ReindexState:
    """The run in progress, in a small JSON file: which version it builds from which (for a resume)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str] | None:
        try:
            state: dict[str, str] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return state

    def save(self, source: str, target: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(
            json.dumps({"source": source, "target": target, "started_at": datetime.now(UTC).isoformat()}),
            encoding="utf-8",
        )

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def plan_target(versions: Versions, state: ReindexState) -> tuple[str, str, bool]:
    """(the serving version, the version to build, whether a killed run is resumed)."""
    current = versions.current()
    saved = state.load()
    if saved and saved.get("source") == current and saved.get("target") in versions.names():
        return current, saved["target"], True
    return current, next_version(versions.collection, versions.names()), False


def rebuild(
    grants: Iterable[DocumentGrant],
    pipeline: IngestPipeline,
    report: ReindexReport,
    on_file: Callable[[FileDone], None] = lambda done: None,
    sources: ConnectedSources | None = None,
) -> set[str]:
    """Index each document's source into the pipeline's (new) index with its access; the ids that exist.
    Documents of a configured source (S3, Confluence, ...) are rebuilt by syncing that source again."""
    groups: dict[tuple[tuple[str, ...], bool, tuple[str, ...]], list[Path]] = {}
    present: set[str] = set()
    connected: set[str] = set()  # the configured sources some documents came from: synced again, not read as files
    for grant in grants:
        owner = sources.owner(grant.source) if sources else None
        if owner is not None:
            connected.add(owner.name)
            continue
        path = Path(owner_source(grant.source))  # an e-mail attachment is rebuilt with its message
        if not path.is_file():
            report.missing.append(grant.source)
            continue
        present.add(grant.document_id)
        groups.setdefault((grant.acl, grant.public, grant.tags), []).append(path)  # a message once: discover() dedupes
    for (acl, public, tags), paths in groups.items():
        run = pipeline.run(paths, acl=acl, public=public, tags=tags, on_file=on_file)
        report.indexed += run.indexed
        report.unchanged += run.unchanged
        report.failed += [{"source": f.path, "reason": f.reason} for f in run.failed]
    if sources and connected:
        synced, failures = sources.resync(connected, pipeline, on_file)
        present |= synced
        report.failed += [{"source": f.path, "reason": f.reason} for f in failures]
    return present


def reindex(
    catalog: Callable[[], list[DocumentGrant]],
    pipeline: IngestPipeline,
    versions: Versions,
    state: ReindexState,
    source: str,
    target: str,
    *,
    resumed: bool = False,
    force: bool = False,
    drop_old: bool = False,
    on_start: Callable[[int], None] = lambda total: None,
    on_file: Callable[[FileDone], None] = lambda done: None,
    drop_wait_s: float = 45.0,
    sources: ConnectedSources | None = None,
) -> ReindexReport:
    """Build `target` (the pipeline writes to it) from `catalog`'s documents, then switch to it.

    `catalog` lists the serving version's documents; it is read twice (the build and the catch-up)."""
    started = time.perf_counter()
    report = ReindexReport(source, target, resumed=resumed)
    state.save(source, target)
    grants = catalog()
    on_start(len(grants))
    log.info("reindex from %s into %s: %d documents%s", source, target, len(grants), " (resumed)" if resumed else "")
    rebuild(grants, pipeline, report, on_file, sources)
    # Catch-up: what changed while the build ran (an unchanged document is only looked at).
    latest = catalog()
    catch_up = ReindexReport(source, target)
    present = rebuild(latest, pipeline, catch_up, sources=sources)
    report.indexed += catch_up.indexed
    report.failed = _unique(report.failed + catch_up.failed)
    report.missing = sorted(set(catch_up.missing))
    for document_id, _ in list(pipeline.index.documents()):
        if document_id not in present:
            pipeline.index.delete_document(document_id)
            report.removed += 1
    report.documents_before = len(latest)
    report.documents_after = sum(1 for _ in pipeline.index.documents())
    pipeline.index.close()  # before the switch: a serving process can only open the new version once it is free
    if report.documents_after < report.documents_before and not force:
        report.refused = (
            f"the new version {target} holds {report.documents_after} documents, the serving one "
            f"{report.documents_before} ({len(report.missing)} sources missing, {len(report.failed)} "
            f"failed): not switched; fix them and run again, or pass --force"
        )
    else:
        versions.switch(target)
        report.switched = True
        state.clear()
        log.info("switched %s from %s to %s", versions.collection, source, target)
        if drop_old:
            report.dropped = drop_when_free(versions, source, wait_s=drop_wait_s)
    report.seconds = round(time.perf_counter() - started, 2)
    return report


def drop_when_free(versions: Versions, version: str, *, wait_s: float) -> str | None:
    """Drop `version` once no process has it open (serving processes leave it within about half a minute of
    the switch); None when it was still in use after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            versions.drop(version)
            return version
        except IndexLockedError as exc:
            if time.monotonic() >= deadline:
                log.warning(
                    "version %s not dropped: %s; drop it later with `docent reindex --drop %s`",
                    version,
                    exc.message,
                    version,
                )
                return None
            time.sleep(1.0)


def _unique(failures: list[dict[str, str]]) -> list[dict[str, str]]:
    return list({f["source"]: f for f in failures}.values())
