"""A first and an unchanged sync of one connector through the sync engine, as `docent sync` builds it (the
settings' models, the parser sandbox, an embedded index in a temporary data folder): the documents/s of
bench/connectors_*.py once parsing, embedding and writing are counted too."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ingest.connectors.base import Connector
from ingest.sync import Source, SourceSync
from serve.settings import Settings


def per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else 0.0


def sync_twice(connector: Connector, kind: str) -> dict[str, dict[str, float | int]]:
    """The first sync of `connector` into an empty index and a second one of the unchanged source."""
    from serve.components import make_pipeline
    from serve.composition import command

    with tempfile.TemporaryDirectory(prefix="docent-bench-sync-") as folder:
        os.environ["DOCENT_DATA_DIR"] = str(Path(folder) / "data")
        settings = Settings()
        with command(settings) as process:
            parsers = process.parsers()
            embedder, multilingual, index = process.writer(when_locked="")
            parsers.wait_ready()
            pipeline = make_pipeline(
                settings, index=index, embedder=embedder, parsers=parsers, multilingual=multilingual
            )
            pipeline.sparse.start()
            sync = SourceSync(pipeline, max_file_mb=settings.ingest.max_file_mb)
            source = Source("bench", kind, public=True)
            first = sync.run(source, connector)
            again = sync.run(source, connector)
    return {
        "first_sync": {
            "documents": first.indexed,
            "failed": len(first.failed),
            "seconds": round(first.seconds, 2),
            "documents_per_s": per_second(first.indexed, first.seconds),
            "chunks": first.chunks,
        },
        "unchanged_sync": {
            "documents": again.unchanged,
            "seconds": round(again.seconds, 2),
            "documents_per_s": per_second(again.unchanged, again.seconds),
        },
    }
