"""The website source's speed: documents/s of documents() + fetch() against a local site of ~200 documents.

    python -m bench.connectors_web [--out bench/reports/connectors_web.json] [--pages 180] [--pdfs 20] [--no-sync]

The site (tests/support/site_server.py, on 127.0.0.1) has HTML pages of ~8 KB, each linking to the next few
and to a PDF, and PDFs with ETags. `delay_s` is 0: the politeness delay, not the connector, sets the pace of a
real crawl (1 s per host by default, so ~1 page/s). Three runs: a first sync (list, fetch everything), an
unchanged sync (list only: nothing to fetch), and fetch() alone for documents listed by another connector
(so nothing was kept from its listing: every fetch downloads). Then, unless --no-sync, a first and an unchanged
sync through the sync engine (bench/connector_sync.py: parsing, embedding and writing counted).
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from bench.common import REPORTS, new_report, write_report
from bench.connector_sync import sync_twice
from ingest.connectors.web import WebConnector
from tests.support.site_server import Page, SiteServer

LIMIT = 20 * 1024 * 1024


def _pdf(number: int) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for line in range(40):
        pdf.drawString(72, 780 - line * 18, f"Guide {number}, line {line}: how the handbook says to do it.")
    pdf.save()
    return buffer.getvalue()


def _build(site: SiteServer, pages: int, pdfs: int) -> None:
    site.pages["/robots.txt"] = Page(b"User-agent: *\nDisallow: /private/\n", "text/plain")
    paragraph = "<p>" + "Docent answers questions from the documents it has indexed. " * 20 + "</p>"
    for number in range(pages):
        links = "".join(f'<a href="/page-{(number + step) % pages}.html">next</a>' for step in range(1, 4))
        links += f'<a href="/guide-{number % pdfs}.pdf">guide</a>' if pdfs else ""
        body = f"<html><head><title>Page {number}</title></head><body>{paragraph * 6}{links}</body></html>"
        site.pages[f"/page-{number}.html"] = Page(body.encode())
    for number in range(pdfs):
        site.pages[f"/guide-{number}.pdf"] = Page(_pdf(number), "application/pdf", headers={"ETag": f'"g{number}"'})


def _run(connector: WebConnector, *, fetch: bool) -> dict[str, float | int]:
    started = time.perf_counter()
    documents = list(connector.documents())
    listed = time.perf_counter() - started
    size = 0
    if fetch:
        for document in documents:
            size += len(connector.fetch(document, max_bytes=LIMIT))
    wall = time.perf_counter() - started
    return {
        "documents": len(documents),
        "list_s": round(listed, 3),
        "wall_s": round(wall, 3),
        "documents_per_s": round(len(documents) / wall, 1),
        "fetched_bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPORTS / "connectors_web.json")
    parser.add_argument("--pages", type=int, default=180)
    parser.add_argument("--pdfs", type=int, default=20)
    parser.add_argument("--no-sync", action="store_true", help="skip the syncs through the sync engine (models)")
    args = parser.parse_args()
    started = time.perf_counter()
    with SiteServer() as site:
        _build(site, args.pages, args.pdfs)
        options = {"start_urls": [site.url + "/page-0.html"], "delay_s": 0, "max_pages": 10_000}
        connector = WebConnector.from_options(options)
        first = _run(connector, fetch=True)
        unchanged = _run(connector, fetch=False)
        listed = list(WebConnector.from_options(options).documents())
        fresh = WebConnector.from_options(options)
        fetch_started = time.perf_counter()
        for document in listed:
            fresh.fetch(document, max_bytes=LIMIT)
        fetch_only = time.perf_counter() - fetch_started
        connector.close()
        fresh.close()
        syncs = {} if args.no_sync else sync_twice(WebConnector.from_options(options), "web")
    report = new_report(
        "connectors_web",
        site={"html_pages": args.pages, "pdfs": args.pdfs},
        first_sync=first,
        unchanged_sync=unchanged,
        fetch_without_listing={
            "documents": len(listed),
            "wall_s": round(fetch_only, 3),
            "documents_per_s": round(len(listed) / fetch_only, 1),
        },
        through_the_sync_engine=syncs,
    )
    write_report(report, args.out, started)
    print(f"first sync {first}\nunchanged {unchanged}\nwritten to {args.out}")


if __name__ == "__main__":
    main()
