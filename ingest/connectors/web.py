"""A website or intranet as a source: pages found breadth-first from start URLs and sitemaps, within the
allowed hosts and path prefixes, as robots.txt allows.

Keys are canonical URLs (weblinks.py). Listing has to download every HTML page to find its links, so it keeps
those bytes (up to `keep_bytes` in all) for `fetch()`, and the marker of a page is the SHA-256 of its bytes; a
linked file that is not HTML (a PDF, a Word document) is not downloaded while listing when its ETag or
Last-Modified can be its marker. Images, video, audio, archives, scripts and style sheets are not documents and
are skipped, by extension before any request and by Content-Type after.

What a page's answer means for the listing: 2xx lists it; a redirect is followed within the allowed URLs (at
most `max_redirects` hops, a loop is skipped); 404 and the other 4xx leave it out (so it leaves the index);
a network error, a 5xx, or throttling (429/503) past `max_retries` retries makes the whole listing
`SourceUnavailableError`, because a page missing from a partial listing would be deleted from the index. A page
larger than `max_bytes` is read no further than that: it is listed (so the sync reports it as too large) but its
links are not followed. Requests to one host are `delay_s` apart, or the robots.txt Crawl-delay when longer.

Built on httpx, lxml and protego (robots.txt as Google reads it) rather than LlamaIndex's web readers: those
return parsed text, without the raw bytes, stable keys and markers a sync needs, and do not obey robots.txt.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import time
from collections import deque
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import httpx
from protego import Protego
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest.connectors.base import FetchError, SourceDocument, SourceUnavailableError
from ingest.connectors.weblinks import SITEMAP_MAX_BYTES, canonical_url, read_page, read_sitemap
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_NOT_DOCUMENT_PREFIXES = ("image/", "video/", "audio/", "font/")
_NOT_DOCUMENT_TYPES = {
    "application/zip", "application/gzip", "application/x-gzip", "application/x-tar", "application/x-7z-compressed",
    "application/vnd.rar", "application/x-rar-compressed", "application/x-bzip2", "application/java-archive",
    "application/javascript", "text/javascript", "text/css", "application/wasm", "application/x-shockwave-flash",
}  # fmt: skip
_NOT_DOCUMENT_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".bmp", ".tif", ".tiff", ".avif", ".mp4", ".webm",
    ".mov", ".avi", ".mkv", ".mp3", ".wav", ".ogg", ".flac", ".zip", ".gz", ".tgz", ".tar", ".7z", ".rar",
    ".bz2", ".jar", ".exe", ".dmg", ".iso", ".css", ".js", ".woff", ".woff2", ".ttf", ".eot", ".wasm",
}  # fmt: skip
_ROBOTS_MAX_BYTES = 512 * 1024  # Google reads the first 500 KiB of a robots.txt
_MAX_SITEMAPS = 1000  # sitemap files read per listing, index files included


class WebOptions(BaseModel):
    """A website source's options."""

    model_config = ConfigDict(extra="forbid")

    start_urls: list[str] = Field(default_factory=list)
    sitemaps: list[str] = Field(default_factory=list)  # sitemap or sitemap index URLs (.xml or .xml.gz)
    allowed_hosts: list[str] | None = None  # "host" or "host:port"; default: the start URLs' and sitemaps' hosts
    path_prefixes: list[str] = Field(default_factory=lambda: ["/"])
    user_agent: str = "DocentBot"
    max_pages: int = Field(default=1000, ge=1)  # documents listed at most (breadth-first: the nearest first)
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)  # read at most this much of a page while listing
    keep_bytes: int = Field(default=256 * 1024 * 1024, ge=0)  # listed pages' bytes kept in memory for fetch()
    delay_s: float = Field(default=1.0, ge=0)  # between requests to one host (robots.txt Crawl-delay if longer)
    max_crawl_delay_s: float = Field(default=30.0, ge=0)  # a Crawl-delay longer than this is capped
    timeout_s: float = Field(default=30.0, gt=0)  # connect, read and write, per request
    max_redirects: int = Field(default=5, ge=0)
    max_retries: int = Field(default=3, ge=0)  # for 429/503 answers, honouring Retry-After
    max_retry_after_s: float = Field(default=60.0, ge=0)


class _Unreachable(Exception):
    """A request had no usable answer: a network error, a 5xx, or throttling past the retries."""


@dataclass(frozen=True, slots=True)
class _Kept:
    marker: str
    body: bytes


