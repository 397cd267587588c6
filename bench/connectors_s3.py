"""Documents per second of the S3 source against a real S3-compatible server (moto's server process, on this
machine): the listing alone, listing + fetching every object, a first sync (parse, embed, write) and a second
sync of the unchanged bucket (listing and revision checks only), side by side in one run.

    python -m bench.connectors_s3 [--documents 200] [--out bench/reports/connectors_s3.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import REPORTS, new_report, stderr_console, write_report
from bench.connector_sync import per_second, sync_twice
from ingest.connectors import make_connector
from tests.support.s3_server import S3Server

WORDS = "policy travel leave expense approval manager security password vpn laptop office budget".split()


def document(i: int) -> bytes:
    """A Markdown page of about 2 KB with a unique fact."""
    body = " ".join(WORDS[(i * 7 + n) % len(WORDS)] for n in range(300))
    return f"# Handbook page {i}\n\nThe reference number of page {i} is R-{i:05d}.\n\n{body}\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPORTS / "connectors_s3.json")
    args = parser.parse_args()
    started = time.perf_counter()
    console = stderr_console()
    report = new_report("connectors_s3", documents=args.documents, document_bytes=len(document(0)))
    with S3Server() as s3:
        client = s3.client()
        client.create_bucket(Bucket="bench")
        for i in range(args.documents):
            client.put_object(Bucket="bench", Key=f"pages/{i:05d}.md", Body=document(i))
        connector = make_connector("s3", s3.options("bench"))

        began = time.perf_counter()
        listed = list(connector.documents())
        report["list_documents_per_s"] = per_second(len(listed), time.perf_counter() - began)
        began = time.perf_counter()
        for item in connector.documents():
            connector.fetch(item, max_bytes=2**20)
        report["list_and_fetch_documents_per_s"] = per_second(len(listed), time.perf_counter() - began)

        report.update(sync_twice(connector, "s3"))
        connector.close()
    console.print(report)
    write_report(report, args.out, started)


if __name__ == "__main__":
    main()
