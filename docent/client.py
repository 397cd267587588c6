"""A Python client of Docent's HTTP API, sync (`Docent`) and async (`AsyncDocent`), over httpx.

    from docent.client import Docent

    with Docent("http://localhost:8000", api_key="dk_...") as docent:
        for passage in docent.search("VPN port", k=5)["passages"]:
            print(passage["source"], passage["text"][:80])
        answer = docent.ask("How do I reset my password?")
        for event in docent.ask_stream("How do I reset my password?"):
            print(event.event, event.data)

Responses are the API's JSON as dicts (their schemas are in /openapi.json); an error response is raised as a
`DocentAPIError` subclass chosen by its HTTP status, carrying the server's stable `code`, its message, the request
id and the status. `ROUTES` names the route of each method and the parameters it sends: a test checks it against
the server's OpenAPI schema, so the client cannot drift from the API unnoticed.

This module imports nothing of the server (answer, ingest, retrieval, serve): it installs without the models.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import quote

import httpx

__all__ = [
    "ROUTES",
    "AskEvent",
    "AsyncDocent",
    "AuthenticationError",
    "Docent",
    "DocentAPIError",
    "InvalidRequestError",
    "JobTimeout",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
]

Json = dict[str, Any]
# A file to upload: a path, or (file name, bytes or a binary file object).
FileLike = str | Path | tuple[str, bytes | IO[bytes]]

# A job in one of these states will not change any more (serve/api/jobs.py).
FINISHED_JOB_STATES = frozenset({"succeeded", "failed", "partially_failed", "cancelled"})


# --- errors -------------------------------------------------------------------------------------------------------


class DocentAPIError(Exception):
    """An error response of the server (`{"error": {"message", "type", "code"}, "request_id"}`), or an `error`
    event that ended a stream. `code` is the server's stable error code (e.g. `unauthorized`, `not_found`)."""

    def __init__(self, message: str, *, code: str, status: int, kind: str = "", request_id: str = "") -> None:
        super().__init__(f"[{code}] {message}" if code else message)
        self.message = message
        self.code = code
        self.status = status
        self.kind = kind  # the error's family as OpenAI names it (authentication_error, ...)
        self.request_id = request_id


class InvalidRequestError(DocentAPIError):
    """400, 413 or 422: the request cannot be carried out as sent."""


class AuthenticationError(DocentAPIError):
    """401: no API key, or an unknown, revoked or expired one."""


class PermissionDeniedError(DocentAPIError):
    """403: the key's role may not do this (documents and jobs need role ingest or admin)."""


class NotFoundError(DocentAPIError):
    """404: no such document, job, model or route (or one the caller may not read)."""


class RateLimitError(DocentAPIError):
    """429: too many requests; `retry_after_s` says when to try again."""

    retry_after_s: float | None = None


class ServiceUnavailableError(DocentAPIError):
    """503: a dependency is down or busy (the index, the model, the queue, the identity provider)."""


class ServerError(DocentAPIError):
    """500, or any status this client does not know."""


class JobTimeout(TimeoutError):
    """`wait_for_job` ran out of time; `job` is the job as it last stood."""

    def __init__(self, job: Json) -> None:
        super().__init__(f"job {job.get('id')} is still {job.get('state')}")
        self.job = job


