"""/docs and /redoc in a real browser (headless Chromium) with every request off this machine refused: the
pages load their scripts from this server and run under its Content-Security-Policy."""

from __future__ import annotations

import shutil
import threading
import time
from urllib.parse import urlparse

import pytest
import uvicorn

from serve.app import create_app
from tests.support.redis_server import free_port
from tests.support.stores import key_store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
]


@pytest.fixture
def server(tmp_path):
    """The app on a local port; docs need no index or model, so none is started."""
    app = create_app(retriever=None, index=None, keys=key_store(tmp_path))
    port = free_port()
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


@pytest.fixture
def offline_page(browser):
    """A page of the session's Chromium (one Playwright per process: a second one inside its loop fails)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        refused: list[str] = []

        def offline(route):
            if urlparse(route.request.url).hostname == "127.0.0.1" or route.request.url.startswith("blob:"):
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort()

        page.route("**/*", offline)
        messages: list[str] = []
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        page.refused, page.messages = refused, messages
        yield page
    finally:
        context.close()


def csp_problems(page) -> list[str]:
    return [m for m in page.messages if "Content Security Policy" in m or "pageerror" in m]


def test_swagger_ui_works_offline_under_the_csp(server, offline_page):
    page = offline_page
    response = page.goto(f"{server}/docs")
    assert "style-src 'self' 'unsafe-inline'" in response.headers["content-security-policy"]
    assert "script-src 'self';" in response.headers["content-security-policy"]
    page.get_by_text("/v1/ask", exact=True).first.wait_for(timeout=20_000)
    assert page.get_by_text("/v1/documents/{document_id}/file").first.is_visible()
    assert csp_problems(page) == [] and page.refused == [], (page.messages, page.refused)


def test_redoc_works_offline_under_the_csp(server, offline_page):
    page = offline_page
    page.goto(f"{server}/redoc")
    page.get_by_text("/v1/ask").first.wait_for(state="attached", timeout=30_000)
    page.locator("h1", has_text="Docent").first.wait_for(timeout=10_000)
    assert csp_problems(page) == [] and page.refused == [], (page.messages, page.refused)
