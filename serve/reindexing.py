"""`docent reindex`: the composition of a reindex run (see `ingest.reindex` for what it does).

docent reindex [--server URL [--key KEY]] [--force] [--drop-old] [--json]
docent reindex --status | --switch-to VERSION | --drop VERSION
"""

from __future__ import annotations

import argparse
import json
import os
from contextlib import ExitStack

import httpx
from rich.console import Console
from rich.table import Table

from ingest.reindex import EdgeVersions, ReindexState, ServerVersions, Versions, plan_target, reindex
from ingest.sync import ConnectedSources
from retrieval.errors import ConfigError, IndexLockedError, IndexUnavailableError
from retrieval.models import DocumentGrant
from serve.cli import exits
from serve.composition import DataFiles
from serve.settings import Settings


def make_versions(settings: Settings, stack: ExitStack) -> Versions:
    if settings.qdrant.url:
        from qdrant_client import QdrantClient

        api_key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
        client = QdrantClient(url=settings.qdrant.url, api_key=api_key, timeout=int(settings.qdrant.timeout_s))
        stack.callback(client.close)
        return ServerVersions(client, settings.collection)
    return EdgeVersions(settings.data_dir, settings.collection)


def server_catalog(url: str, key: str | None, *, timeout_s: float = 60.0):
    """The documents a running `docent serve` holds, read page by page through `/v1/documents` (admin key)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    def documents() -> list[DocumentGrant]:
        found, offset = [], 0
        with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s) as client:
            while True:
                try:
                    response = client.get("/v1/documents", params={"offset": offset, "limit": 500})
                except httpx.HTTPError as exc:
                    raise IndexUnavailableError(f"could not list the documents of {url}: {exc}") from exc
                if response.status_code != 200:
                    raise ConfigError(
                        f"{url}/v1/documents answered {response.status_code}: {response.text[:300]} "
                        f"(the reindex needs an admin key: --key or $DOCENT_API_KEY)"
                    )
                page = response.json()
                found += [
                    DocumentGrant(
                        d["document_id"],
                        d["source"],
                        tuple(d.get("acl") or ()),
                        bool(d.get("public")),
                        tuple(d.get("tags") or ()),
                    )
                    for d in page["documents"]
                ]
                offset += page["limit"]
                if offset >= page["total"] or not page["documents"]:
                    return found

    return documents


def connected_sources(settings: Settings, stack: ExitStack) -> ConnectedSources:
    """The configured sources (DOCENT_SOURCES), whose documents a reindex rebuilds by syncing them again."""
    from ingest.connectors import make_connector
    from serve.components import source_of_settings

    pairs = []
    for config in settings.source_list():
        connector = make_connector(config.kind, config.options)
        stack.callback(connector.close)
        pairs.append((source_of_settings(config), connector))
    return ConnectedSources(pairs, max_file_mb=settings.ingest.max_file_mb)


def run_reindex(settings: Settings, args: argparse.Namespace) -> int:
    from serve.components import make_index, make_parsers, make_pipeline, start_writer_models
    from serve.progress import IngestProgress

    console = Console(stderr=True)
    with ExitStack() as stack:
        versions = make_versions(settings, stack)
        state = ReindexState(DataFiles(settings.data_dir).reindex_state(settings.collection))
        if args.status:
            return _status(console, versions, state, args.json)
        if args.switch_to:
            versions.switch(args.switch_to)
            _audited(settings, f"switch-to {args.switch_to}", {"current": args.switch_to})
            _say(console, args.json, {"switched": True, "current": args.switch_to})
            return exits.OK
        if args.drop:
            versions.drop(args.drop)
            _audited(settings, f"drop {args.drop}", {"dropped": args.drop})
            _say(console, args.json, {"dropped": args.drop})
            return exits.OK
        source, target, resumed = plan_target(versions, state)
        parsers = make_parsers(settings)
        with console.status("loading the embedding models and the parsers…"):
            parsers.start()
            stack.callback(parsers.close)
            embedder, multilingual = start_writer_models(settings)
            parsers.wait_ready()

        if args.server:
            catalog = server_catalog(args.server, args.key or os.environ.get("DOCENT_API_KEY"))
        else:

            def catalog() -> list[DocumentGrant]:
                index = make_index(settings, embedder.dimension, multilingual, version=source, check_spec=False)
                try:
                    index.start()
                except IndexLockedError as exc:
                    raise IndexLockedError(
                        f"{exc.message}. While `docent serve` owns the index, reindex through "
                        f"it: `docent reindex --server URL --key ADMIN_KEY`"
                    ) from None
                try:
                    return list(index.grants())
                finally:
                    index.close()

        target_index = make_index(settings, embedder.dimension, multilingual, version=target)
        target_index.start()
        stack.callback(target_index.close)
        pipeline = make_pipeline(
            settings, index=target_index, embedder=embedder, parsers=parsers, multilingual=multilingual
        )
        pipeline.sparse.start()
        console.print(
            f"reindexing {settings.collection}: version {source} → {target}" + (" (resuming)" if resumed else ""),
            highlight=False,
        )
        with IngestProgress(console, quiet=args.json) as progress:
            report = reindex(
                catalog,
                pipeline,
                versions,
                state,
                source,
                target,
                resumed=resumed,
                force=args.force,
                drop_old=args.drop_old,
                on_start=progress.start,
                on_file=progress.advance,
                sources=connected_sources(settings, stack),
            )
    _audited(
        settings,
        f"reindex {source} -> {target}",
        {k: v for k, v in report.to_dict().items() if k not in ("failed", "missing")},
        status=200 if report.switched else 409,
    )
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        console.print(
            f"{report.documents_after} of {report.documents_before} documents in {target} "
            f"({report.indexed} indexed, {report.unchanged} already there, {len(report.failed)} failed, "
            f"{len(report.missing)} sources missing, {report.removed} removed) in {report.seconds:.1f} s",
            highlight=False,
        )
        for failure in report.failed[:20]:
            console.print(f"  failed: {failure['source']}: {failure['reason']}", highlight=False)
        for missing in report.missing[:20]:
            console.print(f"  missing: {missing}", highlight=False)
        if report.switched:
            console.print(
                f"switched to {target}; {source} is kept"
                + (
                    " (dropped)"
                    if report.dropped
                    else f": `docent reindex --switch-to {source}` goes "
                    f"back, `docent reindex --drop {source}` deletes it"
                ),
                highlight=False,
            )
        else:
            console.print(f"[bold red]not switched[/]: {report.refused}", highlight=False)
    return exits.OK if report.switched else exits.FAILURES  # files failed or went missing


def _audited(settings: Settings, what: str, detail: dict[str, object], *, status: int = 200) -> None:
    """Record the reindex command in the audit trail (as the OS user, channel "cli")."""
    from serve.composition import command
    from serve.stores.audit import AuditEvent

    with command(settings) as process:
        process.record(
            AuditEvent(
                "reindex", query=f"{settings.collection}: {what}", detail=json.dumps(detail, default=str), status=status
            )
        )


def _status(console: Console, versions: Versions, state: ReindexState, as_json: bool) -> int:
    data = {
        "collection": versions.collection,
        "current": versions.current(),
        "versions": versions.names(),
        "in_progress": state.load(),
    }
    if as_json:
        print(json.dumps(data))
        return exits.OK
    table = Table(title=f"index versions of {versions.collection}")
    table.add_column("version")
    table.add_column("state")
    for name in data["versions"]:
        progress = data["in_progress"]
        table.add_row(
            name,
            "serving"
            if name == data["current"]
            else "being built (resume with `docent reindex`)"
            if progress and progress["target"] == name
            else "kept",
        )
    console.print(table)
    return exits.OK


def _say(console: Console, as_json: bool, data: dict[str, object]) -> None:
    if as_json:
        print(json.dumps(data))
    else:
        console.print(", ".join(f"{k}: {v}" for k, v in data.items()), highlight=False)
