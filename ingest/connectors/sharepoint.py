"""Files of SharePoint document libraries and OneDrive drives through Microsoft Graph v1.0, with who may read each.

The application signs in with OAuth client credentials through Microsoft's own `msal` (a ConfidentialClientApplication
on `authority_url/tenant_id`; it caches the token and asks again before it expires). It then walks each drive from
its root (or from `folder`) with `/drives/{id}/root/children` and `/items/{id}/children`, following
`@odata.nextLink`. A file is keyed "<drive id>/<item id>" (stable across renames and moves), marked by its `cTag`
(which changes with the content only; `eTag` where there is none), named by its name, and fetched from
`/items/{id}/content`, whose 302 to a pre-authenticated download URL is followed.

Permissions (`acl`) come from `/drives/{d}/items/{i}/permissions`, asked 20 files at a time through Graph's
JSON batching (`graph_batch.py`), every role counting as read:
- `grantedToV2` / `grantedToIdentitiesV2` (or the older `grantedTo*`): a user is `user:<email>`, else
  `user:<userPrincipalName>` or `user:<id>`; an Entra group and a SharePoint site group are `group:<displayName>`;
- a SharePoint site user is read by its claim: a person, an Entra group (`group:<displayName>`), or the
  "Everyone (except external users)" claims, which grant `organization_principal` (default `group:everyone`);
- a sharing link of scope "organization" or "anonymous" grants `organization_principal` too: an anonymous link
  reaches anyone who holds it, which in Docent is at least everyone in the organisation; Docent's `public` is a
  setting of the whole source, not of one document, so it is not inferred per file. Set `organization_principal`
  to null to ignore organisation-wide grants (the file then keeps only its named readers);
- a file whose permissions name nobody gets an empty ACL (no reader), never the source's configured one.

LlamaIndex's SharePointReader returns parsed text without markers, raw bytes or permissions; `msgraph-sdk` would
add a large asynchronous client for five GET calls, so Graph is called with httpx (timeouts, one connection pool).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import datetime
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx
import msal  # type: ignore[import-untyped]
import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from ingest.connectors.base import FetchError, SourceDocument, SourceUnavailableError
from ingest.connectors.graph_batch import get_many
from ingest.connectors.throttling import THROTTLED, send
from retrieval.errors import ConfigError

Json = dict[str, Any]


class SharePointOptions(BaseModel):
    """A SharePoint or OneDrive source's options (`options` of a DOCENT_SOURCES entry)."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    client_id: str
    client_secret: SecretStr
    authority_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    site: str | None = None  # "contoso.sharepoint.com:/sites/hr" or a site id: all its document libraries
    drive_ids: list[str] = Field(default_factory=list)  # these drives (a library's or a user's OneDrive) instead
    folder: str = ""  # only files under this folder of each drive ("Policies/2026")
    organization_principal: str | None = "group:everyone"  # what organisation-wide or anonymous grants give
    page_size: int = Field(default=200, ge=1, le=999)
    ca_bundle: str | None = None  # a PEM file of CAs to trust (a TLS-inspecting proxy) instead of the system's
    timeout_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)  # per request, while throttled (429/503 with Retry-After)
    max_retry_wait_s: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _somewhere(self) -> Self:
        if self.site is None and not self.drive_ids:
            raise ValueError("name a 'site' or one or more 'drive_ids'")
        return self


class _Bearer(httpx.Auth):
    """Graph's access token on every request, asked of msal each time (msal answers from its cache)."""

    def __init__(self, connector: SharePointConnector) -> None:
        self.connector = connector

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.connector.access_token()}"
        yield request


