"""Canonical URLs (the website source's keys), an HTML page's links and robots directives, sitemaps."""

from __future__ import annotations

import gzip

import pytest

from ingest.connectors.weblinks import canonical_url, read_page, read_sitemap


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://Example.COM:80/a/./b/../c#section", "http://example.com/a/c"),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:8080/a/..", "http://example.com:8080/"),
        (
            "http://example.com/文档/介绍.html?q=中 文",
            "http://example.com/%E6%96%87%E6%A1%A3/%E4%BB%8B%E7%BB%8D.html?q=%E4%B8%AD%20%E6%96%87",
        ),
        ("http://example.com/a%2fb", "http://example.com/a%2Fb"),  # an escaped slash stays escaped
        ("http://例子.测试/", "http://xn--fsqu00a.xn--0zwm56d/"),
        ("mailto:docs@example.com", None),
        ("javascript:void(0)", None),
        ("ftp://example.com/file", None),
    ],
)
def test_canonical_urls(url: str, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


def test_relative_links_resolve_against_the_page_and_its_base() -> None:
    assert canonical_url("../x.html", "http://h/a/b/c.html") == "http://h/a/x.html"
    page = read_page(
        '<html><head><title> 标题 </title><base href="/docs/"><meta name="ROBOTS" content="noindex, follow">'
        '</head><body><a href="x.html">x</a><a href="x.html#top">x</a><a href="mailto:a@b">m</a></body></html>'.encode(
            "gbk"
        ),
        "http://h/a/",
        "gbk",
    )
    assert page.title == "标题"
    assert page.links == ("http://h/docs/x.html",)
    assert (page.index, page.follow) == (False, True)


def test_sitemaps_plain_gzip_and_index() -> None:
    urlset = (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc> http://h/a </loc></url>'
        b"<url><loc>http://h/b</loc></url></urlset>"
    )
    assert read_sitemap(urlset).locations == ("http://h/a", "http://h/b")
    assert read_sitemap(gzip.compress(urlset)) == read_sitemap(urlset)
    index = read_sitemap(b"<sitemapindex><sitemap><loc>http://h/s.xml.gz</loc></sitemap></sitemapindex>")
    assert index.is_index and index.locations == ("http://h/s.xml.gz",)
    with pytest.raises(ValueError, match="not a sitemap"):
        read_sitemap(b"<html><body>hello</body></html>")
