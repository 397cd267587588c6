"""`docent serve`: the HTTP API (and the Slack bot over HTTP when its token is set)."""

from __future__ import annotations

import argparse
import sys

from serve.cli import exits
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="the port to listen on (default 8000)")
    serve.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from serve.composition import api_server

    with api_server(settings) as server:
        print(
            f"docent: serving http://{args.host}:{args.port} (API docs at /docs; generator: {server.model}; "
            f"anonymous access: {'on' if settings.auth.anonymous else 'off'})",
            file=sys.stderr,
            flush=True,
        )
        uvicorn.run(server.app, host=args.host, port=args.port, log_level=settings.log_level.lower())
    return exits.OK
