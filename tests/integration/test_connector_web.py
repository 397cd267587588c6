"""The website source against a real local website (tests/support/site_server.py): what it lists, what it
leaves out and why, what it fetches, and when the listing is unavailable rather than partial."""

from __future__ import annotations

import gzip
import io
import itertools
import socket
import time
from collections.abc import Iterator

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from ingest.connectors import make_connector
from ingest.connectors.base import FetchError, SourceDocument, SourceUnavailableError
from ingest.connectors.web import WebConnector
from retrieval.errors import ConfigError
from tests.support.site_server import Page, SiteServer

ZH_PATH = "/zh/文档.html"
ZH_KEY = "/zh/%E6%96%87%E6%A1%A3.html"
BIG = 5 * 1024 * 1024
LIMIT = 1024 * 1024


def _pdf() -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.drawString(72, 760, "The installation guide: run docent sync after configuring a source.")
    pdf.save()
    return buffer.getvalue()


def _html(title: str, body: str) -> bytes:
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()


def _build(site: SiteServer) -> None:
    off_host = f"http://localhost:{site.port}/offhost.html"
    site.pages.update(
        {
            "/robots.txt": Page(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
            "/": Page(
                _html(
                    "Docent test site",
                    "<p>Welcome to the handbook.</p>"
                    '<a href="/about.html">About</a> <a href="about.html#team">Team</a>'
                    '<a href="/private/secret.html">Secret</a> <a href="/loop-a">Loop</a>'
                    '<a href="/missing.html">Missing</a> <a href="/big.html">Big</a>'
                    '<a href="/guide.pdf">Guide</a> <a href="/logo.png">Logo</a> <a href="/photo">Photo</a>'
                    f'<a href="{off_host}">Elsewhere</a> <a href="mailto:docs@example.com">Mail</a>'
                    f'<a href="{ZH_PATH}">中文</a> <a href="/moved">Moved</a>',
                )
            ),
            "/about.html": Page(_html("About us", '<p>We write documentation.</p><a href="/">Home</a>')),
            ZH_PATH: Page(
                "<html><head><title>文档中心</title></head><body><p>欢迎使用文档问答系统。</p>"
                '<a href="../about.html">关于</a></body></html>'.encode("gbk"),
                "text/html; charset=gbk",
            ),
            "/orphan.html": Page(_html("Orphan", "<p>Only the sitemap knows me.</p>")),
            "/private/secret.html": Page(_html("Secret", "<p>Robots say no.</p>")),
            "/offhost.html": Page(_html("Off host", "<p>Another host name.</p>")),
            "/big.html": Page(b"<html><body>" + b"x" * BIG + b"</body></html>"),
            "/guide.pdf": Page(_pdf(), "application/pdf", headers={"ETag": '"guide-v1"'}),
            "/logo.png": Page(b"\x89PNG\r\n\x1a\n", "image/png"),
            "/photo": Page(b"\xff\xd8\xff\xe0", "image/jpeg"),
            "/sitemap.xml": Page(
                b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                b"<sitemap><loc>" + site.url.encode() + b"/pages.xml.gz</loc></sitemap></sitemapindex>",
                "application/xml",
            ),
            "/pages.xml.gz": Page(
                gzip.compress(
                    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    b"<url><loc>" + site.url.encode() + b"/orphan.html</loc></url>"
                    b"<url><loc>" + site.url.encode() + b"/about.html</loc></url></urlset>"
                ),
                "application/gzip",
            ),
        }
    )
    site.redirects.update({"/loop-a": "/loop-b", "/loop-b": "/loop-a", "/moved": "/about.html"})


@pytest.fixture
def site() -> Iterator[SiteServer]:
    with SiteServer() as server:
        _build(server)
        yield server


def _connector(site: SiteServer, **options: object) -> WebConnector:
    settings: dict[str, object] = {
        "start_urls": [site.url + "/"],
        "sitemaps": [site.url + "/sitemap.xml"],
        "delay_s": 0,
        "max_bytes": LIMIT,
        **options,
    }
    return WebConnector.from_options(settings)


def _listing(connector: WebConnector) -> dict[str, SourceDocument]:
    return {document.key: document for document in connector.documents()}


def test_lists_the_sites_documents_and_leaves_out_the_rest(site: SiteServer) -> None:
    connector = _connector(site)
    documents = _listing(connector)
    base = site.url
    assert set(documents) == {
        f"{base}/",
        f"{base}/about.html",
        f"{base}{ZH_KEY}",
        f"{base}/orphan.html",  # only in the (gzip) sitemap, under a sitemap index
        f"{base}/big.html",  # listed, so the sync reports it as too large
        f"{base}/guide.pdf",
    }
    assert documents[f"{base}/"].title == "Docent test site"
    assert documents[f"{base}/"].name == "index.html"
    assert documents[f"{base}{ZH_KEY}"].title == "文档中心"
    assert documents[f"{base}{ZH_KEY}"].name == "文档.html"
    assert documents[f"{base}/guide.pdf"].name == "guide.pdf"
    assert documents[f"{base}/guide.pdf"].marker == 'etag:"guide-v1"'
    assert documents[f"{base}/about.html"].marker.startswith("sha256:")
    assert all(document.acl is None for document in documents.values())
    requested = site.paths()
    assert "/private/secret.html" not in requested  # robots.txt
    assert "/logo.png" not in requested  # an image by its extension: never requested
    assert not [r for r in site.requests if r.host.startswith("localhost")]  # another host
    assert requested.count("/loop-a") == 1  # the loop was walked once and skipped
    assert requested.count("/about.html") == 1  # fragment, redirect and sitemap spellings are one page
    connector.close()


def test_fetch_returns_the_listed_bytes_without_downloading_twice(site: SiteServer) -> None:
    connector = _connector(site)
    documents = _listing(connector)
    before = len(site.requests)
    zh = connector.fetch(documents[f"{site.url}{ZH_KEY}"], max_bytes=LIMIT)
    assert "欢迎使用文档问答系统" in zh.decode("gbk")
    assert connector.fetch(documents[f"{site.url}/about.html"], max_bytes=LIMIT) == site.pages["/about.html"].body
    assert len(site.requests) == before  # HTML pages were kept from the listing
    pdf = connector.fetch(documents[f"{site.url}/guide.pdf"], max_bytes=LIMIT)
    assert pdf == site.pages["/guide.pdf"].body and pdf.startswith(b"%PDF")
    assert site.paths()[before:] == ["/guide.pdf"]  # listed by its ETag, downloaded once, now
    with pytest.raises(FetchError, match="larger than"):
        connector.fetch(documents[f"{site.url}/big.html"], max_bytes=LIMIT)
    connector.close()


def test_a_page_over_the_limit_without_a_length_is_read_only_to_the_limit(site: SiteServer) -> None:
    site.pages["/big.html"].content_length = False
    connector = _connector(site)
    big = _listing(connector)[f"{site.url}/big.html"]
    assert big.size is None and big.marker == "oversize:None"
    with pytest.raises(FetchError, match="larger than"):
        connector.fetch(big, max_bytes=LIMIT)
    connector.close()


def test_a_change_a_removal_and_an_unchanged_site(site: SiteServer) -> None:
    connector = _connector(site)
    first = {key: document.marker for key, document in _listing(connector).items()}
    assert {key: document.marker for key, document in _listing(connector).items()} == first
    site.pages["/about.html"] = Page(_html("About us", "<p>We write better documentation.</p>"))
    del site.pages["/orphan.html"]  # 404 now: it leaves the listing, so the index
    second = {key: document.marker for key, document in _listing(connector).items()}
    assert set(first) - set(second) == {f"{site.url}/orphan.html"}
    changed = {key for key in second if second[key] != first[key]}
    assert changed == {f"{site.url}/about.html"}
    connector.close()


def test_an_unreachable_or_missing_start_url_is_unavailable(site: SiteServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    down = WebConnector.from_options({"start_urls": [f"http://127.0.0.1:{closed_port}/"], "timeout_s": 2})
    with pytest.raises(SourceUnavailableError, match="start URL"):
        list(down.documents())
    missing = WebConnector.from_options({"start_urls": [site.url + "/nothing-here.html"], "delay_s": 0})
    with pytest.raises(SourceUnavailableError, match="start URL"):
        list(missing.documents())
    looping = WebConnector.from_options({"start_urls": [site.url + "/loop-a"], "delay_s": 0})
    with pytest.raises(SourceUnavailableError, match="start URL"):
        list(looping.documents())


def test_a_server_error_or_a_broken_sitemap_makes_the_listing_unavailable(site: SiteServer) -> None:
    site.pages["/about.html"] = Page(b"oops", "text/plain", status=500)
    with pytest.raises(SourceUnavailableError, match=r"about\.html"):
        list(_connector(site).documents())
    site.pages["/about.html"] = Page(_html("About us", ""))
    site.pages["/pages.xml.gz"] = Page(b"<html>not a sitemap</html>", "text/html")
    with pytest.raises(SourceUnavailableError, match="sitemap"):
        list(_connector(site).documents())
    site.pages["/robots.txt"] = Page(b"busy", "text/plain", status=503)  # the rules are unknown
    with pytest.raises(SourceUnavailableError, match="robots"):
        list(_connector(site, sitemaps=[], max_retries=0).documents())


def test_throttling_is_retried_after_retry_after(site: SiteServer) -> None:
    site.throttle["/about.html"] = 1
    started = time.monotonic()
    documents = _listing(_connector(site, sitemaps=[]))
    assert f"{site.url}/about.html" in documents
    assert time.monotonic() - started >= 1.0
    assert site.paths().count("/about.html") == 2
    site.throttle["/about.html"] = 5  # more than max_retries
    with pytest.raises(SourceUnavailableError, match="429"):
        list(_connector(site, sitemaps=[], max_retries=1).documents())


def test_requests_to_a_host_are_spaced_by_the_crawl_delay(site: SiteServer) -> None:
    site.pages["/robots.txt"] = Page(b"User-agent: *\nCrawl-delay: 0.3\nDisallow: /private/\n", "text/plain")
    list(_connector(site, sitemaps=[], max_pages=3).documents())
    times = [request.at for request in site.requests]
    assert len(times) >= 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # The connector spaces the requests it sends; the server times their arrival, which a busy 2-core machine
    # delays by a few ms each way (a fresh-clone CI saw 0.2876 s). Without the Crawl-delay the gaps are ~ms.
    assert min(gaps) >= 0.25 and sum(gaps) / len(gaps) >= 0.29, gaps


def test_max_pages_and_path_prefixes_bound_the_crawl(site: SiteServer) -> None:
    assert len(_listing(_connector(site, max_pages=2))) == 2
    only_zh = _connector(site, start_urls=[site.url + ZH_PATH], sitemaps=[], path_prefixes=["/zh/"])
    assert set(_listing(only_zh)) == {f"{site.url}{ZH_KEY}"}  # its link to /about.html is outside /zh/


def test_options_are_checked_by_name() -> None:
    with pytest.raises(ConfigError, match="start_ur"):
        WebConnector.from_options({"start_ur": ["http://example.com/"]})
    with pytest.raises(ConfigError, match="max_pages"):
        WebConnector.from_options({"start_urls": ["http://example.com/"], "max_pages": 0})
    with pytest.raises(ConfigError, match="start_urls"):
        WebConnector.from_options({})
    assert isinstance(make_connector("web", {"start_urls": ["http://example.com/"]}), WebConnector)


def test_robots_directives_an_off_host_redirect_and_a_file_without_etag(site: SiteServer) -> None:
    site.pages["/about.html"] = Page(
        b'<html><head><meta name="robots" content="noindex"></head><body><a href="/team.html">Team</a></body></html>'
    )
    site.pages["/team.html"] = Page(
        b'<html><head><meta name="robots" content="nofollow"></head><body><a href="/hidden.html">x</a></body></html>'
    )
    site.pages["/hidden.html"] = Page(_html("Hidden", ""))
    site.pages["/notes.txt"] = Page(b"Plain notes, no ETag.", "text/plain; charset=utf-8")
    site.pages["/"] = Page(_html("Home", '<a href="/about.html">a</a><a href="/away">b</a><a href="/notes.txt">c</a>'))
    site.redirects["/away"] = f"http://localhost:{site.port}/offhost.html"
    connector = _connector(site, sitemaps=[], keep_bytes=0)
    documents = _listing(connector)
    assert set(documents) == {f"{site.url}/", f"{site.url}/team.html", f"{site.url}/notes.txt"}
    assert "/hidden.html" not in site.paths()  # nofollow
    assert not [r for r in site.requests if r.host.startswith("localhost")]  # the redirect was not followed
    notes = documents[f"{site.url}/notes.txt"]
    assert notes.marker.startswith("sha256:") and notes.name == "notes.txt"
    before = len(site.requests)
    assert connector.fetch(notes, max_bytes=LIMIT) == b"Plain notes, no ETag."
    assert site.paths()[before:] == ["/notes.txt"]  # keep_bytes=0: nothing was kept from the listing
    connector.close()