_ERRORS: dict[int, type[DocentAPIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: InvalidRequestError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_of(status: int, body: object, headers: Mapping[str, str] | None = None) -> DocentAPIError:
    """The typed exception of an error body (or of a body that is not one: a proxy's page, say)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message, code, kind = str(error.get("message", "")), str(error.get("code", "")), str(error.get("type", ""))
    else:
        message, code, kind = f"HTTP {status}: {str(body)[:200]}", "", ""
    request_id = str(body.get("request_id", "")) if isinstance(body, dict) else ""
    exc = _ERRORS.get(status, ServerError)(message, code=code, status=status, kind=kind, request_id=request_id)
    if isinstance(exc, RateLimitError) and headers and headers.get("retry-after"):
        with contextlib.suppress(ValueError):
            exc.retry_after_s = float(headers["retry-after"])
    return exc


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body: object = response.json()
    except ValueError:
        body = response.text
    raise error_of(response.status_code, body, response.headers)


# --- the routes ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """What a client method sends: its HTTP method and path, and the names of its body, query and form fields."""

    method: str
    path: str
    body: tuple[str, ...] = ()  # JSON body fields
    query: tuple[str, ...] = ()
    form: tuple[str, ...] = ()  # multipart form fields


ROUTES: dict[str, Route] = {
    "search": Route("POST", "/v1/search", body=("query", "k", "filters", "mode", "neighbours")),
    "ask": Route("POST", "/v1/ask", body=("question", "filters", "conversation", "mode", "stream")),
    "ask_stream": Route("POST", "/v1/ask", body=("question", "filters", "conversation", "mode", "stream")),
    "list_documents": Route("GET", "/v1/documents", query=("offset", "limit", "prefix")),
    "get_document": Route("GET", "/v1/documents/{document_id}"),
    "upload": Route("POST", "/v1/documents", query=("wait",), form=("files", "folder", "acl", "public", "tags")),
    "delete_document": Route("DELETE", "/v1/documents/{document_id}"),
    "list_jobs": Route("GET", "/v1/jobs", query=("limit",)),
    "get_job": Route("GET", "/v1/jobs/{job_id}"),
    "cancel_job": Route("POST", "/v1/jobs/{job_id}/cancel"),
}


@dataclass(slots=True)
class _Call:
    """One request, built once and sent by either client."""

    route: Route
    path_params: dict[str, str] = field(default_factory=dict)
    json: Json | None = None
    params: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    files: list[tuple[str, tuple[str, bytes | IO[bytes], str]]] | None = None

    @property
    def url(self) -> str:
        return self.route.path.format(**{k: quote(v, safe="") for k, v in self.path_params.items()})

    def kwargs(self) -> dict[str, Any]:
        return {"json": self.json, "params": self.params, "data": self.data, "files": self.files}


def _drop_none(values: Mapping[str, Any]) -> Json:
    return {k: v for k, v in values.items() if v is not None}


def _search(query: str, k: int, filters: Mapping[str, Any] | None, mode: str | None, neighbours: int | None) -> _Call:
    body = _drop_none({"query": query, "k": k, "filters": filters, "mode": mode, "neighbours": neighbours})
    return _Call(ROUTES["search"], json=body)


def _ask(
    name: str,
    question: str,
    filters: Mapping[str, Any] | None,
    conversation: Sequence[Mapping[str, str]] | None,
    mode: str | None,
    stream: bool,
) -> _Call:
    body = _drop_none({"question": question, "filters": filters, "mode": mode, "stream": stream})
    if conversation:
        body["conversation"] = [dict(turn) for turn in conversation]
    return _Call(ROUTES[name], json=body)


def _upload(
    files: Iterable[FileLike], acl: Sequence[str], public: bool, folder: str, tags: Sequence[str], wait: float | None
) -> _Call:
    parts: list[tuple[str, tuple[str, bytes | IO[bytes], str]]] = []
    for item in files:
        if isinstance(item, tuple):
            name, content = item
        else:
            path = Path(item)
            name, content = path.name, path.read_bytes()
        parts.append(("files", (name, content, mimetypes.guess_type(name)[0] or "application/octet-stream")))
    if not parts:
        raise ValueError("upload needs at least one file")
    data = {"folder": folder, "acl": ",".join(acl), "public": "true" if public else "false", "tags": ",".join(tags)}
    return _Call(ROUTES["upload"], data=data, files=parts, params=_drop_none({"wait": wait}) or None)


@dataclass(frozen=True, slots=True)
class AskEvent:
    """One event of a streamed answer: `sources` ({"sources"}: the passages the model reads, before its first
    token), `delta` ({"text"}), `citations` ({"citations"}) or `done` (the answer without its citations). An
    `error` event is raised as a `DocentAPIError` instead."""

    event: Literal["sources", "delta", "citations", "done"] | str
    data: Json


class _EventParser:
    """Server-Sent Events from lines: an event ends at a blank line; comments (pings) are skipped."""

    def __init__(self) -> None:
        self.event = "message"
        self.data: list[str] = []

    def feed(self, line: str) -> AskEvent | None:
        if not line:
            if not self.data:
                self.event = "message"
                return None
            data = json.loads("\n".join(self.data))
            event, self.event, self.data = self.event, "message", []
            if event == "error":
                raise error_of(200, data)  # the stream had started: the status was already 200
            return AskEvent(event, data)
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


# --- the sync client ----------------------------------------------------------------------------------------------


class Docent:
    """Docent's API over a blocking httpx client. `api_key`: an API key or a single sign-on token (None: anonymous
    access, where the server allows it). `transport` lets tests and embedders route requests (httpx's own)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=_headers(api_key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Docent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call) -> Json:
        response = self._http.request(call.route.method, call.url, **call.kwargs())
        _raise_for(response)
        result: Json = response.json()
        return result

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filters: Mapping[str, Any] | None = None,
        mode: str | None = None,
        neighbours: int | None = None,
    ) -> Json:
        """The passages found for `query`, best first, each with its source (`POST /v1/search`)."""
        return self._send(_search(query, k, filters, mode, neighbours))

    def ask(
        self,
        question: str,
        *,
        filters: Mapping[str, Any] | None = None,
        conversation: Sequence[Mapping[str, str]] | None = None,
        mode: str | None = None,
    ) -> Json:
        """An answer with citations and the route that answered (`POST /v1/ask`); mode "extractive" needs no model."""
        return self._send(_ask("ask", question, filters, conversation, mode, False))

    def ask_stream(
        self,
        question: str,
        *,
        filters: Mapping[str, Any] | None = None,
        conversation: Sequence[Mapping[str, str]] | None = None,
        mode: str | None = None,
    ) -> Iterator[AskEvent]:
        """The answer's events as the server sends them: sources (when a model is asked), deltas, then citations,
        then done. Leaving the loop early closes the stream, which stops the answer on the server."""
        call = _ask("ask_stream", question, filters, conversation, mode, True)
        with self._http.stream(call.route.method, call.url, **call.kwargs()) as response:
            if not response.is_success:
                response.read()
                _raise_for(response)
            parser = _EventParser()
            for line in response.iter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event

    def list_documents(self, *, offset: int = 0, limit: int = 50, prefix: str | None = None) -> Json:
        """A page of the indexed documents (role ingest or admin): {"total", "offset", "limit", "documents"}."""
        params = _drop_none({"offset": offset, "limit": limit, "prefix": prefix})
        return self._send(_Call(ROUTES["list_documents"], params=params))

    def get_document(self, document_id: str) -> Json:
        """One document's record: source, status, chunks, title, type, ACL, tags (role ingest or admin)."""
        return self._send(_Call(ROUTES["get_document"], {"document_id": document_id}))

    def upload(
        self,
        files: Iterable[FileLike],
        *,
        acl: Sequence[str] = (),
        public: bool = False,
        folder: str = "",
        tags: Sequence[str] = (),
        wait: float | None = None,
    ) -> Json:
        """Upload files and queue their indexing job; with `wait`, the job as it stands when it finished or the
        wait ran out. Say who may read them: `acl` (e.g. ["group:hr"]) and/or `public`."""
        return self._send(_upload(files, acl, public, folder, tags, wait))

    def delete_document(self, document_id: str) -> Json:
        """Remove a document from the index: {"deleted": true, "document": ...}."""
        return self._send(_Call(ROUTES["delete_document"], {"document_id": document_id}))

    def list_jobs(self, *, limit: int = 50) -> Json:
        return self._send(_Call(ROUTES["list_jobs"], params={"limit": limit}))

    def get_job(self, job_id: str) -> Json:
        """An indexing job: state, progress, failures, timings."""
        return self._send(_Call(ROUTES["get_job"], {"job_id": job_id}))

    def cancel_job(self, job_id: str) -> Json:
        return self._send(_Call(ROUTES["cancel_job"], {"job_id": job_id}))

    def wait_for_job(self, job_id: str, *, timeout: float = 300.0, poll_s: float = 0.5) -> Json:
        """The job once it finished (succeeded, failed, partially_failed, cancelled); `JobTimeout` past `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["state"] in FINISHED_JOB_STATES:
                return job
            if time.monotonic() >= deadline:
                raise JobTimeout(job)
            time.sleep(poll_s)


# --- the async client ---------------------------------------------------------------------------------------------


class AsyncDocent:
    """`Docent`'s methods as coroutines, over httpx's async client (`ask_stream` is an async iterator)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=_headers(api_key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncDocent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call) -> Json:
        response = await self._http.request(call.route.method, call.url, **call.kwargs())
        _raise_for(response)
        result: Json = response.json()
        return result

    async def search(
        self,
        query: str,
        k: int = 10,
        *,
        filters: Mapping[str, Any] | None = None,
        mode: str | None = None,
        neighbours: int | None = None,
    ) -> Json:
        return await self._send(_search(query, k, filters, mode, neighbours))

    async def ask(
        self,
        question: str,
        *,
        filters: Mapping[str, Any] | None = None,
        conversation: Sequence[Mapping[str, str]] | None = None,
        mode: str | None = None,
    ) -> Json:
        return await self._send(_ask("ask", question, filters, conversation, mode, False))

    async def ask_stream(
        self,
        question: str,
        *,
        filters: Mapping[str, Any] | None = None,
        conversation: Sequence[Mapping[str, str]] | None = None,
        mode: str | None = None,
    ) -> AsyncIterator[AskEvent]:
        call = _ask("ask_stream", question, filters, conversation, mode, True)
        async with self._http.stream(call.route.method, call.url, **call.kwargs()) as response:
            if not response.is_success:
                await response.aread()
                _raise_for(response)
            parser = _EventParser()
            async for line in response.aiter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event

    async def list_documents(self, *, offset: int = 0, limit: int = 50, prefix: str | None = None) -> Json:
        params = _drop_none({"offset": offset, "limit": limit, "prefix": prefix})
        return await self._send(_Call(ROUTES["list_documents"], params=params))

    async def get_document(self, document_id: str) -> Json:
        return await self._send(_Call(ROUTES["get_document"], {"document_id": document_id}))

    async def upload(
        self,
        files: Iterable[FileLike],
        *,
        acl: Sequence[str] = (),
        public: bool = False,
        folder: str = "",
        tags: Sequence[str] = (),
        wait: float | None = None,
    ) -> Json:
        return await self._send(_upload(files, acl, public, folder, tags, wait))

    async def delete_document(self, document_id: str) -> Json:
        return await self._send(_Call(ROUTES["delete_document"], {"document_id": document_id}))

    async def list_jobs(self, *, limit: int = 50) -> Json:
        return await self._send(_Call(ROUTES["list_jobs"], params={"limit": limit}))

    async def get_job(self, job_id: str) -> Json:
        return await self._send(_Call(ROUTES["get_job"], {"job_id": job_id}))

    async def cancel_job(self, job_id: str) -> Json:
        return await self._send(_Call(ROUTES["cancel_job"], {"job_id": job_id}))

    async def wait_for_job(self, job_id: str, *, timeout: float = 300.0, poll_s: float = 0.5) -> Json:
        import asyncio

        deadline = time.monotonic() + timeout
        while True:
            job = await self.get_job(job_id)
            if job["state"] in FINISHED_JOB_STATES:
                return job
            if time.monotonic() >= deadline:
                raise JobTimeout(job)
            await asyncio.sleep(poll_s)
