"""Microsoft Entra's token side and Microsoft Graph's drive calls under the test's control, over real HTTPS from a
thread (msal accepts only https authorities; the certificate comes from a trustme CA whose PEM the connector is
given as `ca_bundle`).

Entra: the tenant's OpenID discovery document and the client-credentials token endpoint (a wrong secret is 401
`invalid_client`). Graph v1.0: a site by "hostname:/path" and its drives, drive children paged with `$top` and
`@odata.nextLink` (the server caps `$top`, so a few files already need several requests), item permissions (paged
too), JSON batching (`$batch`), and `/content` answering 302 to a pre-authenticated download URL. The next N Graph
requests, or requests inside batches, can be throttled (429 or 503 with `Retry-After: 1`). The test changes files
and permissions between syncs.
"""

from __future__ import annotations

import itertools
import json
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import trustme


@dataclass
class Item:
    id: str
    name: str
    parent: str  # an item id, or "root"
    content: bytes = b""
    folder: bool = False
    version: int = 1
    permissions: list[dict[str, Any]] = field(default_factory=list)

    def edit(self, content: bytes) -> None:
        self.content = content
        self.version += 1


@dataclass
class Drive:
    id: str
    name: str
    items: dict[str, Item] = field(default_factory=dict)


def user_grant(email: str, *, role: str = "read") -> dict[str, Any]:
    """A permission granted to one user, as Graph reports it (with the SharePoint site user beside it)."""
    name = email.split("@")[0]
    return {
        "id": f"perm-{name}",
        "roles": [role],
        "grantedToV2": {
            "user": {"id": f"uid-{name}", "displayName": name.title(), "email": email},
            "siteUser": {"id": "7", "displayName": name.title(), "loginName": f"i:0#.f|membership|{email}"},
        },
    }


def group_grant(name: str) -> dict[str, Any]:
    return {
        "id": f"perm-{name}",
        "roles": ["read"],
        "grantedToV2": {"group": {"id": f"gid-{name}", "displayName": name}},
    }


def site_group_grant(name: str) -> dict[str, Any]:
    return {
        "id": f"perm-sg-{name}",
        "roles": ["write"],
        "grantedToV2": {"siteGroup": {"id": "3", "displayName": name, "loginName": name}},
        "inheritedFrom": {},
    }


def site_user_grant(login: str, display_name: str) -> dict[str, Any]:
    """A permission granted to a SharePoint site "user", which is a claim: a person, a group or everyone."""
    site_user = {"id": "11", "displayName": display_name, "loginName": login}
    return {"id": f"perm-su-{display_name}", "roles": ["read"], "grantedToV2": {"siteUser": site_user}}


def link_grant(scope: str) -> dict[str, Any]:
    """A sharing link: "organization", "anonymous", or "users" (then with the people it was sent to)."""
    grant: dict[str, Any] = {"id": f"link-{scope}", "roles": ["read"], "link": {"scope": scope, "type": "view"}}
    if scope == "users":
        grant["grantedToIdentitiesV2"] = [{"user": {"id": "uid-dave", "userPrincipalName": "dave@contoso.com"}}]
    return grant


