"""What the website source reads in what it downloads: canonical URLs, an HTML page's title, links and robots
directives, a sitemap's URLs. Pure functions over bytes, so the crawler (web.py) only does the HTTP.

Canonical URLs are the website source's document keys, so two spellings of one page must give one key: the
scheme and host in lower case, no default port, no fragment, dot segments resolved, an empty path as "/", and
characters outside URL syntax (spaces, CJK) percent-encoded as UTF-8 with upper-case escapes.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import lxml.etree
import lxml.html

SITEMAP_MAX_BYTES = 50 * 1024 * 1024  # the sitemaps protocol's own limit on an uncompressed sitemap

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
# RFC 3986's reserved and unreserved characters stay as written (plus "%", whose escapes are normalised).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


def canonical_url(url: str, base: str | None = None) -> str | None:
    """`url` (resolved against `base`) in canonical form; None when it is not an http(s) URL with a host."""
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:  # a malformed port or IPv6 literal
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _resolve_dots(parts.path or "/")
    path = _upper_escapes(quote(path, safe=_PATH_SAFE))
    query = _upper_escapes(quote(parts.query, safe=_QUERY_SAFE))
    return urlunsplit((scheme, netloc, path, query, ""))


def _resolve_dots(path: str) -> str:
    segments: list[str] = []
    for segment in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    if path.endswith(("/.", "/..")):
        segments.append("")
    return "/" + "/".join(segments)


def _upper_escapes(text: str) -> str:
    return _ESCAPE.sub(lambda match: match.group(0).upper(), text)


@dataclass(frozen=True, slots=True)
class PageLinks:
    """What an HTML page says of itself and links to."""

    title: str | None
    links: tuple[str, ...]  # canonical URLs, in page order, each once
    index: bool  # False: `<meta name="robots" content="noindex">`
    follow: bool  # False: `<meta name="robots" content="nofollow">`


def read_page(body: bytes, url: str, charset: str | None = None) -> PageLinks:
    """The title, links and robots directives of the HTML page `body` served at `url` (`<base href>` honoured;
    the Content-Type's charset wins over the page's own declaration)."""
    parser = lxml.html.HTMLParser(encoding=charset) if charset else lxml.html.HTMLParser()
    try:
        root = lxml.html.document_fromstring(body, parser=parser)
    except (lxml.etree.ParserError, LookupError, ValueError):
        return PageLinks(title=None, links=(), index=True, follow=True)
    base = url
    for element in root.iter("base"):
        if element.get("href"):
            base = urljoin(url, str(element.get("href")))
            break
    directives: set[str] = set()
    for element in root.iter("meta"):
        if str(element.get("name", "")).lower() == "robots":
            directives.update(part.strip().lower() for part in str(element.get("content", "")).split(","))
    links: dict[str, None] = {}
    for element in root.iter("a", "area"):
        href = element.get("href")
        link = canonical_url(str(href), base) if href else None
        if link is not None:
            links[link] = None
    titles = ["".join(str(text) for text in element.itertext()).strip() for element in root.iter("title")]
    titles = [title for title in titles if title]
    return PageLinks(
        title=titles[0] if titles else None,
        links=tuple(links),
        index="noindex" not in directives and "none" not in directives,
        follow="nofollow" not in directives and "none" not in directives,
    )


@dataclass(frozen=True, slots=True)
class Sitemap:
    """A sitemap's `<loc>`s: pages (a `urlset`) or more sitemaps (a `sitemapindex`)."""

    is_index: bool
    locations: tuple[str, ...]


def read_sitemap(body: bytes) -> Sitemap:
    """The sitemap `body` (gzip-compressed or not); ValueError when it is neither XML sitemap kind.

    Entities are not resolved and nothing is loaded from the network (a sitemap is untrusted input)."""
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body)
    parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)
    try:
        root = lxml.etree.fromstring(body, parser=parser)
    except lxml.etree.XMLSyntaxError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    if root is None:
        raise ValueError("not XML")
    kind = lxml.etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise ValueError(f"not a sitemap: the root element is <{kind}>")
    locations = [
        str(element.text).strip()
        for element in root.iter("{*}loc")
        if element.text is not None and element.text.strip()
    ]
    return Sitemap(is_index=kind == "sitemapindex", locations=tuple(locations))


def _gunzip(body: bytes) -> bytes:
    """`body` decompressed, refused past SITEMAP_MAX_BYTES (a gzip bomb stops there)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, SITEMAP_MAX_BYTES + 1)
    except zlib.error as exc:
        raise ValueError(f"bad gzip: {exc}") from exc
    if len(data) > SITEMAP_MAX_BYTES:
        raise ValueError(f"larger than {SITEMAP_MAX_BYTES} bytes uncompressed")
    return data


__all__ = ["PageLinks", "Sitemap", "canonical_url", "read_page", "read_sitemap"]
