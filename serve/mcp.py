"""Docent as a Model Context Protocol server (the official `mcp` SDK): tools for agents and desktop clients.

Four tools, each a thin layer over what the HTTP API uses (`Services`: the retriever, the answerer, the index) with
the same access rule (the caller's principal filters every read in the index) and the same audit trail (channel
"mcp"):

- `search`: passages with their sources, for an agent that reads and reasons itself;
- `ask`: a written answer with numbered citations and the route that answered;
- `get_document`: one document's metadata and text, if the caller may read it ("no such document" otherwise,
  the same words as for an id that does not exist);
- `list_sources`: the documents the caller may read.

Two transports. Over streamable HTTP, `install(app)` serves the tools at `/mcp` on `docent serve`: each HTTP
request is authenticated exactly as `/v1/search` is (`serve.api.auth.current_caller`: a bearer key, an identity
provider's token, anonymous access where it is on), refused with the API's own 401 body otherwise, and the tools
run as that caller. Over stdio (`docent mcp`, for desktop clients that start a process), the caller is the key in
DOCENT_API_KEY, looked up in the key store of the data directory; the embedded index is opened directly.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from answer.answerer import AskRequest
from retrieval.access import PUBLIC_ONLY
from retrieval.errors import DocentError, PathNotFoundError, UnauthorizedError
from retrieval.models import point_id
from retrieval.search import SearchRequest
from serve.api.answers import MAX_QUESTION_CHARS, Filters
from serve.api.auditing import audit
from serve.api.auth import ANONYMOUS_TOKEN, Caller, current_caller
from serve.api.errors import error_response
from serve.api.services import Services
from serve.stores.keys import KeyStore

log = logging.getLogger("docent.mcp")

CALLER_SCOPE_KEY = "docent.caller"  # where the HTTP endpoint leaves the authenticated caller for the tools
MAX_DOCUMENT_CHARS = 100_000  # get_document's text beyond this is cut (an agent's context is not endless)
MAX_LISTED = 1000

INSTRUCTIONS = (
    "Docent answers questions from an organisation's documents, showing only what the caller may read. Use `ask` "
    "for a direct answer with citations; use `search` to get the passages themselves and reason over them; use "
    "`get_document` to read a whole document found by either; `list_sources` lists the readable documents."
)

T = TypeVar("T")


def build(services: Services, caller_of: Callable[[Context], tuple[Caller, Request]]) -> MCPServer:
    """The MCP server's tools over `services`; `caller_of` says who calls a tool and the request to audit it as."""
    server: MCPServer = MCPServer(name="docent", instructions=INSTRUCTIONS, version="0.1", log_level="WARNING")

    async def run(ctx: Context, work: Callable[[Caller, Request], T]) -> T:
        """`work` as the tool's caller, in a worker thread (the models block); a Docent error is the tool's error,
        with its stable code, so an agent sees why (and the server goes on)."""
        who, request = caller_of(ctx)
        try:
            who.require_reader()
            return await anyio.to_thread.run_sync(partial(work, who, request))
        except DocentError as exc:
            raise ToolError(f"[{exc.code}] {exc.message}") from exc

    @server.tool(
        description=(
            "Search the documents the caller may read and return the best passages, each with its source, title, "
            "headings, page and score. Use it to gather evidence, compare sources or when you want to reason over "
            "the text yourself; use `ask` instead for a written answer. `filters` narrows the search (a source "
            "path prefix, document types, languages, tags, modification dates)."
        )
    )
    async def search(
        query: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="what to look for")],
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=50, description="how many passages")] = 5,
        filters: Filters | None = None,
    ) -> dict[str, Any]:
        chosen = filters or Filters()

        def work(who: Caller, request: Request) -> dict[str, Any]:
            audited = audit(request, services, who, "search", query=query, filters=chosen, channel="mcp")
            with audited.failures():
                result = services.retriever.search(SearchRequest(query, who.principal, k=k, filters=chosen.to_search()))
            audited.searched(result.passages)
            return {
                "query": query,
                "language": result.language,
                "passages": [
                    {
                        "text": p.text,
                        "source": p.source,
                        "title": p.title,
                        "citation": p.citation,
                        "document_id": p.document_id,
                        "headings": list(p.headings),
                        "page": p.page,
                        "score": p.score,
                        "doc_type": p.doc_type,
                        "modified": p.modified,
                    }
                    for p in result.passages
                ],
            }

        return await run(ctx, work)

    @server.tool(
        description=(
            "Answer a question from the documents the caller may read: a short answer whose sentences cite "
            "numbered sources [n], the citations (title, source, snippet) and the route that answered. Use it for "
            "a direct answer; use `search` to see the passages themselves. When nothing relevant is found the mode "
            "is `not_found`: do not invent an answer then. mode `extractive` quotes the passages without a model."
        )
    )
    async def ask(
        question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="the question")],
        ctx: Context,
        filters: Filters | None = None,
        mode: Literal["generate", "extractive"] = "generate",
    ) -> dict[str, Any]:
        chosen = filters or Filters()

        def work(who: Caller, request: Request) -> dict[str, Any]:
            answerer = services.need_answerer()
            audited = audit(request, services, who, "answer", query=question, filters=chosen, channel="mcp")
            asked = AskRequest(
                question, who.principal, chosen.to_search(), extractive=mode == "extractive", caller=who.key_id
            )
            with audited.failures():
                answer = answerer.answer(asked, answerer.deadline())
            services.metrics.record(answer)
            audited.answered(answer)
            found = answer.to_dict()
            return {
                key: found.get(key)
                for key in ("text", "mode", "citations", "grounded", "language", "fallback_reason", "model", "route")
            }

        return await run(ctx, work)

    @server.tool(
        description=(
            "Read one document by its `document_id` (from `search`, `ask` or `list_sources`): its title, source, "
            "type, access and its text in order. A document the caller may not read is reported as not found."
        )
    )
    async def get_document(
        document_id: Annotated[str, Field(min_length=1, max_length=200, description="the document's id")],
        ctx: Context,
    ) -> dict[str, Any]:
        def work(who: Caller, request: Request) -> dict[str, Any]:
            audited = audit(request, services, who, "read", query=document_id, channel="mcp")
            state = services.index.document_state(document_id)
            # The index's own ACL filter decides, as for every search: a chunk the caller may not read is not
            # fetched, and a document with none readable is "no such document", like one that does not exist.
            hits = (
                services.index.fetch([point_id(document_id, n) for n in range(state.chunk_count)], who.principal)
                if state is not None
                else []
            )
            if not hits:
                audited.failed(PathNotFoundError("no such document"))
                raise PathNotFoundError("no such document")
            hits.sort(key=lambda h: h.chunk)
            text = "\n\n".join(h.text for h in hits)
            first = hits[0]
            audited.done([(document_id, first.title)])
            return {
                "document_id": document_id,
                "title": first.title,
                "source": first.source,
                "doc_type": first.doc_type,
                "language": first.language,
                "modified": first.modified,
                "chunks": len(hits),
                "truncated": len(text) > MAX_DOCUMENT_CHARS,
                "text": text[:MAX_DOCUMENT_CHARS],
            }

        return await run(ctx, work)

    @server.tool(
        description=(
            "List the documents the caller may read (id, title, source, type), by source path; `prefix` keeps "
            "those whose source starts with it. Use it to see what the knowledge base holds before searching."
        )
    )
    async def list_sources(
        ctx: Context,
        prefix: Annotated[str | None, Field(max_length=1000, description="a source path prefix")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LISTED, description="at most this many")] = 200,
    ) -> dict[str, Any]:
        def work(who: Caller, request: Request) -> dict[str, Any]:
            audited = audit(request, services, who, "list_sources", query=prefix, channel="mcp")
            everything = sorted(services.index.documents(), key=lambda d: d[1])
            if prefix:
                everything = [d for d in everything if d[1].startswith(prefix)]
            # Each document's first chunk, fetched with the caller's principal: the index's ACL filter decides.
            readable = services.index.fetch([point_id(doc, 0) for doc, _ in everything], who.principal)
            readable.sort(key=lambda h: h.source)
            listed = [
                {"document_id": h.document_id, "title": h.title, "source": h.source, "doc_type": h.doc_type}
                for h in readable[:limit]
            ]
            audited.done([(d["document_id"], d["title"]) for d in listed])
            return {"total": len(readable), "documents": listed}

        return await run(ctx, work)

    return server