class GraphServer:
    """Entra at `authority_url` (tenant TENANT) and Graph at `graph_url`."""

    TENANT = "contoso-tenant"
    CLIENT_ID = "docent-app"
    CLIENT_SECRET = "app-secret"
    HOSTNAME = "contoso.sharepoint.com"

    def __init__(self, ca_dir: Path, *, page_limit: int = 3) -> None:
        self.page_limit = page_limit
        self.drives: dict[str, Drive] = {}
        self.site_drives: list[str] = []  # the drives of site HOSTNAME:/sites/hr
        self.throttle_next = 0
        self.throttle_status = 429
        self.throttle_batched_next = 0  # the next N requests inside batches answer 429 with Retry-After: 1
        self.tokens_issued = 0
        self.requests = 0
        self._tokens: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        ca = trustme.CA()
        self.ca_bundle = str(ca_dir / "graph-ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept-alive connections, as the real services answer
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def do_GET(self) -> None:
                self._reply(*owner._answer("GET", self.path, self.headers.get("Authorization", ""), b""))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                self._reply(*owner._answer("POST", self.path, self.headers.get("Authorization", ""), body))

            def _reply(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if not isinstance(body, bytes):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.origin = f"https://127.0.0.1:{self._server.server_address[1]}"
        self.authority_url = self.origin
        self.graph_url = self.origin + "/v1.0"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="graph-server"
        )

    def __enter__(self) -> GraphServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the test's side --------------------------------------------------------------------------------------

    def options(self, **extra: object) -> dict[str, object]:
        """Connector options that sign in to this server and trust its certificate."""
        return {
            "tenant_id": self.TENANT,
            "client_id": self.CLIENT_ID,
            "client_secret": self.CLIENT_SECRET,
            "authority_url": self.authority_url,
            "graph_url": self.graph_url,
            "ca_bundle": self.ca_bundle,
            **extra,
        }

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (Graph answers 401)."""
        self._tokens.clear()

    def add_drive(self, name: str, *, in_site: bool = True) -> Drive:
        drive = Drive(f"b!drive-{len(self.drives) + 1}", name)
        self.drives[drive.id] = drive
        if in_site:
            self.site_drives.append(drive.id)
        return drive

    def add(self, drive: Drive, name: str, content: bytes = b"", *, parent: Item | None = None) -> Item:
        item = Item(f"01ITEM{next(self._ids):04d}", name, parent.id if parent else "root", content)
        drive.items[item.id] = item
        return item

    def add_folder(self, drive: Drive, name: str, *, parent: Item | None = None) -> Item:
        item = self.add(drive, name, parent=parent)
        item.folder = True
        return item

    # -- the protocol -----------------------------------------------------------------------------------------

    def _answer(self, method: str, target: str, authorization: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        path = [unquote(part) for part in parts.path.strip("/").split("/")]
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if path[0] == self.TENANT:
            return self._entra(method, path[1:], body)
        with self._lock:  # Graph's throttling (Entra's token endpoint is another service)
            self.requests += 1
            if self.throttle_next > 0:
                self.throttle_next -= 1
                error = {"error": {"code": "TooManyRequests", "message": "Please retry again later."}}
                return self.throttle_status, error, {"Retry-After": "1"}
        if path[0] == "download" and len(path) == 3:  # pre-authenticated: no bearer token
            item = self.drives[path[1]].items.get(path[2]) if path[1] in self.drives else None
            if item is None or query.get("tempauth") != "signed":
                return 404, {"error": {"code": "itemNotFound"}}, {}
            return 200, item.content, {"Content-Type": "application/octet-stream"}
        if path[0] != "v1.0":
            return 404, {"error": {"code": "BadRequest"}}, {}
        if authorization.removeprefix("Bearer ") not in self._tokens:
            return 401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}, {}
        if method == "POST" and path[1:] == ["$batch"]:
            return self._batch(body)
        return self._graph(path[1:], query)

    def _batch(self, body: bytes) -> tuple[int, Any, dict[str, str]]:
        """JSON batching: each request answered apart (throttled apart too), in no promised order."""
        requests = json.loads(body).get("requests", [])
        if not 0 < len(requests) <= 20:
            return 400, {"error": {"code": "BadRequest", "message": "1 to 20 requests per batch"}}, {}
        responses: list[dict[str, Any]] = []
        for request in requests:
            with self._lock:
                throttled = self.throttle_batched_next > 0
                self.throttle_batched_next -= throttled
            if throttled:
                error = {"error": {"code": "TooManyRequests", "message": "Please retry again later."}}
                responses.append({"id": request["id"], "status": 429, "headers": {"Retry-After": "1"}, "body": error})
                continue
            parts = urlsplit(request["url"])
            path = [unquote(part) for part in parts.path.strip("/").split("/")]
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            status, answer, headers = self._graph(path, query)
            responses.append({"id": request["id"], "status": status, "headers": headers, "body": answer})
        return 200, {"responses": responses[::-1]}, {}

    def _entra(self, method: str, path: list[str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        base = f"{self.origin}/{self.TENANT}"
        if method == "GET" and path == ["v2.0", ".well-known", "openid-configuration"]:
            return (
                200,
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "id_token", "token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
                {},
            )
        if method == "POST" and path == ["oauth2", "v2.0", "token"]:
            form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
            if form.get("grant_type") != "client_credentials" or not form.get("scope", "").endswith("/.default"):
                return 400, {"error": "invalid_request", "error_description": "AADSTS900144"}, {}
            if form.get("client_id") != self.CLIENT_ID or form.get("client_secret") != self.CLIENT_SECRET:
                error = {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                }
                return 401, error, {}
            token = secrets.token_urlsafe(24)
            self._tokens.add(token)
            self.tokens_issued += 1
            return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}, {}
        return 404, {"error": "not_found"}, {}

    def _graph(self, path: list[str], query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        match path:
            case ["sites", host, "sites", "hr"] if host == f"{self.HOSTNAME}:":
                site_id = f"{self.HOSTNAME},site-guid,web-guid"
                return 200, {"id": site_id, "name": "hr", "webUrl": f"https://{self.HOSTNAME}/sites/hr"}, {}
            case ["sites", site_id, "drives"] if site_id.startswith(self.HOSTNAME + ","):
                value = [
                    {"id": drive_id, "name": self.drives[drive_id].name, "driveType": "documentLibrary"}
                    for drive_id in self.site_drives
                ]
                return 200, {"value": value}, {}
        if len(path) < 3 or path[0] != "drives" or path[1] not in self.drives:
            return 404, {"error": {"code": "itemNotFound", "message": "The resource could not be found."}}, {}
        drive, rest = self.drives[path[1]], path[2:]
        match rest:
            case ["root", "children"]:
                return self._children(drive, "root", query, "/".join(path))
            case ["root:", *folder_path, "children"] if folder_path and folder_path[-1].endswith(":"):
                folder = self._by_path(drive, "/".join(folder_path).removesuffix(":"))
                if folder is None:
                    return 404, {"error": {"code": "itemNotFound"}}, {}
                return self._children(drive, folder.id, query, "/".join(path))
            case ["items", item_id, *action] if item_id in drive.items:
                item = drive.items[item_id]
                if action == ["children"]:
                    return self._children(drive, item_id, query, "/".join(path))
                if action == ["permissions"]:
                    start = int(query.get("$skiptoken", 0))
                    answer: dict[str, Any] = {"value": item.permissions[start : start + self.page_limit]}
                    if start + self.page_limit < len(item.permissions):
                        following = urlencode({"$skiptoken": start + self.page_limit})
                        answer["@odata.nextLink"] = f"{self.graph_url}/{'/'.join(path)}?{following}"
                    return 200, answer, {}
                if action == ["content"] and not item.folder:
                    location = f"{self.origin}/download/{drive.id}/{item.id}?tempauth=signed"
                    return 302, b"", {"Location": location}
        return 404, {"error": {"code": "itemNotFound", "message": "The resource could not be found."}}, {}

    def _by_path(self, drive: Drive, path: str) -> Item | None:
        parent = "root"
        found: Item | None = None
        for name in path.split("/"):
            found = next((i for i in drive.items.values() if i.parent == parent and i.name == name), None)
            if found is None:
                return None
            parent = found.id
        return found

    def _path_of(self, drive: Drive, item: Item) -> str:
        names = [item.name]
        while item.parent != "root":
            item = drive.items[item.parent]
            names.insert(0, item.name)
        return "/".join(names)

    def _children(self, drive: Drive, parent: str, query: dict[str, str], path: str) -> tuple[int, Any, dict[str, str]]:
        children = sorted((item for item in drive.items.values() if item.parent == parent), key=lambda item: item.id)
        start = int(query.get("$skiptoken", 0))
        top = min(int(query.get("$top", 200)), self.page_limit)
        value = []
        for item in children[start : start + top]:
            entry: dict[str, Any] = {
                "id": item.id,
                "name": item.name,
                "eTag": f'"{{{item.id}}},{item.version}"',
                "cTag": f'"c:{{{item.id}}},{item.version}"',
                "lastModifiedDateTime": "2026-12-01T10:00:00Z",
                "webUrl": f"https://{self.HOSTNAME}/sites/hr/{drive.name}/{self._path_of(drive, item)}",
                "parentReference": {"driveId": drive.id, "id": item.parent},
            }
            if item.folder:
                entry["folder"] = {"childCount": sum(1 for other in drive.items.values() if other.parent == item.id)}
                entry["size"] = 0
            else:
                entry["file"] = {"mimeType": "application/octet-stream"}
                entry["size"] = len(item.content)
            value.append(entry)
        answer: dict[str, Any] = {"value": value}
        if start + top < len(children):
            answer["@odata.nextLink"] = f"{self.graph_url}/{path}?" + urlencode(
                {"$top": top, "$skiptoken": start + top}
            )
        return 200, answer, {}
