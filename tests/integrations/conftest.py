"""Docent inside other tools (issue 22): the Python client, the MCP server and the LlamaIndex and LangChain
retrievers, each driven by its real client against a real `docent serve` (or `docent mcp` over stdio).

One data directory per session, prepared by the CLI: a public document, an HR document only group:hr may read and
an engineering one only group:eng may read; read keys for hana (hr) and erik (eng), an admin key and an ingestion
key. Each test module starts its own server over it (the embedded index belongs to one process at a time), with
extractive answers: the tests are about the integrations, not the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.docent_server import Server, cli

PUBLIC = "The Kestrel cafeteria opens at 07:30 and serves breakfast until 10:00 on weekdays."
HR = "The Marlin parental leave policy grants 26 weeks of paid leave to every new parent."
ENG = "The Osprey build farm runs 48 runners; a release build takes 35 minutes on average."

# Extractive answers (no model to load) and the audit trail on, as a deployment would run.
SERVER_SETTINGS = {"DOCENT_ANSWER__MODE": "extractive"}


@dataclass
class Corpus:
    data: Path
    folders: dict[str, Path]
    keys: dict[str, str]  # hana (group:hr), erik (group:eng), admin, ingest


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("integrations")
    data = root / "data"
    folders = {name: root / name for name in ("public", "hr", "eng")}
    for folder in folders.values():
        folder.mkdir()
    (folders["public"] / "kestrel-cafeteria.md").write_text(f"# Kestrel cafeteria\n\n{PUBLIC}\n")
    (folders["hr"] / "marlin-leave-policy.md").write_text(f"# Marlin leave policy\n\n{HR}\n")
    (folders["eng"] / "osprey-build-farm.md").write_text(f"# Osprey build farm\n\n{ENG}\n")
    cli(data, "ingest", str(folders["public"]), "--public")
    cli(data, "ingest", str(folders["hr"]), "--acl", "group:hr")
    cli(data, "ingest", str(folders["eng"]), "--acl", "group:eng")

    def key(user: str, *args: str) -> str:
        return json.loads(cli(data, "keys", "create", "--user", user, *args, "--json"))["key"]

    keys = {
        "hana": key("hana", "--groups", "group:hr"),
        "erik": key("erik", "--groups", "group:eng"),
        "admin": key("root", "--admin"),
        "ingest": key("cron", "--role", "ingest"),
    }
    return Corpus(data, folders, keys)


@pytest.fixture(scope="module")
def server(corpus, tmp_path_factory) -> Iterator[Server]:
    """`docent serve` over the corpus, for one test module."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with Server(corpus.data, log, **SERVER_SETTINGS) as running:
        yield running