# --- streamable HTTP on `docent serve` --------------------------------------------------------------------------


def _http_caller(ctx: Context) -> tuple[Caller, Request]:
    request = ctx.request_context.request
    if not isinstance(request, Request) or not isinstance(request.scope.get(CALLER_SCOPE_KEY), Caller):
        raise ToolError(f"[{UnauthorizedError.code}] this request was not authenticated")
    return request.scope[CALLER_SCOPE_KEY], request


class _Endpoint:
    """`/mcp`: authenticates each HTTP request as the API does, then hands it to the MCP session manager."""

    def __init__(self, server: MCPServer, services: Services) -> None:
        self.server, self.services = server, services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            caller = await anyio.to_thread.run_sync(partial(current_caller, request, self.services, None))
            caller.require_reader()
        except Exception as exc:  # a DocentError (401, 403, 429) in the API's error shape; else a 500 in it
            response = error_response(exc, getattr(request.state, "request_id", ""))
            await response(scope, receive, send)
            return
        scope[CALLER_SCOPE_KEY] = caller
        await self.server.session_manager.handle_request(scope, receive, send)


def _new_session_manager(server: MCPServer) -> None:
    """Give `server` a new streamable HTTP session manager. Stateless JSON responses: no session to pin to a
    replica, nothing for a proxy to buffer. The Host check against DNS rebinding is off: every request carries its
    bearer key (or the page session's CSRF header), which a rebinding page does not have."""
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


