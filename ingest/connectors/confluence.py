"""Confluence Cloud and Data Center pages as documents, with who may read each.

Listing uses the v1 REST API that both deployments serve: `/rest/api/content?spaceKey=K&type=page` with
`expand=version,ancestors` and each page's read restriction expanded inline (one request per 50 pages, not one
per page), following `_links.next`. A page is keyed by its id, marked by its version number, named "<id>.html"
and fetched as its `export_view` (or `storage`) body wrapped in a small HTML document with its title.
With `include_attachments`, each page's attachments follow it (`/child/attachment`): keyed by their own id
("att..."), marked by their version, named by their file name, readable by whoever reads the page, and fetched
from their download link (Cloud redirects it to its media store).

Permissions (`acl`), as Confluence decides who may view a page:
- a page's view ("read") restrictions and those of every ancestor apply together: a reader must pass each
  restricted level. Docent cannot expand groups, so the levels are intersected as sets of principals: a user or
  group is in the ACL only when every restricted level names it. That never lets in someone Confluence would
  keep out; it can leave out a user who passes one level by name and another through a group (name the group
  at both levels, or map it, to include them);
- a page with no restricted level gets its space's "read" permissions. Data Center: `/rest/api/space/{key}?
  expand=permissions`. Cloud removed that expansion, so it reads `/api/v2/spaces/{id}/permissions` and names the
  principals through `/rest/api/group/by-id` and `/rest/api/user` (cached for the sync). Space roles and
  anonymous access are not mapped (no principal names them), and a restricted page's ACL is not intersected with
  the space's: restrictions are set inside a space whose readers already include the people named. A space whose
  read permissions name no user or group leaves its unrestricted pages to the source's configured `acl`.
Users are `user:<email>`, or `user:<accountId>` where Cloud hides the e-mail and `user:<username>` on Data Center;
groups are `group:<name>`.

LlamaIndex's ConfluenceReader and the `atlassian-python-api` SDK return parsed text or untyped JSON without the
restriction inheritance; the few REST calls needed are made with httpx (timeouts, one connection pool) instead.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal, Self
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from ingest.connectors.base import FetchError, SourceDocument, SourceUnavailableError
from ingest.connectors.throttling import send
from retrieval.errors import ConfigError

Json = dict[str, Any]


class ConfluenceOptions(BaseModel):
    """A Confluence source's options (`options` of a DOCENT_SOURCES entry)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str  # Cloud: https://x.atlassian.net/wiki; Data Center: https://confluence.corp (with its context)
    deployment: Literal["cloud", "datacenter"] = "cloud"
    spaces: list[str] = Field(min_length=1)  # space keys
    email: str | None = None  # Cloud: the account's e-mail, with `api_token` (basic auth)
    api_token: SecretStr | None = None
    token: SecretStr | None = None  # Data Center: a personal access token (Bearer)
    body_format: Literal["export_view", "storage"] = "export_view"
    include_attachments: bool = False  # each page's attachments too (one more request per page to list them)
    page_size: int = Field(default=50, ge=1, le=250)
    timeout_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)  # per request, while throttled (429/503 with Retry-After)
    max_retry_wait_s: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if self.deployment == "cloud" and (self.email is None or self.api_token is None):
            raise ValueError("deployment 'cloud' needs 'email' and 'api_token' (or 'api_token_env')")
        if self.deployment == "datacenter" and self.token is None:
            raise ValueError("deployment 'datacenter' needs a personal access token 'token' (or 'token_env')")
        return self