class WebConnector:
    """Lists and fetches a website's pages (see the module docstring)."""

    Options = WebOptions

    def __init__(self, options: WebOptions) -> None:
        if not options.start_urls and not options.sitemaps:
            raise ConfigError("web source: give start_urls, sitemaps or both")
        self.options = options
        self.listing_complete = True  # False after a listing cut short by max_pages (see ingest.sync)
        seeds = [canonical_url(url) for url in [*options.start_urls, *options.sitemaps]]
        if None in seeds:
            raise ConfigError(f"web source option 'start_urls'/'sitemaps': not http(s) URLs: {seeds}")
        hosts = options.allowed_hosts or [urlsplit(url).netloc for url in seeds if url]
        self._hosts = {host.lower() for host in hosts}
        self._client = httpx.Client(
            timeout=options.timeout_s,
            follow_redirects=False,
            headers={"User-Agent": options.user_agent},
        )
        self._robots: dict[str, Protego | None] = {}  # by "scheme://netloc"; None: no rules
        self._last_request: dict[str, float] = {}  # by netloc, time.monotonic()
        self._kept: dict[str, _Kept] = {}
        self._kept_bytes = 0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        try:
            parsed = WebOptions.model_validate(dict(options))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"])
            raise ConfigError(f"web source option {field!r}: {error['msg']}") from exc
        return cls(parsed)

    def close(self) -> None:
        self._client.close()
        self._kept.clear()
        self._kept_bytes = 0

    # -- listing

    def documents(self) -> Iterator[SourceDocument]:
        self._kept.clear()
        self._kept_bytes = 0
        self._robots.clear()  # read again each listing: a site's rules change
        self.listing_complete = True
        starts = [url for url in (canonical_url(start) for start in self.options.start_urls) if url]
        queue: deque[str] = deque(starts)
        queue.extend(self._sitemap_pages())
        seen: set[str] = set()
        listed = 0
        while queue and listed < self.options.max_pages:
            url = queue.popleft()
            if url in seen:
                continue
            try:
                found = self._visit(url, seen) if self._allowed(url) else None
            except _Unreachable as exc:
                if url in starts:
                    raise SourceUnavailableError(f"the start URL {url} cannot be reached: {exc}") from exc
                raise SourceUnavailableError(f"{url} cannot be read, so the listing is incomplete: {exc}") from exc
            seen.add(url)
            if found is None:
                if url in starts:
                    raise SourceUnavailableError(
                        f"the start URL {url} cannot be read (not found, refused, disallowed, or a redirect loop)"
                    )
                continue
            document, links = found
            queue.extend(link for link in links if link not in seen)
            if document is not None:
                listed += 1
                yield document
        if queue and listed >= self.options.max_pages:
            self.listing_complete = False  # the sync keeps the pages it did not reach instead of deleting them
            log.warning("web source: max_pages (%d) reached; %d URLs not visited", self.options.max_pages, len(queue))

    def _visit(self, url: str, seen: set[str]) -> tuple[SourceDocument | None, tuple[str, ...]] | None:
        """The document at `url` (None: not a document) and the links to follow; None when nothing is there."""
        response = self._open(url, seen)
        if response is None:
            return None
        try:
            final = canonical_url(str(response.url)) or url
            if final != url:
                if final in seen:
                    return None  # a redirect to a page listed already
                seen.add(final)
            if not response.is_success:
                log.info("web source: %s answered %d; not listed", final, response.status_code)
                return None
            content_type, charset = _content_type(response)
            robots_header = response.headers.get("x-robots-tag", "").lower()
            index, follow = "noindex" not in robots_header, "nofollow" not in robots_header
            if content_type in _HTML_TYPES:
                body, whole = _read(response, self.options.max_bytes)
                if not whole:
                    return self._oversize(final, response, content_type), ()
                page = read_page(body, final, charset)
                links = page.links if follow and page.follow else ()
                if not (index and page.index):
                    return None, links
                marker = "sha256:" + hashlib.sha256(body).hexdigest()
                self._keep(final, marker, body)
                return self._document(final, marker, content_type, response, len(body), page.title), links
            if not index or _not_a_document(content_type):
                return None, ()
            length = _content_length(response)
            if length is not None and length > self.options.max_bytes:
                return self._oversize(final, response, content_type), ()
            header_marker = _header_marker(response)
            if header_marker is not None:  # fetch() downloads it, and only when the marker changed
                return self._document(final, header_marker, content_type, response, length, None), ()
            body, whole = _read(response, self.options.max_bytes)
            if not whole:
                return self._oversize(final, response, content_type), ()
            marker = "sha256:" + hashlib.sha256(body).hexdigest()
            self._keep(final, marker, body)
            return self._document(final, marker, content_type, response, len(body), None), ()
        finally:
            response.close()

    def _document(
        self, url: str, marker: str, content_type: str, response: httpx.Response, size: int | None, title: str | None
    ) -> SourceDocument:
        modified = None
        if "last-modified" in response.headers:
            try:
                modified = parsedate_to_datetime(response.headers["last-modified"])
            except (TypeError, ValueError):
                modified = None
        return SourceDocument(
            key=url, marker=marker, name=_name(url, content_type), title=title, url=url, modified_at=modified, size=size
        )

    def _oversize(self, url: str, response: httpx.Response, content_type: str) -> SourceDocument:
        """A page larger than max_bytes, listed with what its headers say (fetch() refuses it past its limit)."""
        length = _content_length(response)
        marker = _header_marker(response) or f"oversize:{length}"
        log.info("web source: %s is larger than max_bytes (%d); links not followed", url, self.options.max_bytes)
        return self._document(url, marker, content_type, response, length, None)

    def _keep(self, key: str, marker: str, body: bytes) -> None:
        if self._kept_bytes + len(body) <= self.options.keep_bytes:
            self._kept[key] = _Kept(marker, body)
            self._kept_bytes += len(body)

    def _sitemap_pages(self) -> list[str]:
        """The page URLs of the configured sitemaps, sitemap indexes followed; a sitemap that cannot be read makes
        the listing incomplete."""
        pages: list[str] = []
        pending = deque(url for url in (canonical_url(s) for s in self.options.sitemaps) if url)
        read: set[str] = set()
        while pending and len(read) < _MAX_SITEMAPS:
            url = pending.popleft()
            if url in read:
                continue
            read.add(url)
            try:
                response = self._open(url)
                if response is None or not response.is_success:
                    status = "a redirect loop" if response is None else str(response.status_code)
                    raise _Unreachable(status)
                try:
                    body, whole = _read(response, SITEMAP_MAX_BYTES)
                finally:
                    response.close()
                if not whole:
                    raise _Unreachable(f"larger than {SITEMAP_MAX_BYTES} bytes")
                sitemap = read_sitemap(body)
            except (_Unreachable, ValueError) as exc:
                raise SourceUnavailableError(f"the sitemap {url} cannot be read: {exc}") from exc
            locations = [loc for loc in (canonical_url(location) for location in sitemap.locations) if loc]
            (pending if sitemap.is_index else pages).extend(locations)
        return pages

    # -- fetching

    def fetch(self, document: SourceDocument, *, max_bytes: int) -> bytes:
        kept = self._kept.pop(document.key, None)
        if kept is not None:
            self._kept_bytes -= len(kept.body)
            if kept.marker == document.marker:
                if len(kept.body) > max_bytes:
                    raise FetchError(f"larger than {max_bytes} bytes")
                return kept.body
        if document.size is not None and document.size > max_bytes:
            raise FetchError(f"larger than {max_bytes} bytes ({document.size})")
        try:
            response = self._open(document.key)
        except _Unreachable as exc:
            raise FetchError(str(exc), transient=True) from exc
        if response is None:
            raise FetchError("a redirect loop, or a redirect out of the source's URLs")
        try:
            if not response.is_success:
                raise FetchError(f"HTTP {response.status_code}", transient=response.status_code >= 500)
            body, whole = _read(response, max_bytes)
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}", transient=True) from exc
        finally:
            response.close()
        if not whole:
            raise FetchError(f"larger than {max_bytes} bytes")
        return body

    # -- HTTP

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        host = parts.netloc.lower()
        if host not in self._hosts and (parts.hostname or "") not in self._hosts:
            return False
        path = parts.path or "/"
        if not any(path.startswith(prefix) for prefix in self.options.path_prefixes):
            return False
        if PurePosixPath(unquote(path)).suffix.lower() in _NOT_DOCUMENT_EXTENSIONS:
            return False
        rules = self._robots_for(url)
        return rules is None or rules.can_fetch(url, self.options.user_agent)

    def _robots_for(self, url: str) -> Protego | None:
        """The robots.txt rules of `url`'s site, read once per listing; none when it has no robots.txt (4xx).
        A robots.txt that cannot be read (5xx, down) is _Unreachable: its rules are unknown."""
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        if site in self._robots:
            return self._robots[site]
        rules: Protego | None = None
        robots_url: str | None = f"{site}/robots.txt"
        for _ in range(self.options.max_redirects + 1):  # robots.txt commonly redirects (http to https)
            assert robots_url is not None
            response = self._send(robots_url)
            try:
                if response.is_redirect:
                    robots_url = canonical_url(response.headers.get("location", ""), robots_url)
                    if robots_url is None:
                        break
                    continue
                if response.is_success:
                    body, _ = _read(response, _ROBOTS_MAX_BYTES)
                    rules = Protego.parse(body.decode("utf-8", errors="replace"))
                elif response.status_code >= 500:
                    raise _Unreachable(f"{robots_url} answered {response.status_code}")
                break
            finally:
                response.close()
        self._robots[site] = rules
        return rules

    def _open(self, url: str, visited: Container[str] = ()) -> httpx.Response | None:
        """The streamed answer for `url` after its redirects (the caller closes it); None for a redirect loop, too
        many redirects, a redirect to a URL the source does not allow or to one `visited` already."""
        hops = {url}
        for _ in range(self.options.max_redirects + 1):
            response = self._send(url)
            if not response.is_redirect:
                return response
            response.close()
            target = canonical_url(response.headers.get("location", ""), url)
            if target in visited:
                return None
            if target is None or target in hops or not self._allowed(target):
                log.info("web source: %s redirects to %s (a loop, or not allowed); skipped", url, target)
                return None
            hops.add(target)
            url = target
        log.info("web source: more than %d redirects from %s; skipped", self.options.max_redirects, url)
        return None

    def _send(self, url: str) -> httpx.Response:
        """One GET, streamed, `delay_s` after the previous one to its host; 429 and 503 are retried up to
        `max_retries` times after their Retry-After (capped). Network errors and 5xx are _Unreachable."""
        for attempt in range(self.options.max_retries + 1):
            self._wait_turn(url)
            try:
                response = self._client.send(self._client.build_request("GET", url), stream=True)
            except httpx.HTTPError as exc:
                raise _Unreachable(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code in (429, 503) and attempt < self.options.max_retries:
                response.close()
                time.sleep(self._retry_after(response, attempt))
                continue
            if response.status_code >= 500 or response.status_code == 429:
                response.close()
                raise _Unreachable(f"{url} answered {response.status_code}")
            return response
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        value = response.headers.get("retry-after", "")
        try:
            delay = float(value)
        except ValueError:
            try:
                delay = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                delay = 2.0**attempt  # no usable Retry-After: back off 1, 2, 4 ... seconds
        return min(max(delay, 0.0), self.options.max_retry_after_s)

    def _wait_turn(self, url: str) -> None:
        parts = urlsplit(url)
        delay = self.options.delay_s
        rules = self._robots.get(f"{parts.scheme}://{parts.netloc}")
        crawl_delay = rules.crawl_delay(self.options.user_agent) if rules is not None else None
        if crawl_delay is not None:
            delay = max(delay, min(crawl_delay, self.options.max_crawl_delay_s))
        last = self._last_request.get(parts.netloc)
        if last is not None:
            time.sleep(max(0.0, last + delay - time.monotonic()))
        self._last_request[parts.netloc] = time.monotonic()


def _read(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether that is all of it (the rest is never downloaded)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], False
    return b"".join(chunks), True


def _content_type(response: httpx.Response) -> tuple[str, str | None]:
    value = response.headers.get("content-type", "")
    media, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, arg = param.partition("=")
        if name.strip().lower() == "charset" and arg.strip():
            charset = arg.strip().strip('"').lower()
    return media.strip().lower(), charset


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _header_marker(response: httpx.Response) -> str | None:
    if "etag" in response.headers:
        return "etag:" + response.headers["etag"]
    if "last-modified" in response.headers:
        return "modified:" + response.headers["last-modified"]
    return None


def _not_a_document(content_type: str) -> bool:
    return content_type.startswith(_NOT_DOCUMENT_PREFIXES) or content_type in _NOT_DOCUMENT_TYPES


def _name(url: str, content_type: str) -> str:
    """A file name for `url` whose extension hints at its type: the path's last segment, with the type's usual
    extension added when the segment has another ("page.php" served as HTML is "page.php.html")."""
    segment = PurePosixPath(unquote(urlsplit(url).path)).name or "index"
    extensions = mimetypes.guess_all_extensions(content_type) if content_type else []
    if not extensions or PurePosixPath(segment).suffix.lower() in extensions:
        return segment
    preferred = ".html" if content_type in _HTML_TYPES else (mimetypes.guess_extension(content_type) or extensions[0])
    return segment + preferred
