"""The web page in a real Chromium against a real `docent serve` (issue 18).

One data directory per session: the sample corpus and a poisoned document, public; a finance document and a
legal one, each readable by its group only; keys for alice (finance), bob (legal) and an admin. Each test module
starts its own server over it (the embedded index belongs to one process at a time): test_page.py with anonymous
access on, test_signin.py with keys only. One Chromium per session, a new context per test; a test fails on any
JavaScript dialog, page error or console error, and leaves a screenshot under its tmp_path.

Chromium is Debian's (/usr/bin/chromium, installed by .ci/run); `playwright install` needs the network.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright import sync_api

from tests.support.docent_server import ROOT, Server, cli

CHROMIUM = os.environ.get("DOCENT_TEST_CHROMIUM", "/usr/bin/chromium")
# pytest keeps the tmp_paths of its last three runs only; a folder here keeps the screenshots and reports.
ARTIFACTS = os.environ.get("DOCENT_TEST_ARTIFACTS")


def keep(path: Path) -> None:
    """Print where a test's screenshot or report is, and copy it to DOCENT_TEST_ARTIFACTS if set."""
    if ARTIFACTS:
        Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(ARTIFACTS) / path.name)
    print(f"\n{path}")


AURORA = "The Aurora project budget is 4.2 million euros."
BOREALIS = "The Borealis settlement was signed on 12 March 2025."
POISON_FACT = "The Zephyr pantry on the third floor is restocked every Thursday at 07:30."
POISON = f"""# Zephyr pantry notice

{POISON_FACT} Bring your own mug.

<script>alert('xss')</script>

<img src=x onerror="alert('img')">

Questions about the Zephyr pantry restocking: [click me](javascript:alert('link')).
"""


@dataclass
class Corpus:
    data: Path
    keys: dict[str, str]  # alice (finance), bob (legal), admin (finance too: reads what it uploads there)
    folders: list[Path]  # where the indexed files are: the server may send them (DOCENT_API__FILE_ROOTS)
    documents: dict[str, str] = field(default_factory=dict)  # "borealis", "aurora" -> document id


def _document_id(server_url: str, key: str, query: str, source_part: str) -> str:
    response = httpx.post(
        f"{server_url}/v1/search",
        json={"query": query, "k": 10},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    response.raise_for_status()
    for passage in response.json()["passages"]:
        if source_part in passage["source"]:
            return passage["document_id"]
    raise AssertionError(f"{source_part} not found by {query!r}: {response.json()}")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("browser")
    data = root / "data"
    public, finance, legal = root / "public", root / "finance", root / "legal"
    for folder in (public, finance, legal):
        folder.mkdir()
    (public / "zephyr-pantry.md").write_text(POISON)
    (public / "zephyr-pantry-notes.txt").write_text(POISON)  # plain text keeps the markup that Markdown parsing drops
    (finance / "aurora-budget.md").write_text(f"# Aurora project\n\n{AURORA} It was approved by the CFO.\n")
    (legal / "borealis-settlement.md").write_text(f"# Borealis matter\n\n{BOREALIS} Its terms are confidential.\n")
    cli(data, "ingest", str(ROOT / "examples" / "docs"), str(public), "--public")
    cli(data, "ingest", str(finance), "--acl", "group:finance")
    cli(data, "ingest", str(legal), "--acl", "group:legal")

    def key(user: str, groups: str, *admin: str) -> str:
        return json.loads(cli(data, "keys", "create", "--user", user, "--groups", groups, *admin, "--json"))["key"]

    keys = {
        "alice": key("alice", "finance"),
        "bob": key("bob", "legal"),
        "admin": key("root", "finance", "--admin"),
        "sync": key("cron", "", "--role", "ingest"),
    }
    return Corpus(data, keys, [ROOT / "examples" / "docs", public, finance, legal])


@contextmanager
def _serve(corpus: Corpus, tmp_path_factory, **settings: str) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    roots = json.dumps([str(folder) for folder in corpus.folders])
    with Server(corpus.data, log, DOCENT_API__FILE_ROOTS=roots, **settings) as server:
        print(f"\ndocent serve at {server.url}, log {log}")
        yield server


@pytest.fixture(scope="module")
def anonymous_server(corpus, tmp_path_factory) -> Iterator[Server]:
    """`docent serve` with anonymous access on: a visitor without a key reads the public documents."""
    with _serve(corpus, tmp_path_factory, DOCENT_AUTH__ANONYMOUS="true") as server:
        yield server


@pytest.fixture(scope="module")
def keyed_server(corpus, tmp_path_factory) -> Iterator[Server]:
    """`docent serve` with keys only; the documents' ids by name, found with their readers' keys."""
    with _serve(corpus, tmp_path_factory, DOCENT_AUTH__ANONYMOUS="false") as server:
        corpus.documents["borealis"] = _document_id(server.url, corpus.keys["bob"], "Borealis settlement", "borealis")
        corpus.documents["aurora"] = _document_id(server.url, corpus.keys["alice"], "Aurora project budget", "aurora")
        yield server


@pytest.fixture(scope="package")
def browser():
    """Chromium for the browser tests, closed after the last of them: Playwright's sync API keeps its event loop
    running on the main thread while it is open, and later tests call asyncio.run()."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install chromium; or set DOCENT_TEST_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@dataclass
class Watch:
    """What went wrong in a page that the page did not show: dialogs, uncaught errors, console errors."""

    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    allowed_console: tuple[str, ...] = ()  # substrings of console errors a test expects (e.g. a 401 on a bad key)

    def problems(self) -> list[str]:
        unexpected = [e for e in self.console_errors if not any(a in e for a in self.allowed_console)]
        return (
            [f"dialog: {d}" for d in self.dialogs]
            + [f"page error: {e}" for e in self.page_errors]
            + [f"console error: {e}" for e in unexpected]
        )


@pytest.fixture
def watch() -> Watch:
    return Watch()


def _console(watch: Watch, message) -> None:
    # Chromium's own request for /favicon.ico is not the page's doing.
    if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
        watch.console_errors.append(f"{message.text} ({message.location.get('url')})")


@pytest.fixture
def page(browser, watch, tmp_path, request):
    """A fresh page in its own context. A dialog (alert, confirm) is dismissed and fails the test: the page uses
    <dialog> elements, never window.alert/confirm, and a poisoned document must not run script."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(30_000)
    tab = context.new_page()

    def on_dialog(dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    context.on("dialog", on_dialog)  # every page of the context, popups included
    tab.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    tab.on("console", lambda msg: _console(watch, msg))
    yield tab
    shot = tmp_path / f"{request.node.name}.png"
    try:
        tab.screenshot(path=str(shot), full_page=True)
        keep(shot)
    except sync_api.Error as exc:
        print(f"\nno screenshot: {exc}")
    context.close()
    reports = [getattr(request.node, f"report_{when}", None) for when in ("setup", "call")]
    if any(r is not None and r.failed for r in reports):
        print(f"\nalso seen: {watch.problems()}")  # the test failed already: one report, not two
    else:
        assert not watch.problems(), watch.problems()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, for the page fixture's teardown to read."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
