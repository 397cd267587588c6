"""Documents per second of the SharePoint/OneDrive connector against the local Entra and Graph of the tests.

    python -m bench.connectors_sharepoint [--files 200] [--out FILE]

A document library of `--files` files in ten folders (each with two permissions and a sharing link) served over
HTTPS by tests/support/graph_server.py with its server-side `$top` limit of 200; times `documents()` (the walk
and the permissions, 20 files per batch) and `fetch()` of every file (the 302 to the download URL followed), one
after the other as the sync engine calls them. The local server answers in about a millisecond: the numbers
measure the connector's own cost and its number of requests, not Graph's latency.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import REPORTS, new_report, write_report
from ingest.connectors.sharepoint import SharePointConnector
from tests.support.graph_server import GraphServer, group_grant, link_grant, user_grant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPORTS / "connectors_sharepoint.json")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch, GraphServer(Path(scratch), page_limit=200) as server:
        drive = server.add_drive("Documents")
        folders = [server.add_folder(drive, f"Folder {n}") for n in range(10)]
        for number in range(args.files):
            item = server.add(
                drive, f"file-{number}.txt", b"Lorem ipsum dolor sit amet. " * 80, parent=folders[number % 10]
            )
            item.permissions = [group_grant("staff"), user_grant("alice@contoso.com"), link_grant("organization")]
        connector = SharePointConnector.from_options(server.options(site=f"{GraphServer.HOSTNAME}:/sites/hr"))
        begin = time.perf_counter()
        documents = list(connector.documents())
        listed = time.perf_counter()
        listing_requests = server.requests
        fetched = sum(len(connector.fetch(document, max_bytes=10_000_000)) for document in documents)
        done = time.perf_counter()
        connector.close()
    report = new_report(
        "connectors_sharepoint",
        documents=len(documents),
        bytes_fetched=fetched,
        listing_s=round(listed - begin, 3),
        fetch_s=round(done - listed, 3),
        listing_docs_per_s=round(len(documents) / (listed - begin), 1),
        docs_per_s=round(len(documents) / (done - begin), 1),
        graph_requests_listing=listing_requests,
        graph_requests_total=server.requests,
        tokens_issued=server.tokens_issued,
    )
    write_report(report, args.out, started)
    print({k: v for k, v in report.items() if k != "machine"})


if __name__ == "__main__":
    main()
