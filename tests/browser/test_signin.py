"""The page on a server that takes keys only: sign-in, what a key may see (isolation), the admin's uploads and
documents, and feedback on an answer.

Needs the web-api branch's routes (GET /v1/me, GET /v1/documents/{id}/file, POST /v1/feedback and the comment in
GET /v1/feedback) besides the page itself (serve/web/)."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AURORA, BOREALIS
from tests.browser.docent_page import ANSWER_TIMEOUT_MS, ask, search, sign_in

pytestmark = pytest.mark.slow

COBALT = "The Cobalt lab opens at 06:45 on weekdays and closes at 19:00."


@pytest.fixture
def start(page: Page, keyed_server) -> Page:
    page.goto(keyed_server.url + "/")
    return page


def test_a_key_is_needed_and_a_wrong_one_is_refused(start: Page, corpus, watch):
    watch.allowed_console = ("401",)  # the browser logs the refused /v1/me
    expect(start.locator("#signin")).to_be_visible()
    start.fill("#api-key", "dk_not_a_key")
    start.click("#signin-submit")
    expect(start.locator("#signin-error")).to_be_visible()
    expect(start.locator("#signin-error")).not_to_have_text("")
    start.fill("#api-key", corpus.keys["alice"])
    start.click("#signin-submit")
    expect(start.locator("#signin")).to_be_hidden()
    expect(start.locator("#signout")).to_be_visible()
    answer = ask(start, "What is the nightly hotel cap in Tokyo?")
    expect(answer).to_have_attribute("data-state", re.compile(r"^(answered|extractive)$"))


def test_each_role_sees_its_own_tabs(start: Page, corpus):
    """A read key asks and searches; an ingest key (a sync job's) manages documents only; an admin does both."""
    sign_in(start, corpus.keys["alice"])
    expect(start.locator("#tab-ask")).to_be_visible()
    expect(start.locator("#tab-admin")).to_be_hidden()
    start.click("#signout")
    sign_in(start, corpus.keys["sync"])
    expect(start.locator("#tab-admin")).to_be_visible()
    expect(start.locator("#tab-ask")).to_be_hidden()
    expect(start.locator("#tab-search")).to_be_hidden()
    expect(start.locator("#panel-ask")).to_be_hidden()
    expect(start.locator("#panel-admin")).to_be_visible()


def _file_status(page: Page, key: str, document_id: str) -> dict:
    """GET /v1/documents/{id}/file from the page's origin with `key`: its status and JSON error (no request id)."""
    result = page.evaluate(
        """async ([key, id]) => {
            const r = await fetch(`/v1/documents/${encodeURIComponent(id)}/file`,
                                  {headers: {Authorization: `Bearer ${key}`}});
            return {status: r.status, body: await r.text()};
        }""",
        [key, document_id],
    )
    try:
        body = json.loads(result["body"])
        body.pop("request_id", None)
    except ValueError:
        body = result["body"]
    return {"status": result["status"], "body": body}


def test_alice_never_sees_bobs_document(start: Page, corpus, watch):
    watch.allowed_console = ("404",)  # the file route's refusals, fetched below
    sign_in(start, corpus.keys["alice"])
    expect(start.locator("#tab-admin")).to_be_hidden()
    answer = ask(start, "When was the Borealis settlement signed?")
    results = search(start, "Borealis settlement signed")
    seen = (start.locator("#conversation").text_content() or "") + (
        start.locator("#search-results").text_content() or ""
    )
    for secret in (BOREALIS, "12 March 2025", "borealis-settlement"):
        assert secret not in seen, f"{secret!r} shown to alice: {answer.text_content()}"
    for i in range(results.count()):
        assert "Borealis" not in (results.nth(i).text_content() or "")

    refused = _file_status(start, corpus.keys["alice"], corpus.documents["borealis"])
    missing = _file_status(start, corpus.keys["alice"], str(uuid.uuid4()))
    assert refused["status"] == 404, refused
    assert refused == missing
    mine = _file_status(start, corpus.keys["alice"], corpus.documents["aurora"])
    assert mine["status"] == 200, mine

    results = search(start, "Aurora project budget")
    assert any("4.2 million euros" in (results.nth(i).text_content() or "") for i in range(results.count()))


def test_the_admin_uploads_follows_the_job_and_deletes(start: Page, corpus, keyed_server, tmp_path):
    sign_in(start, corpus.keys["admin"])
    start.click("#tab-admin")
    good = tmp_path / "cobalt-lab.md"
    good.write_text(f"# Cobalt lab hours\n\n{COBALT}\n")
    start.set_input_files("#upload-files", str(good))
    start.fill("#upload-acl", "group:finance")
    start.click("#upload-submit")
    expect(start.locator("#job-progress")).to_be_attached()
    expect(start.locator("#job-status")).to_have_attribute("data-state", "succeeded", timeout=ANSWER_TIMEOUT_MS)
    results = search(start, "When does the Cobalt lab open?")
    assert any("06:45" in (results.nth(i).text_content() or "") for i in range(results.count()))

    broken = tmp_path / "broken-scan.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    another = tmp_path / "cobalt-lab-parking.md"
    another.write_text("# Cobalt lab parking\n\nThe Cobalt lab has twelve bicycle spaces.\n")
    start.click("#tab-admin")
    start.set_input_files("#upload-files", [str(another), str(broken)])
    start.fill("#upload-acl", "group:finance")
    start.click("#upload-submit")
    failure = start.locator("#job-failures li.failure")
    expect(failure).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    expect(failure).to_contain_text("broken-scan.pdf")
    assert len((failure.text_content() or "").replace("broken-scan.pdf", "").strip()) > 3, "no reason given"
    expect(start.locator("#job-status")).not_to_have_attribute("data-state", "running", timeout=ANSWER_TIMEOUT_MS)

    start.fill("#document-filter", "cobalt-lab.md")
    rows = start.locator("#documents tr.document").filter(has_text="cobalt-lab.md")
    expect(rows).to_have_count(1)
    expect(start.locator("#documents tr.document").filter(has_text="oncall-runbook")).to_have_count(0)
    document_id = rows.first.get_attribute("data-id")
    rows.first.locator("button.document-delete").click()
    expect(start.locator("#confirm-delete")).to_be_visible()
    start.click("#confirm-yes")
    expect(start.locator(f'#documents tr.document[data-id="{document_id}"]')).to_have_count(0)
    gone = httpx.get(
        f"{keyed_server.url}/v1/documents/{document_id}",
        headers={"Authorization": f"Bearer {corpus.keys['admin']}"},
        timeout=30,
    )
    assert gone.status_code == 404, gone.text


def test_feedback_on_an_answer_is_stored(start: Page, corpus, keyed_server):
    sign_in(start, corpus.keys["alice"])
    answer = ask(start, "What is the Aurora project budget?")
    assert AURORA.split()[1] in (answer.text_content() or ""), "alice's own document should be cited"
    comment = "Clear answer, browser test"
    answer.locator("button.vote-up").click()
    answer.locator("textarea.feedback-comment").fill(comment)
    answer.locator("button.feedback-send").click()
    expect(answer.locator(".feedback-status")).to_contain_text(re.compile("thank", re.I))
    stored = httpx.get(
        f"{keyed_server.url}/v1/feedback",
        headers={"Authorization": f"Bearer {corpus.keys['admin']}"},
        timeout=30,
    )
    assert stored.status_code == 200, stored.text
    votes = [v for v in stored.json()["feedback"] if v.get("comment") == comment]
    assert votes, stored.json()
    assert votes[0]["vote"] == "up" and votes[0]["channel"] == "web", votes[0]
