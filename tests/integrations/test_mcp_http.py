"""The MCP tools at `/mcp` on a running `docent serve`, through the `mcp` SDK's streamable HTTP client: each
request's bearer key decides who reads, a bad key is refused, and every call is in the audit trail."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from ingest.discovery import document_id
from tests.integrations import mcp_checks
from tests.support.docent_server import cli

pytestmark = pytest.mark.slow


@contextlib.asynccontextmanager
async def session(url: str, key: str) -> AsyncIterator[ClientSession]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120)
    async with (
        http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as opened,
    ):
        await opened.initialize()
        yield opened


def ids(corpus) -> tuple[str, str]:
    return (
        document_id(str(corpus.folders["hr"] / "marlin-leave-policy.md")),
        document_id(str(corpus.folders["eng"] / "osprey-build-farm.md")),
    )


def test_tools_over_http_as_each_callers_key(server, corpus):
    hr_document, eng_document = ids(corpus)

    async def run() -> None:
        async with session(server.url, corpus.keys["hana"]) as hana:
            await mcp_checks.check_tools(hana)
            await mcp_checks.check_hr_reader(hana, hr_document, eng_document)
            await mcp_checks.check_malformed_arguments(hana)
        async with session(server.url, corpus.keys["erik"]) as erik:  # the other way round
            built = mcp_checks.payload(await erik.call_tool("get_document", {"document_id": eng_document}))
            assert mcp_checks.ENG in built["text"]
            assert "no such document" in await mcp_checks.error_of(erik, "get_document", {"document_id": hr_document})

    asyncio.run(run())


def test_a_bad_key_or_an_ingestion_key_is_refused(server, corpus):
    async def refused(key: str) -> BaseException:
        try:
            async with session(server.url, key) as opened:
                await opened.list_tools()
        except BaseException as exc:  # the SDK's task group wraps the HTTP error
            return exc
        raise AssertionError(f"{key!r} was let in")

    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for key, status, code in [
        (None, 401, "unauthorized"),
        ("not-a-key", 401, "unauthorized"),
        (corpus.keys["ingest"], 403, "forbidden"),
    ]:
        if key is not None:  # the SDK's client fails to start its session...
            assert "MCPError" in repr(asyncio.run(refused(key)))
        # ... because the endpoint answered with the API's own error, before any MCP message was read.
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = httpx2.post(f"{server.url}/mcp", json=listing, headers=headers, timeout=30)
        assert response.status_code == status and response.json()["error"]["code"] == code, response.text


def test_mcp_calls_are_in_the_audit_trail(server, corpus):
    hr_document, eng_document = ids(corpus)

    async def run() -> None:
        async with session(server.url, corpus.keys["hana"]) as hana:
            await hana.call_tool("search", {"query": "Marlin audit probe"})
            await hana.call_tool("get_document", {"document_id": hr_document})
            await hana.call_tool("get_document", {"document_id": eng_document})  # refused: recorded as a 404

    asyncio.run(run())
    time.sleep(1.5)  # the server writes its audit events in batches, every half second
    lines = [json.loads(line) for line in cli(corpus.data, "audit", "export").splitlines() if line.strip()]
    mine = [e for e in lines if e.get("channel") == "mcp" and e.get("query") == "Marlin audit probe"]
    assert mine and mine[-1]["user_id"] == "hana" and mine[-1]["action"] == "search"
    reads = [e for e in lines if e.get("channel") == "mcp" and e.get("action") == "read"]
    assert {(e["query"], e.get("status")) for e in reads} >= {(hr_document, 200), (eng_document, 404)}, reads
    # A whole document read through MCP counts as shown: `docent audit who-saw` names its reader.
    saw = [json.loads(line) for line in cli(corpus.data, "audit", "who-saw", hr_document, "--json").splitlines()]
    assert any(s["user_id"] == "hana" and s["channel"] == "mcp" and s["action"] == "read" for s in saw), saw