class ConfluenceConnector:
    """Pages of the configured spaces (see the module docstring)."""

    Options = ConfluenceOptions

    def __init__(self, options: ConfluenceOptions) -> None:
        self.options = options
        self.base_url = options.base_url.rstrip("/")
        auth: httpx.Auth | None = None
        headers = {"Accept": "application/json"}
        if options.deployment == "cloud":
            assert options.email is not None and options.api_token is not None
            auth = httpx.BasicAuth(options.email, options.api_token.get_secret_value())
        else:
            assert options.token is not None
            headers["Authorization"] = f"Bearer {options.token.get_secret_value()}"
        self._client = httpx.Client(auth=auth, headers=headers, timeout=options.timeout_s)
        self._restrictions: dict[str, frozenset[str] | None] = {}  # per sync: a page id's read restriction
        self._names: dict[tuple[str, str], str] = {}  # Cloud: (type, id) -> principal
        self._downloads: dict[str, str] = {}  # an attachment's id -> its download link, from the listing

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        try:
            return cls(ConfluenceOptions.model_validate(dict(options)))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "options"
            raise ConfigError(f"confluence option {field!r}: {error['msg']}") from exc

    def close(self) -> None:
        self._client.close()

    # -- listing ----------------------------------------------------------------------------------------------

    def documents(self) -> Iterator[SourceDocument]:
        self._restrictions.clear()
        self._names.clear()
        for space in self.options.spaces:
            space_acl = self._space_acl(space)
            pages = self._pages(space)
            for page in pages:  # before any ACL: a page's ancestors are pages of its space, often listed later
                self._inline_restriction(page)
            for page in pages:
                document = self._document(page, space_acl)
                yield document
                if self.options.include_attachments:
                    yield from self._attachments(document)

    def _pages(self, space: str) -> list[Json]:
        """Every page of a space with its version, ancestors and (inline, first window) read restriction."""
        pages: list[Json] = []
        url: str | None = self._url("/rest/api/content")
        params: dict[str, str | int] | None = {
            "spaceKey": space,
            "type": "page",
            "expand": "version,ancestors,restrictions.read.restrictions.user,restrictions.read.restrictions.group",
            "start": 0,
            "limit": self.options.page_size,
        }
        while url is not None:
            body = self._get_listing(url, params, f"pages of space {space}")
            pages.extend(body.get("results", []))
            following = body.get("_links", {}).get("next")
            url, params = (self._url(following), None) if following else (None, None)
        return pages

    def _inline_restriction(self, page: Json) -> None:
        """A page's read restriction as the listing expanded it, kept unless a list may go on past its window
        (then `_restriction` asks the restriction endpoint, page by page)."""
        read = page.get("restrictions", {}).get("read", {}).get("restrictions")
        if not isinstance(read, dict):
            return
        users, groups = read.get("user", {}), read.get("group", {})
        for part in (users, groups):
            if "limit" in part and len(part.get("results", [])) >= int(part["limit"]):
                return
        principals = {self._user(user) for user in users.get("results", [])}
        principals.update(f"group:{group['name']}" for group in groups.get("results", []))
        self._restrictions[str(page["id"])] = frozenset(principals) if principals else None

    def _document(self, page: Json, space_acl: frozenset[str] | None) -> SourceDocument:
        page_id = str(page["id"])
        version = page.get("version", {})
        levels = [str(ancestor["id"]) for ancestor in page.get("ancestors", [])] + [page_id]
        restricted = [acl for acl in (self._restriction(level) for level in levels) if acl is not None]
        acl = frozenset.intersection(*restricted) if restricted else space_acl
        webui = page.get("_links", {}).get("webui")
        return SourceDocument(
            key=page_id,
            marker=str(version.get("number", "")),
            name=f"{page_id}.html",
            title=page.get("title"),
            url=self.base_url + webui if webui else None,
            modified_at=_timestamp(version.get("when")),
            acl=tuple(sorted(acl)) if acl is not None else None,
        )

    def _attachments(self, page: SourceDocument) -> Iterator[SourceDocument]:
        """A page's attachments: keyed by their own ids ("att..."), readable by whoever reads the page."""
        url: str | None = self._url(f"/rest/api/content/{page.key}/child/attachment")
        params: dict[str, str | int] | None = {"expand": "version", "start": 0, "limit": self.options.page_size}
        while url is not None:
            body = self._get_listing(url, params, f"the attachments of page {page.key}")
            for attachment in body.get("results", []):
                key = str(attachment["id"])
                self._downloads[key] = attachment.get("_links", {}).get("download", "")
                version = attachment.get("version", {})
                yield SourceDocument(
                    key=key,
                    marker=str(version.get("number", "")),
                    name=attachment["title"],
                    title=attachment["title"],
                    url=page.url,
                    modified_at=_timestamp(version.get("when")),
                    size=attachment.get("extensions", {}).get("fileSize"),
                    acl=page.acl,
                )
            following = body.get("_links", {}).get("next")
            url, params = (self._url(following), None) if following else (None, None)

    def _restriction(self, page_id: str) -> frozenset[str] | None:
        """Who a page's own read restriction names; None when it has none (cached: ancestors repeat)."""
        if page_id not in self._restrictions:
            principals: set[str] = set()
            start = 0
            while True:
                body = self._get_listing(
                    self._url(f"/rest/api/content/{page_id}/restriction/byOperation/read"),
                    {
                        "expand": "restrictions.user,restrictions.group",
                        "start": start,
                        "limit": self.options.page_size,
                    },
                    f"the read restrictions of page {page_id}",
                )
                restrictions = body.get("restrictions", {})
                users, groups = restrictions.get("user", {}), restrictions.get("group", {})
                principals.update(self._user(user) for user in users.get("results", []))
                principals.update(f"group:{group['name']}" for group in groups.get("results", []))
                # Confluence may cap `limit` below what was asked: it says the limit it applied.
                limit = int(users.get("limit") or groups.get("limit") or self.options.page_size)
                if len(users.get("results", [])) < limit and len(groups.get("results", [])) < limit:
                    break
                start += limit
            self._restrictions[page_id] = frozenset(principals) if principals else None
        return self._restrictions[page_id]

    def _user(self, user: Json) -> str:
        name = user.get("email") or user.get("username") or user.get("accountId") or user.get("userKey")
        return f"user:{name}"

    def _space_acl(self, space: str) -> frozenset[str] | None:
        if self.options.deployment == "datacenter":
            body = self._get_listing(self._url(f"/rest/api/space/{space}"), {"expand": "permissions"}, f"space {space}")
            principals: set[str] = set()
            for permission in body.get("permissions", []):
                if permission.get("operation", {}).get("operation") != "read":
                    continue
                subjects = permission.get("subjects", {})
                principals.update(self._user(user) for user in subjects.get("user", {}).get("results", []))
                principals.update(f"group:{group['name']}" for group in subjects.get("group", {}).get("results", []))
            return frozenset(principals) if principals else None
        space_id = self._get_listing(self._url(f"/rest/api/space/{space}"), None, f"space {space}")["id"]
        principals = set()
        url: str | None = self._url(f"/api/v2/spaces/{space_id}/permissions")
        params: dict[str, str | int] | None = {"limit": self.options.page_size}
        while url is not None:
            body = self._get_listing(url, params, f"the permissions of space {space}")
            for assignment in body.get("results", []):
                if assignment.get("operation", {}).get("key") != "read":
                    continue
                principal = assignment.get("principal", {})
                if principal.get("type") in ("user", "group"):
                    principals.add(self._cloud_principal(principal["type"], str(principal["id"])))
            following = body.get("_links", {}).get("next")
            url, params = (self._url(following), None) if following else (None, None)
        return frozenset(principals) if principals else None

    def _cloud_principal(self, kind: str, principal_id: str) -> str:
        """A Cloud space permission's user or group by name (its id alone says nothing to Docent's readers)."""
        if (kind, principal_id) not in self._names:
            if kind == "group":
                group = self._get_listing(
                    self._url("/rest/api/group/by-id"), {"id": principal_id}, f"group {principal_id}"
                )
                self._names[(kind, principal_id)] = f"group:{group['name']}"
            else:
                user = self._get_listing(
                    self._url("/rest/api/user"), {"accountId": principal_id}, f"user {principal_id}"
                )
                self._names[(kind, principal_id)] = self._user(user)
        return self._names[(kind, principal_id)]

    def _get_listing(self, url: str, params: Mapping[str, str | int] | None, what: str) -> Json:
        """One JSON answer of the listing; anything but 200 makes the whole listing unavailable."""
        try:
            response = send(
                lambda: self._client.get(url, params=params),
                attempts=self.options.max_attempts,
                max_wait=self.options.max_retry_wait_s,
            )
        except httpx.HTTPError as exc:
            raise SourceUnavailableError(f"Confluence at {self.base_url}: cannot read {what}: {exc}") from exc
        if response.status_code in (401, 403):
            raise SourceUnavailableError(
                f"Confluence at {self.base_url} refused to list {what} ({response.status_code}): check the "
                f"{'e-mail and API token' if self.options.deployment == 'cloud' else 'personal access token'} "
                "and that the account may view the space"
            )
        if response.status_code != 200:
            raise SourceUnavailableError(
                f"Confluence at {self.base_url}: listing {what} answered {response.status_code}"
            )
        try:
            body: Json = response.json()
        except ValueError as exc:  # a single sign-on page in front of Confluence answers HTML with 200
            raise SourceUnavailableError(
                f"Confluence at {self.base_url}: listing {what} answered {response.headers.get('content-type')}, "
                "not JSON (is a sign-in page in front of the API?)"
            ) from exc
        return body

    def _url(self, path: str) -> str:
        """An absolute URL for a path of the API or a `_links.next`: v1 links are relative to the base URL, v2
        links (Cloud) start with the base URL's own path ("/wiki/api/v2/...")."""
        prefix = urlsplit(self.base_url).path
        if prefix and path.startswith(prefix + "/"):
            parts = urlsplit(self.base_url)
            return f"{parts.scheme}://{parts.netloc}{path}"
        return self.base_url + path

    # -- fetching ---------------------------------------------------------------------------------------------

    def fetch(self, document: SourceDocument, *, max_bytes: int) -> bytes:
        if document.key.startswith("att"):
            return self._fetch_attachment(document, max_bytes)
        expand = f"body.{self.options.body_format},version"
        try:
            response = send(
                lambda: self._client.get(self._url(f"/rest/api/content/{document.key}"), params={"expand": expand}),
                attempts=self.options.max_attempts,
                max_wait=self.options.max_retry_wait_s,
            )
        except httpx.HTTPError as exc:
            raise FetchError(f"page {document.key}: {exc}", transient=True) from exc
        if response.status_code != 200:
            transient = response.status_code >= 500 or response.status_code == 429
            raise FetchError(f"page {document.key}: Confluence answered {response.status_code}", transient=transient)
        try:
            page = response.json()
        except ValueError as exc:
            raise FetchError(f"page {document.key}: not JSON ({response.headers.get('content-type')})") from exc
        body = page.get("body", {}).get(self.options.body_format, {}).get("value", "")
        title = html.escape(page.get("title") or document.title or document.key)
        data = (
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
            f"<body><h1>{title}</h1>\n{body}\n</body></html>\n"
        ).encode()
        if len(data) > max_bytes:
            raise FetchError(f"page {document.key}: {len(data)} bytes, over the limit of {max_bytes}")
        return data

    def _fetch_attachment(self, document: SourceDocument, max_bytes: int) -> bytes:
        if document.size is not None and document.size > max_bytes:
            raise FetchError(f"{document.name}: {document.size} bytes, over the limit of {max_bytes}")
        link = self._downloads.get(document.key) or self._download_link(document)

        def open_download() -> httpx.Response:
            request = self._client.build_request("GET", self._url(link))
            response = self._client.send(request, stream=True, follow_redirects=True)  # Cloud: to its media store
            if response.status_code != 200:
                response.read()  # a short error body: the connection is free again for a retry
            return response

        try:
            response = send(open_download, attempts=self.options.max_attempts, max_wait=self.options.max_retry_wait_s)
        except httpx.HTTPError as exc:
            raise FetchError(f"{document.name}: {exc}", transient=True) from exc
        try:
            if response.status_code != 200:
                status = response.status_code
                raise FetchError(
                    f"{document.name}: Confluence answered {status}", transient=status == 429 or status >= 500
                )
            data = bytearray()
            for chunk in response.iter_bytes():
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise FetchError(f"{document.name}: over the limit of {max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise FetchError(f"{document.name}: {exc}", transient=True) from exc
        finally:
            response.close()
        return bytes(data)

    def _download_link(self, document: SourceDocument) -> str:
        """An attachment's download link asked of Confluence (it was listed by another connector object)."""
        try:
            response = send(
                lambda: self._client.get(self._url(f"/rest/api/content/{document.key}")),
                attempts=self.options.max_attempts,
                max_wait=self.options.max_retry_wait_s,
            )
        except httpx.HTTPError as exc:
            raise FetchError(f"{document.name}: {exc}", transient=True) from exc
        link = response.json().get("_links", {}).get("download") if response.status_code == 200 else None
        if not isinstance(link, str) or not link:
            status = response.status_code
            raise FetchError(f"{document.name}: Confluence answered {status}", transient=status == 429 or status >= 500)
        return link


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
