"""`docent mcp`: the Model Context Protocol server over stdio, for desktop clients that start it as a process.

It opens the data directory's index itself (as `docent serve` does: stop a server on the same embedded index
first, or point both at a Qdrant server) and answers as the key in DOCENT_API_KEY. Over HTTP the same tools are at
`/mcp` on `docent serve`, where each request's own key decides.
"""

from __future__ import annotations

import argparse
import os
import sys

from serve.cli import exits
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    mcp = commands.add_parser(
        "mcp", help="the MCP server over stdio (tools search, ask, get_document, list_sources), as DOCENT_API_KEY"
    )
    mcp.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from serve.composition import api_server, command
    from serve.mcp import run_stdio, stdio_caller

    key = os.environ.get("DOCENT_API_KEY", "").strip()
    with command(settings) as process:  # a bad key is refused before the models load
        stdio_caller(process.keys(), key, anonymous=settings.auth.anonymous)
    with api_server(settings) as server:
        services = server.app.state.services
        caller = stdio_caller(services.keys, key, anonymous=services.anonymous)
        print(f"docent: MCP over stdio as {caller.principal.user_id or 'anonymous'}", file=sys.stderr, flush=True)
        run_stdio(services, caller)
    return exits.OK
