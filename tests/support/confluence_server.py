"""A Confluence under the test's control, speaking the REST calls `ingest.connectors.confluence` makes over real
HTTP from a thread: pages listed with `start`/`limit` and `_links.next` (the server caps `limit`, as Confluence's
system limits do, so a few pages already need several requests), page bodies, read restrictions, space
permissions (Data Center's `expand=permissions`, Cloud's v2 assignments with group and user look-ups), basic
(Cloud) or Bearer (Data Center) authentication, and the next N requests throttled with 429 and `Retry-After: 1`.
The test changes pages and permissions between syncs.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit


@dataclass
class Redirect:
    location: str


@dataclass
class User:
    account_id: str
    username: str
    email: str  # "" where Cloud hides it


@dataclass
class Space:
    id: int
    key: str
    read_users: list[str] = field(default_factory=list)  # account ids
    read_groups: list[str] = field(default_factory=list)


@dataclass
class Attachment:
    id: str  # "att<number>", as Confluence's v1 API names attachments
    title: str  # the file name
    content: bytes
    version: int = 1


@dataclass
class Page:
    id: str
    space: str
    title: str
    body: str
    parent: str | None = None
    version: int = 1
    read_users: list[str] = field(default_factory=list)  # account ids: the page's own view restriction
    read_groups: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def edit(self, body: str) -> None:
        self.body = body
        self.version += 1


class ConfluenceServer:
    """Cloud (`/wiki` context, basic auth) or Data Center (no context, Bearer token) at `base_url`."""

    EMAIL = "bot@example.com"
    API_TOKEN = "cloud-api-token"
    TOKEN = "dc-personal-access-token"

    def __init__(self, deployment: Literal["cloud", "datacenter"] = "cloud", *, page_limit: int = 3) -> None:
        self.deployment = deployment
        self.page_limit = page_limit
        self.context = "/wiki" if deployment == "cloud" else ""
        self.spaces: dict[str, Space] = {}
        self.pages: dict[str, Page] = {}
        self.users: dict[str, User] = {}
        self.throttle_next = 0  # the next N requests answer 429 with Retry-After: 1
        self.sign_in_page = False  # every request answers a single sign-on page (HTML, 200), as a proxy would
        self.requests = 0
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept-alive connections, as the real services answer
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def do_GET(self) -> None:
                status, body = owner._answer(self.path, self.headers.get("Authorization", ""))
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                if owner.sign_in_page:
                    data = b"<html><body><form action='/login'>Sign in</form></body></html>"
                    self.send_header("Content-Type", "text/html")
                elif isinstance(body, Redirect):
                    self.send_header("Location", body.location)
                    data = b""
                elif isinstance(body, bytes):
                    data = body
                    self.send_header("Content-Type", "application/octet-stream")
                else:
                    data = json.dumps(body).encode()
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.base_url = self.origin + self.context
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="confluence-server"
        )

    def __enter__(self) -> ConfluenceServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the test's side --------------------------------------------------------------------------------------

    def options(self, **extra: object) -> dict[str, object]:
        """Connector options that authenticate to this server."""
        auth: dict[str, object] = (
            {"email": self.EMAIL, "api_token": self.API_TOKEN} if self.deployment == "cloud" else {"token": self.TOKEN}
        )
        return {"base_url": self.base_url, "deployment": self.deployment, **auth, **extra}

    def add_user(self, account_id: str, username: str, email: str = "") -> User:
        self.users[account_id] = User(account_id, username, email)
        return self.users[account_id]

    def add_space(self, key: str, *, users: list[str] = (), groups: list[str] = ()) -> Space:  # type: ignore[assignment]
        self.spaces[key] = Space(len(self.spaces) + 70001, key, list(users), list(groups))
        return self.spaces[key]

    def add_page(self, space: str, title: str, body: str = "", *, parent: str | None = None) -> Page:
        page = Page(str(next(self._ids)), space, title, body or f"<p>{title}</p>", parent)
        self.pages[page.id] = page
        return page

    def attach(self, page: Page, title: str, content: bytes) -> Attachment:
        attachment = Attachment(f"att{next(self._ids)}", title, content)
        page.attachments.append(attachment)
        return attachment

    def _attachment(self, attachment_id: str) -> tuple[Page, Attachment] | None:
        for page in self.pages.values():
            for attachment in page.attachments:
                if attachment.id == attachment_id:
                    return page, attachment
        return None

    # -- the protocol -----------------------------------------------------------------------------------------

    def _answer(self, target: str, authorization: str) -> tuple[int, Any]:
        with self._lock:
            self.requests += 1
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return 429, {"message": "Rate limit exceeded"}
        if not self._authorized(authorization):
            return 401, {"statusCode": 401, "message": "Unauthorized"}
        parts = urlsplit(target)
        if not parts.path.startswith(self.context + "/"):
            return 404, {"statusCode": 404}
        path = parts.path.removeprefix(self.context).rstrip("/").split("/")[1:]
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        match path:
            case ["rest", "api", "content"]:
                return self._list(query)
            case ["rest", "api", "content", page_id] if page_id in self.pages:
                return 200, self._page(self.pages[page_id], body=True)
            case ["rest", "api", "content", attachment_id] if self._attachment(attachment_id):
                return 200, self._attachment_json(*self._attachment(attachment_id))  # type: ignore[misc]
            case ["rest", "api", "content", page_id, "child", "attachment"] if page_id in self.pages:
                return 200, self._attachments(self.pages[page_id], query)
            case ["download", "attachments", page_id, name] if page_id in self.pages:
                found = next((a for a in self.pages[page_id].attachments if a.title == unquote(name)), None)
                if found is None:
                    return 404, {"statusCode": 404, "message": "Attachment not found"}
                if self.deployment == "cloud":  # Cloud hands the bytes over from its media service
                    return 302, Redirect(f"{self.base_url}/files/{found.id}")
                return 200, found.content
            case ["files", attachment_id] if self._attachment(attachment_id):
                return 200, self._attachment(attachment_id)[1].content  # type: ignore[index]
            case ["rest", "api", "content", page_id, "restriction", "byOperation", "read"] if page_id in self.pages:
                return 200, self._restriction(self.pages[page_id], query)
            case ["rest", "api", "space", key] if key in self.spaces:
                return 200, self._space(self.spaces[key], "permissions" in query.get("expand", ""))
            case ["api", "v2", "spaces", space_id, "permissions"] if self.deployment == "cloud":
                return self._assignments(space_id, query)
            case ["rest", "api", "group", "by-id"] if self.deployment == "cloud":
                name = query.get("id", "").removeprefix("gid-")
                return 200, {"type": "group", "name": name, "id": query.get("id")}
            case ["rest", "api", "user"] if query.get("accountId") in self.users:
                return 200, self._user(self.users[query["accountId"]])
        return 404, {"statusCode": 404, "message": f"No content found at {parts.path}"}

    def _attachment_json(self, page: Page, attachment: Attachment) -> dict[str, Any]:
        return {
            "id": attachment.id,
            "type": "attachment",
            "title": attachment.title,
            "version": {"number": attachment.version, "when": "2026-12-02T10:00:00.000Z"},
            "extensions": {"mediaType": "application/octet-stream", "fileSize": len(attachment.content)},
            "_links": {
                "webui": f"/pages/viewpageattachments.action?pageId={page.id}&preview={quote(attachment.title)}",
                "download": f"/download/attachments/{page.id}/{quote(attachment.title)}?version={attachment.version}",
            },
        }

    def _attachments(self, page: Page, query: dict[str, str]) -> dict[str, Any]:
        start = int(query.get("start", 0))
        limit = min(int(query.get("limit", 25)), self.page_limit)
        chosen = page.attachments[start : start + limit]
        links: dict[str, str] = {"base": self.base_url, "context": self.context}
        if start + limit < len(page.attachments):
            following = urlencode({**query, "start": start + limit, "limit": limit})
            links["next"] = f"/rest/api/content/{page.id}/child/attachment?{following}"
        results = [self._attachment_json(page, attachment) for attachment in chosen]
        return {"results": results, "start": start, "limit": limit, "size": len(chosen), "_links": links}

    def _authorized(self, authorization: str) -> bool:
        if self.deployment == "datacenter":
            return authorization == f"Bearer {self.TOKEN}"
        expected = base64.b64encode(f"{self.EMAIL}:{self.API_TOKEN}".encode()).decode()
        return authorization == f"Basic {expected}"

    def _list(self, query: dict[str, str]) -> tuple[int, Any]:
        if query.get("spaceKey") not in self.spaces:
            return 404, {"statusCode": 404, "message": "No space with key"}
        pages = sorted(
            (page for page in self.pages.values() if page.space == query["spaceKey"]), key=lambda page: int(page.id)
        )
        start = int(query.get("start", 0))
        limit = min(int(query.get("limit", 25)), self.page_limit)
        results = [self._page(page, body=False) for page in pages[start : start + limit]]
        if "restrictions.read.restrictions.group" in query.get("expand", ""):  # inline, first window only
            for result in results:
                result["restrictions"] = {"read": self._restriction(self.pages[result["id"]], {})}
        links: dict[str, str] = {"base": self.base_url, "context": self.context}
        if start + limit < len(pages):
            links["next"] = "/rest/api/content?" + urlencode({**query, "start": start + limit, "limit": limit})
        return 200, {"results": results, "start": start, "limit": limit, "size": len(results), "_links": links}

    def _ancestors(self, page: Page) -> list[Page]:
        chain: list[Page] = []
        parent = page.parent
        while parent is not None:
            chain.insert(0, self.pages[parent])
            parent = self.pages[parent].parent
        return chain

    def _page(self, page: Page, *, body: bool) -> dict[str, Any]:
        webui = f"/spaces/{page.space}/pages/{page.id}/{page.title.replace(' ', '+')}"
        item: dict[str, Any] = {
            "id": page.id,
            "type": "page",
            "status": "current",
            "title": page.title,
            "version": {"number": page.version, "when": "2026-12-01T10:00:00.000Z"},
            "ancestors": [
                {"id": ancestor.id, "type": "page", "title": ancestor.title} for ancestor in self._ancestors(page)
            ],
            "_links": {"webui": webui, "self": f"{self.base_url}/rest/api/content/{page.id}"},
        }
        if body:
            item["body"] = {
                "export_view": {"value": page.body, "representation": "export_view"},
                "storage": {"value": page.body, "representation": "storage"},
            }
        return item

    def _user(self, user: User) -> dict[str, Any]:
        if self.deployment == "cloud":
            return {"type": "known", "accountId": user.account_id, "email": user.email, "publicName": user.username}
        return {
            "type": "known",
            "username": user.username,
            "userKey": f"key-{user.account_id}",
            "displayName": user.username,
        }

    def _restriction(self, page: Page, query: dict[str, str]) -> dict[str, Any]:
        start = int(query.get("start", 0))
        limit = min(int(query.get("limit", 25)), self.page_limit)

        def window(items: list[dict[str, Any]]) -> dict[str, Any]:
            chosen = items[start : start + limit]
            return {"results": chosen, "start": start, "limit": limit, "size": len(chosen)}

        users = [self._user(self.users[account]) for account in page.read_users]
        groups = [{"type": "group", "name": name, "id": f"gid-{name}"} for name in page.read_groups]
        return {"operation": "read", "restrictions": {"user": window(users), "group": window(groups)}}

    def _space(self, space: Space, expand_permissions: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"id": space.id, "key": space.key, "name": space.key, "type": "global"}
        if expand_permissions and self.deployment == "datacenter":
            users = [self._user(self.users[account]) for account in space.read_users]
            groups = [{"type": "group", "name": name} for name in space.read_groups]
            body["permissions"] = [
                {
                    "operation": {"operation": "read", "targetType": "space"},
                    "subjects": {
                        "user": {"results": users, "size": len(users)},
                        "group": {"results": groups, "size": len(groups)},
                    },
                    "anonymousAccess": False,
                    "unlicensedAccess": False,
                },
                {
                    "operation": {"operation": "administer", "targetType": "space"},
                    "subjects": {
                        "group": {"results": [{"type": "group", "name": "confluence-administrators"}], "size": 1}
                    },
                    "anonymousAccess": False,
                    "unlicensedAccess": False,
                },
            ]
        return body

    def _assignments(self, space_id: str, query: dict[str, str]) -> tuple[int, Any]:
        space = next((space for space in self.spaces.values() if str(space.id) == space_id), None)
        if space is None:
            return 404, {"errors": [{"status": 404, "title": "Not Found"}]}
        assignments = [{"principal": {"type": "user", "id": account}, "key": "read"} for account in space.read_users]
        assignments += [
            {"principal": {"type": "group", "id": f"gid-{name}"}, "key": "read"} for name in space.read_groups
        ]
        assignments.append({"principal": {"type": "group", "id": "gid-confluence-admins"}, "key": "administer"})
        start = int(query.get("cursor", 0))
        limit = min(int(query.get("limit", 25)), self.page_limit)
        results = [
            {
                "id": str(start + index),
                "principal": item["principal"],
                "operation": {"key": item["key"], "targetType": "space"},
            }
            for index, item in enumerate(assignments[start : start + limit])
        ]
        links: dict[str, str] = {"base": self.base_url}
        if start + limit < len(assignments):
            links["next"] = f"{self.context}/api/v2/spaces/{space_id}/permissions?" + urlencode(
                {"cursor": start + limit, "limit": limit}
            )
        return 200, {"results": results, "_links": links}
