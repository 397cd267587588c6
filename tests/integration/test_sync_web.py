"""`docent sync` over the website source, end to end: a real local website (tests/support/site_server.py), the
real parsers in their sandbox, the real models and the embedded index. Only what changed is embedded again, a
page that now answers 404 leaves the index, and a site that cannot be crawled whole changes nothing."""

from __future__ import annotations

import io

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from ingest.connectors import make_connector
from ingest.sync import Source, SourceSync
from retrieval.access import ALL_ACCESS, Principal
from retrieval.errors import SourceUnavailableError
from retrieval.search import SearchRequest
from tests.support.site_server import Page, SiteServer

pytestmark = pytest.mark.slow


def _html(title: str, body: str, charset: str = "utf-8") -> bytes:
    return (f'<html><head><meta charset="{charset}"><title>{title}</title></head><body>{body}</body></html>').encode(
        charset
    )


def _pdf(text: str) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.drawString(72, 760, text)
    pdf.save()
    return buffer.getvalue()


def sources_in(retriever, query: str, principal=ALL_ACCESS) -> list[str]:
    return [p.source for p in retriever.search(SearchRequest(query, principal, k=3)).passages]


def test_a_website_syncs_only_what_changed(pipeline, retriever, edge_index):
    with SiteServer() as site:
        site.pages.update(
            {
                "/robots.txt": Page(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
                "/": Page(
                    _html(
                        "IT handbook",
                        "<h1>IT handbook</h1><p>The VPN gateway of the Lisbon office listens on port 8443.</p>"
                        '<a href="/travel.html">差旅</a> <a href="/leave.html">Leave</a>'
                        '<a href="/badges.pdf">Badges</a> <a href="/private/salaries.html">Salaries</a>',
                    )
                ),
                "/travel.html": Page(
                    _html("差旅报销", "<p>出差结束后十五个工作日内提交报销单，逾期财务部不予受理。</p>", "gbk"),
                    "text/html; charset=gbk",
                ),
                "/leave.html": Page(_html("Leave", "<p>Unused annual leave of up to five days carries over.</p>")),
                "/badges.pdf": Page(
                    _pdf("Lost visitor badges are replaced at the reception desk on floor two."),
                    "application/pdf",
                    headers={"ETag": '"badges-1"'},
                ),
                "/private/salaries.html": Page(_html("Salaries", "<p>The salary bands of every grade.</p>")),
            }
        )
        options = {"start_urls": [site.url + "/"], "delay_s": 0}
        source = Source("intranet", "web", acl=("group:staff",))
        sync = SourceSync(pipeline, max_file_mb=10)
        staff = Principal("ann", ("staff",))

        first = sync.run(source, make_connector("web", options))
        assert (first.files, first.indexed, first.failed) == (4, 4, [])
        assert sources_in(retriever, "VPN gateway port", staff)[0] == f"intranet:{site.url}/"
        assert sources_in(retriever, "出差报销什么时候提交", staff)[0] == f"intranet:{site.url}/travel.html"
        assert sources_in(retriever, "visitor badge replacement", staff)[0] == f"intranet:{site.url}/badges.pdf"
        assert sources_in(retriever, "VPN gateway port", Principal("bob", ("sales",))) == []
        assert all("salaries" not in source for _, source in edge_index.documents())

        again = sync.run(source, make_connector("web", options))
        assert (again.indexed, again.unchanged, again.embedded, again.removed) == (0, 4, 0, 0)

        site.pages["/leave.html"] = Page(_html("Leave", "<p>Unused annual leave of up to ten days carries over.</p>"))
        del site.pages["/travel.html"]  # 404 from now on
        changed = sync.run(source, make_connector("web", options))
        assert (changed.indexed, changed.unchanged, changed.removed) == (1, 2, 1)
        assert f"intranet:{site.url}/travel.html" not in {source for _, source in edge_index.documents()}
        leave = retriever.search(SearchRequest("annual leave carry over", ALL_ACCESS, k=1)).passages[0]
        assert "ten days" in leave.text

        before = sorted(edge_index.documents())
        site.pages["/leave.html"] = Page(b"busy", "text/plain", status=500)
        with pytest.raises(SourceUnavailableError):
            sync.run(source, make_connector("web", options))
        assert sorted(edge_index.documents()) == before  # a partial crawl deleted nothing

        site.pages["/leave.html"] = Page(_html("Leave", "<p>Unused annual leave of up to ten days carries over.</p>"))
        limited = sync.run(source, make_connector("web", {**options, "max_pages": 1}))
        assert (limited.files, limited.removed) == (1, 0)  # cut short by the page limit: the rest is not gone
        assert sorted(edge_index.documents()) == before
