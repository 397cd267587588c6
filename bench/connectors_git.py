"""The Git source's speed: documents/s of documents() + fetch() for a local repository of ~200 documents.

    python -m bench.connectors_git [--out bench/reports/connectors_git.json] [--files 200] [--no-sync]

The repository (tests/support/git_repos.py) holds Markdown files of ~4 KB under a few folders, read through a
file:// URL (git's own transport, as for a remote). Three runs: a first sync (a shallow fetch into an empty
cache, list, fetch everything), an unchanged sync (fetch again, list: nothing to fetch), and a sync after a
commit that changed 10 files (fetch again, list, fetch the 10 changed). Then, unless --no-sync, a first and an
unchanged sync through the sync engine (bench/connector_sync.py: parsing, embedding and writing counted).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import REPORTS, new_report, write_report
from bench.connector_sync import sync_twice
from ingest.connectors.git import GitConnector
from tests.support.git_repos import GitRemote

LIMIT = 20 * 1024 * 1024


def _run(connector: GitConnector, previous: dict[str, str]) -> tuple[dict[str, float | int], dict[str, str]]:
    started = time.perf_counter()
    documents = list(connector.documents())
    listed = time.perf_counter() - started
    changed = [document for document in documents if previous.get(document.key) != document.marker]
    for document in changed:
        connector.fetch(document, max_bytes=LIMIT)
    wall = time.perf_counter() - started
    result = {
        "documents": len(documents),
        "fetched": len(changed),
        "list_s": round(listed, 3),
        "wall_s": round(wall, 3),
        "documents_per_s": round(len(documents) / wall, 1),
    }
    return result, {document.key: document.marker for document in documents}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPORTS / "connectors_git.json")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--no-sync", action="store_true", help="skip the syncs through the sync engine (models)")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="docent-bench-git-") as folder:
        remote = GitRemote(Path(folder) / "origin")
        paragraph = "Docent answers questions from the documents it has indexed. " * 8
        for number in range(args.files):
            remote.write(f"docs/part-{number % 8}/page-{number}.md", f"# Page {number}\n\n" + paragraph * 8)
        remote.commit_and_push("The handbook")
        connector = GitConnector.from_options({"url": remote.bare.as_uri(), "cache_dir": f"{folder}/cache"})
        first, markers = _run(connector, {})
        unchanged, markers = _run(connector, markers)
        for number in range(10):
            remote.write(f"docs/part-{number % 8}/page-{number}.md", f"# Page {number}, revised\n\n{paragraph}")
        remote.commit_and_push("Revise ten pages")
        after_commit, _ = _run(connector, markers)
        connector.close()
        fresh = {"url": remote.bare.as_uri(), "cache_dir": f"{folder}/sync-cache"}
        syncs = {} if args.no_sync else sync_twice(GitConnector.from_options(fresh), "git")
    report = new_report(
        "connectors_git",
        repository={"files": args.files, "transport": "file://"},
        first_sync=first,
        unchanged_sync=unchanged,
        sync_after_a_commit_of_10_files=after_commit,
        through_the_sync_engine=syncs,
    )
    write_report(report, args.out, started)
    print(f"first {first}\nunchanged {unchanged}\nafter commit {after_commit}\nwritten to {args.out}")


if __name__ == "__main__":
    main()
