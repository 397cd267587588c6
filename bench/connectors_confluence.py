"""Documents per second of the Confluence connector against the local Confluence of the tests.

    python -m bench.connectors_confluence [--pages 200] [--deployment cloud|datacenter] [--out FILE]

A space of `--pages` pages (every fourth under a restricted parent, so ACLs intersect restrictions up the
ancestors) served by tests/support/confluence_server.py with its server-side limit of 25 per listing request;
times `documents()` (listing with restrictions inline, space permissions) and `fetch()` of every page, one after
the other as the sync engine calls them. The local server answers in well under a millisecond: the numbers
measure the connector's own cost and its number of requests, not Confluence's latency.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import REPORTS, new_report, write_report
from ingest.connectors.confluence import ConfluenceConnector
from tests.support.confluence_server import ConfluenceServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--deployment", choices=["cloud", "datacenter"], default="cloud")
    parser.add_argument("--out", type=Path, default=REPORTS / "connectors_confluence.json")
    args = parser.parse_args()
    started = time.perf_counter()
    with ConfluenceServer(args.deployment, page_limit=25) as server:
        server.add_user("acc-alice", "alice", "alice@example.com")
        server.add_space("ENG", groups=["staff"])
        parents = []
        for number in range(args.pages):
            parent = parents[-1].id if parents and number % 4 else None
            page = server.add_page(
                "ENG", f"Page {number}", "<p>" + "Lorem ipsum dolor sit amet. " * 80 + "</p>", parent=parent
            )
            if number % 4 == 0:
                page.read_users, page.read_groups = ["acc-alice"], ["hr"]
                parents.append(page)
        connector = ConfluenceConnector.from_options(server.options(spaces=["ENG"], page_size=25))
        begin = time.perf_counter()
        documents = list(connector.documents())
        listed = time.perf_counter()
        listing_requests = server.requests
        fetched = sum(len(connector.fetch(document, max_bytes=10_000_000)) for document in documents)
        done = time.perf_counter()
        connector.close()
    report = new_report(
        "connectors_confluence",
        deployment=args.deployment,
        documents=len(documents),
        bytes_fetched=fetched,
        listing_s=round(listed - begin, 3),
        fetch_s=round(done - listed, 3),
        listing_docs_per_s=round(len(documents) / (listed - begin), 1),
        docs_per_s=round(len(documents) / (done - begin), 1),
        requests_listing=listing_requests,
        requests_total=server.requests,
    )
    write_report(report, args.out, started)
    print({k: v for k, v in report.items() if k != "machine"})


if __name__ == "__main__":
    main()