class SharePointConnector:
    """Files of the configured drives (see the module docstring)."""

    Options = SharePointOptions

    def __init__(self, options: SharePointOptions) -> None:
        self.options = options
        self.graph_url = options.graph_url.rstrip("/")
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=options.ca_bundle) if options.ca_bundle else True
        )
        self._client = httpx.Client(auth=_Bearer(self), timeout=options.timeout_s, verify=verify)
        self._app: Any = None  # msal's application, built on first use: it reads the authority's metadata
        # msal's connections to Microsoft Entra. msal's own session would take its CAs from REQUESTS_CA_BUNDLE
        # over its `verify` (requests#3829): each request names them, and the timeout, explicitly.
        self._session = requests.Session()
        self._session.request = functools.partial(  # type: ignore[method-assign]
            self._session.request, timeout=options.timeout_s, verify=options.ca_bundle or True
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        try:
            return cls(SharePointOptions.model_validate(dict(options)))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "options"
            raise ConfigError(f"sharepoint option {field!r}: {error['msg']}") from exc

    def close(self) -> None:
        self._client.close()
        self._session.close()

    # -- the token --------------------------------------------------------------------------------------------

    def access_token(self) -> str:
        """An application token for Graph; raises SourceUnavailableError when Microsoft Entra refuses one."""
        authority = f"{self.options.authority_url.rstrip('/')}/{self.options.tenant_id}"
        parts = urlsplit(self.graph_url)
        try:
            if self._app is None:
                self._app = msal.ConfidentialClientApplication(
                    self.options.client_id,
                    client_credential=self.options.client_secret.get_secret_value(),
                    authority=authority,
                    instance_discovery=False,  # the operator names the authority; nothing to look up at Microsoft
                    http_client=self._session,
                )
            result = self._app.acquire_token_for_client(scopes=[f"{parts.scheme}://{parts.netloc}/.default"])
        except (ValueError, requests.RequestException) as exc:
            raise SourceUnavailableError(f"Microsoft Entra at {authority}: no token: {exc}") from exc
        if "access_token" not in result:
            raise SourceUnavailableError(
                f"Microsoft Entra at {authority} refused the client credentials of {self.options.client_id}: "
                f"{result.get('error')}: {result.get('error_description', '')}".strip()
            )
        token: str = result["access_token"]
        return token

    # -- listing ----------------------------------------------------------------------------------------------

    def documents(self) -> Iterator[SourceDocument]:
        for drive_id in self._drives():
            folder = self.options.folder.strip("/")
            start = (
                f"/drives/{drive_id}/root:/{quote(folder)}:/children" if folder else f"/drives/{drive_id}/root/children"
            )
            pending = [self.graph_url + start]
            while pending:
                url: str | None = pending.pop()
                params: dict[str, str | int] | None = {"$top": self.options.page_size}
                while url is not None:
                    body = self._get_listing(url, params, f"the files of drive {drive_id}")
                    items = body.get("value", [])
                    pending.extend(
                        f"{self.graph_url}/drives/{drive_id}/items/{item['id']}/children"
                        for item in items
                        if "folder" in item
                    )
                    files = [item for item in items if "file" in item]  # not folders, OneNote packages
                    acls = self._permissions(drive_id, [item["id"] for item in files])
                    yield from (self._document(drive_id, item, acls[item["id"]]) for item in files)
                    url, params = body.get("@odata.nextLink"), None

    def _drives(self) -> list[str]:
        if self.options.drive_ids:
            return list(self.options.drive_ids)
        assert self.options.site is not None
        site = self._get_listing(f"{self.graph_url}/sites/{self.options.site}", None, f"site {self.options.site}")
        drives: list[str] = []
        url: str | None = f"{self.graph_url}/sites/{site['id']}/drives"
        while url is not None:
            body = self._get_listing(url, None, f"the document libraries of site {self.options.site}")
            drives.extend(drive["id"] for drive in body.get("value", []))
            url = body.get("@odata.nextLink")
        return drives

    def _document(self, drive_id: str, item: Json, acl: set[str]) -> SourceDocument:
        return SourceDocument(
            key=f"{drive_id}/{item['id']}",
            marker=item.get("cTag") or item.get("eTag") or "",
            name=item["name"],
            title=None,
            url=item.get("webUrl"),
            modified_at=_timestamp(item.get("lastModifiedDateTime")),
            size=item.get("size"),
            acl=tuple(sorted(acl)),
        )

    def _permissions(self, drive_id: str, item_ids: list[str]) -> dict[str, set[str]]:
        """Who may read each item, asked in batches of 20 (graph_batch); a long list's next pages one by one."""
        paths = {item_id: f"/drives/{drive_id}/items/{item_id}/permissions" for item_id in item_ids}
        bodies = get_many(
            lambda batch: self._checked(
                lambda: self._client.post(f"{self.graph_url}/$batch", json=batch), "a batch of permissions"
            ),
            list(paths.values()),
            attempts=self.options.max_attempts,
            max_wait=self.options.max_retry_wait_s,
        )
        acls: dict[str, set[str]] = {}
        for item_id, path in paths.items():
            body: Json | None = bodies[path]
            principals: set[str] = set()
            while body is not None:
                for permission in body.get("value", []):
                    principals.update(self._principals(permission))
                following = body.get("@odata.nextLink")
                body = self._get_listing(following, None, f"the permissions of item {item_id}") if following else None
            acls[item_id] = principals
        return acls

    def _principals(self, permission: Json) -> set[str]:
        """Who one Graph permission lets read the item."""
        found: set[str] = set()
        link = permission.get("link") or {}
        if link.get("scope") in ("organization", "anonymous") and self.options.organization_principal:
            found.add(self.options.organization_principal)
        granted = permission.get("grantedToV2") or permission.get("grantedTo")
        identities = permission.get("grantedToIdentitiesV2") or permission.get("grantedToIdentities") or []
        for identity in [granted, *identities]:
            if not identity:
                continue
            user, group = identity.get("user"), identity.get("group") or identity.get("siteGroup")
            site_user = identity.get("siteUser")
            if user:
                found.add(f"user:{user.get('email') or user.get('userPrincipalName') or user['id']}")
            elif site_user:
                found.update(self._site_user(site_user))
            if group:
                found.add(f"group:{group.get('displayName') or group['id']}")
        return found

    def _site_user(self, identity: Json) -> set[str]:
        """A SharePoint site "user" by its claim: a person ("i:0#.f|membership|alice@contoso.com"), an Entra group
        ("c:0t.c|tenant|<id>", "c:0o.c|federateddirectoryclaimprovider|<id>"), or everyone in the organisation
        ("c:0-.f|rolemanager|spo-grid-all-users/<tenant>", "c:0(.s|true")."""
        login = str(identity.get("loginName") or "")
        if "spo-grid-all-users" in login or login == "c:0(.s|true":
            return {self.options.organization_principal} if self.options.organization_principal else set()
        name = login.split("|")[-1] or str(identity.get("id"))
        if login.startswith(("c:0t.c|", "c:0o.c|")):
            return {f"group:{identity.get('displayName') or name}"}
        return {f"user:{identity.get('email') or name}"}

    def _get_listing(self, url: str, params: Mapping[str, str | int] | None, what: str) -> Json:
        return self._checked(lambda: self._client.get(url, params=params), what)

    def _checked(self, request: Callable[[], httpx.Response], what: str) -> Json:
        """One JSON answer of the listing; anything but 200 makes the whole listing unavailable."""
        try:
            response = send(request, attempts=self.options.max_attempts, max_wait=self.options.max_retry_wait_s)
        except httpx.HTTPError as exc:
            raise SourceUnavailableError(f"Microsoft Graph: cannot read {what}: {exc}") from exc
        if response.status_code in (401, 403):
            raise SourceUnavailableError(
                f"Microsoft Graph refused to list {what} ({response.status_code}): the application needs the "
                "Sites.Read.All or Files.Read.All application permission, granted by an administrator"
            )
        if response.status_code != 200:
            raise SourceUnavailableError(f"Microsoft Graph: listing {what} answered {response.status_code}")
        try:
            body: Json = response.json()
        except ValueError as exc:
            raise SourceUnavailableError(f"Microsoft Graph: listing {what} answered something other than JSON") from exc
        return body

    # -- fetching ---------------------------------------------------------------------------------------------

    def fetch(self, document: SourceDocument, *, max_bytes: int) -> bytes:
        if document.size is not None and document.size > max_bytes:
            raise FetchError(f"{document.name}: {document.size} bytes, over the limit of {max_bytes}")
        drive_id, _, item_id = document.key.partition("/")
        url = f"{self.graph_url}/drives/{drive_id}/items/{item_id}/content"

        def open_content() -> httpx.Response:
            response = self._client.send(self._client.build_request("GET", url), stream=True, follow_redirects=True)
            if response.status_code != 200:
                response.read()  # a short error body: the connection is free again for a retry
            return response

        try:
            response = send(open_content, attempts=self.options.max_attempts, max_wait=self.options.max_retry_wait_s)
        except SourceUnavailableError as exc:
            raise FetchError(f"{document.name}: {exc}", transient=True) from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{document.name}: {exc}", transient=True) from exc
        try:
            if response.status_code != 200:
                transient = response.status_code in THROTTLED or response.status_code >= 500
                raise FetchError(f"{document.name}: Graph answered {response.status_code}", transient=transient)
            data = bytearray()
            try:
                for chunk in response.iter_bytes():
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise FetchError(f"{document.name}: over the limit of {max_bytes} bytes")
            except httpx.HTTPError as exc:
                raise FetchError(f"{document.name}: {exc}", transient=True) from exc
        finally:
            response.close()
        return bytes(data)


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
