"""What every MCP transport must show, driven by the `mcp` SDK's own client session (shared by the HTTP and the
stdio tests)."""

from __future__ import annotations

import json
from typing import Any

from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

from tests.integrations.conftest import ENG, HR, PUBLIC

TOOLS = {"search", "ask", "get_document", "list_sources"}


def payload(result: Any) -> dict:
    """A tool result's structured content (or its JSON text); fails on an error result."""
    assert not result.is_error, result.content
    if result.structured_content is not None:
        found = result.structured_content
        return found.get("result", found) if set(found) == {"result"} else found
    return json.loads(result.content[0].text)


async def error_of(session: ClientSession, tool: str, arguments: dict) -> str:
    """The error an MCP call answers (an error result or a JSON-RPC error): never a crash of the server."""
    try:
        result = await session.call_tool(tool, arguments)
    except MCPError as exc:
        return str(exc)
    assert result.is_error, f"{tool}({arguments}) was answered: {result.content}"
    return " ".join(getattr(part, "text", "") for part in result.content)


async def check_tools(session: ClientSession) -> None:
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) >= TOOLS
    assert tools["search"].input_schema["required"] == ["query"]
    assert {"query", "k", "filters"} <= set(tools["search"].input_schema["properties"])
    assert {"question", "filters", "mode"} <= set(tools["ask"].input_schema["properties"])
    assert tools["get_document"].input_schema["required"] == ["document_id"]
    # Descriptions an agent can choose by: each one says when to use the other.
    assert "ask" in tools["search"].description and "search" in tools["ask"].description


async def check_hr_reader(session: ClientSession, hr_document: str, eng_document: str) -> None:
    """A reader of group:hr: finds HR's and the public documents, never engineering's, through any tool."""
    found = payload(await session.call_tool("search", {"query": "parental leave weeks", "k": 5}))
    assert any(HR in p["text"] and p["source"].endswith("marlin-leave-policy.md") for p in found["passages"])
    assert not any(
        ENG in p["text"] for p in payload(await session.call_tool("search", {"query": "build farm"}))["passages"]
    )
    answer = payload(await session.call_tool("ask", {"question": "How many weeks of parental leave?"}))
    assert "26 weeks" in answer["text"] and answer["route"] is not None
    assert any(c["document_id"] == hr_document for c in answer["citations"])
    built = payload(await session.call_tool("ask", {"question": "How many runners does the Osprey build farm run?"}))
    assert ENG not in built["text"] and all(c["document_id"] != eng_document for c in built["citations"])

    document = payload(await session.call_tool("get_document", {"document_id": hr_document}))
    assert HR in document["text"] and document["title"] == "Marlin leave policy"
    refused = await error_of(session, "get_document", {"document_id": eng_document})
    assert "no such document" in refused and ENG not in refused
    assert "no such document" in await error_of(session, "get_document", {"document_id": "no-such-id"})

    listed = payload(await session.call_tool("list_sources", {}))
    ids = {d["document_id"] for d in listed["documents"]}
    assert hr_document in ids and eng_document not in ids
    assert any(d["source"].endswith("kestrel-cafeteria.md") for d in listed["documents"])
    public = payload(await session.call_tool("search", {"query": "cafeteria breakfast", "filters": {"tags": []}}))
    assert any(PUBLIC in p["text"] for p in public["passages"])


async def check_malformed_arguments(session: ClientSession) -> None:
    """Wrong or missing arguments are MCP errors; the server answers the next call as before."""
    for tool, arguments in [
        ("search", {}),
        ("search", {"query": ""}),
        ("search", {"query": "leave", "k": 0}),
        ("search", {"query": "leave", "k": "many"}),
        ("search", {"query": "leave", "filters": {"modified_after": 12}}),
        ("ask", {"question": "x" * 5000}),
        ("ask", {"question": "leave?", "mode": "poetry"}),
        ("get_document", {"document_id": 42}),
        ("list_sources", {"limit": -1}),
    ]:
        assert await error_of(session, tool, arguments), (tool, arguments)
    assert "no_such_tool" in await error_of(session, "no_such_tool", {})
    assert payload(await session.call_tool("search", {"query": "parental leave"}))["passages"]