def install(app: FastAPI, services: Services) -> MCPServer:
    """Serve the MCP tools at `/mcp` on `app` (streamable HTTP, stateless: any replica answers any request), and
    run the MCP session manager for the app's lifetime."""
    server = build(services, _http_caller)
    _new_session_manager(server)
    app.router.routes.append(Route("/mcp", _Endpoint(server, services), methods=["GET", "POST", "DELETE"]))
    before = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: Any) -> AsyncIterator[Any]:
        _new_session_manager(server)  # a manager runs once: an app started again (tests do) needs a new one
        async with before(running) as state, server.session_manager.run():
            yield state

    app.router.lifespan_context = lifespan
    return server


# --- stdio: `docent mcp` ----------------------------------------------------------------------------------------


def stdio_caller(keys: KeyStore, key: str, *, anonymous: bool) -> Caller:
    """The caller of `docent mcp`: the key's principal (UnauthorizedError for an unknown key); without a key,
    public-only access where anonymous access is on."""
    if not key or key == ANONYMOUS_TOKEN:
        if anonymous:
            return Caller(PUBLIC_ONLY, key_id="anonymous:stdio", anonymous=True)
        raise UnauthorizedError("set DOCENT_API_KEY to an API key (docent keys create) for `docent mcp`")
    record = keys.lookup(key)
    if record is None:
        raise UnauthorizedError("unknown API key (DOCENT_API_KEY)")
    caller = Caller(record.principal, record.role, record.key_id)
    caller.require_reader()
    return caller


def stdio_request() -> Request:
    """The request an MCP call over stdio is audited as: no address, a fresh request id."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "headers": [],
        "client": ("stdio", 0),
        "state": {"request_id": uuid.uuid4().hex},
    }
    return Request(scope)


def run_stdio(services: Services, caller: Caller) -> None:
    """Serve the tools over stdin and stdout as `caller` until the client closes the stream."""
    server = build(services, lambda ctx: (caller, stdio_request()))
    server.run("stdio")
