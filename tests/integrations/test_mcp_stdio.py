"""`docent mcp` over stdio, started by the `mcp` SDK's stdio client as a desktop client starts it: the key in
DOCENT_API_KEY decides who reads; a bad key ends the process before it serves anything."""

from __future__ import annotations

import asyncio
import sys

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.integrations import mcp_checks
from tests.integrations.conftest import SERVER_SETTINGS
from tests.integrations.test_mcp_http import ids
from tests.support.docent_server import QUICK_SERVER, ROOT, docent_env

pytestmark = pytest.mark.slow


def parameters(corpus, key: str) -> StdioServerParameters:
    env = docent_env(corpus.data, **QUICK_SERVER, **SERVER_SETTINGS, DOCENT_API_KEY=key)
    return StdioServerParameters(command=sys.executable, args=["-m", "serve.cli", "mcp"], env=env, cwd=str(ROOT))


def test_tools_over_stdio_as_the_environments_key(corpus, tmp_path):
    hr_document, eng_document = ids(corpus)

    async def run() -> None:
        with (tmp_path / "stderr.log").open("w") as errors:
            async with (
                stdio_client(parameters(corpus, corpus.keys["hana"]), errlog=errors) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await mcp_checks.check_tools(session)
                await mcp_checks.check_hr_reader(session, hr_document, eng_document)
                await mcp_checks.check_malformed_arguments(session)

    asyncio.run(run())


def test_a_bad_key_is_refused_before_serving(corpus, tmp_path):
    log = tmp_path / "stderr.log"

    async def run() -> None:
        with log.open("w") as errors:
            async with (
                stdio_client(parameters(corpus, "not-a-key"), errlog=errors) as (read, write),
                ClientSession(read, write, read_timeout_seconds=60) as session,
            ):
                await session.initialize()

    with pytest.raises(BaseException):  # noqa: B017 - the SDK's task group wraps the closed stream's error
        asyncio.run(run())
    assert "error [unauthorized]: unknown API key" in log.read_text()
