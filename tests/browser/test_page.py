"""The page as a visitor without a key uses it (anonymous access on): answers streamed with their sources, in
English and Chinese, a follow-up, "not found", search with filters, a poisoned document, timing, weight and
headers.

Needs the web-api branch's routes (GET /v1/me, GET /v1/documents/{id}/file, the security headers) besides the
page itself (serve/web/)."""

from __future__ import annotations

import json
import re
import statistics

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import POISON_FACT, keep
from tests.browser.docent_page import ask, search

pytestmark = pytest.mark.slow

ENGLISH = "What is the nightly hotel cap in Tokyo?"
ANSWERED = re.compile(r"^(answered|extractive)$")


@pytest.fixture
def home(page: Page, anonymous_server) -> Page:
    page.goto(anonymous_server.url + "/")
    expect(page.locator("#ask-form")).to_be_visible()
    return page


def _open_first_source(page: Page, answer) -> None:
    """Open the answer's first source: a PDF in a new tab (a blob: URL at #page=N), another format as a
    download; either way the file route answered 200."""
    card = answer.locator(".source-card").first
    expect(card).to_be_visible()
    is_pdf = "pdf" in (card.locator(".source-type").text_content() or "").lower()
    opened = page.expect_popup() if is_pdf else page.expect_download()
    with page.expect_response(re.compile(r"/v1/documents/[^/]+/file")) as file_response, opened as target:
        card.locator("button.source-open").click()
    assert file_response.value.status == 200, file_response.value.text()
    if is_pdf:
        popup = target.value  # opened blank at the click, sent to the file once it is fetched
        popup.wait_for_url(re.compile(r"^blob:"), wait_until="commit")
        if card.locator(".source-page").count():
            assert "#page=" in popup.url, popup.url
        popup.close()
    else:
        assert target.value.suggested_filename


@pytest.mark.parametrize("question", [ENGLISH, "VPN 网关的端口是多少？"], ids=["english", "chinese"])
def test_an_answer_streams_in_with_its_sources(home: Page, question: str):
    answer = ask(home, question)
    expect(answer).to_have_attribute("data-state", ANSWERED)
    assert (answer.locator(".answer-text").text_content() or "").strip()
    assert answer.locator("a.cite").count() + answer.locator(".source-card").count() >= 1
    _open_first_source(home, answer)


def test_the_passages_being_read_show_while_the_answer_is_written(home: Page):
    """The `sources` event (sent before the model's first token) lists what the model reads while the answer is
    still streaming; once it is done, the cited sources replace that list."""
    home.evaluate(
        """() => {
          window.readingWhileStreaming = [];
          new MutationObserver(() => {
            const answer = document.querySelector("#conversation .turn:last-child .answer");
            const items = document.querySelectorAll("#conversation .reading:not([hidden]) .reading-item");
            if (answer && answer.dataset.state === "streaming" && items.length) {
              window.readingWhileStreaming.push([...items].map((item) => item.textContent));
            }
          }).observe(document.getElementById("conversation"), { subtree: true, childList: true, attributes: true });
        }"""
    )
    answer = ask(home, ENGLISH)
    expect(answer).to_have_attribute("data-state", ANSWERED)
    seen = home.evaluate("window.readingWhileStreaming")
    assert seen and all(title.strip() for title in seen[-1]), seen
    expect(answer.locator(".reading")).to_have_count(0)


def test_a_follow_up_carries_the_conversation_and_new_conversation_clears_it(home: Page):
    bodies = []
    home.on(
        "request",
        lambda r: r.url.endswith("/v1/ask") and r.method == "POST" and bodies.append(r.post_data_json),
    )
    ask(home, ENGLISH)
    follow_up = ask(home, "And in Singapore?")  # Tier 2 in the travel policy's table: USD 210
    assert len(bodies) == 2
    conversation = bodies[1].get("conversation") or []
    assert any(t["role"] == "user" and t["content"] == ENGLISH for t in conversation), bodies[1]
    assert any(t["role"] == "assistant" and t["content"] for t in conversation), bodies[1]
    expect(follow_up).to_have_attribute("data-state", ANSWERED)
    home.click("#new-conversation")
    expect(home.locator("#conversation .turn")).to_have_count(0)


def test_a_question_the_documents_do_not_answer_ends_not_found(home: Page):
    answer = ask(home, "Which rocket engine did Apollo 11 use?")
    expect(answer).to_have_attribute("data-state", "not-found")
    expect(answer.locator(".answer-note")).to_be_visible()


def test_search_filters_by_type_and_says_when_nothing_matches(home: Page):
    results = search(home, "hotel cap per night", type="pdf")
    assert results.count() >= 1
    for i in range(results.count()):
        kind = results.nth(i).locator(".source-type").text_content() or ""
        assert "pdf" in kind.lower(), kind
    results = search(home, "hotel cap per night", tags="no-such-tag")
    expect(home.locator("#search-empty")).to_be_visible()
    expect(results).to_have_count(0)


def test_a_poisoned_document_runs_no_script(home: Page, watch):
    """Its <script>, onerror and javascript: link reach the page through the answer, its sources and the search
    results; none may run or survive in the DOM (the page fixture fails on any dialog or console error)."""
    answer = ask(home, "When is the Zephyr pantry restocked?")
    expect(answer).not_to_have_attribute("data-state", "error")
    sources = answer.locator(".source-card")
    assert any("Zephyr" in (sources.nth(i).text_content() or "") for i in range(sources.count())), (
        f"the poisoned document was not cited: {answer.text_content()}"
    )
    results = search(home, POISON_FACT)
    assert results.count() >= 1
    shown = home.locator("#search-results").text_content() or ""
    assert "<script>" in shown or "onerror" in shown, "the payload never reached the page: the test proves nothing"
    for scope in ("#conversation", "#search-results"):
        assert home.locator(f"{scope} script").count() == 0
        assert home.locator(f"{scope} [onerror]").count() == 0
        assert home.locator(f'{scope} a[href^="javascript:" i]').count() == 0
    assert not watch.dialogs


def test_deltas_reach_the_screen_quickly_and_the_page_is_light(page: Page, anonymous_server, tmp_path):
    sizes: dict[str, int] = {}

    def record(response) -> None:
        try:
            sizes[response.url] = len(response.body())
        except Exception:  # a redirect or an aborted request has no body
            sizes.setdefault(response.url, 0)

    page.on("response", record)
    page.goto(anonymous_server.url + "/", wait_until="networkidle")
    page_bytes = sum(sizes.values())
    page.remove_listener("response", record)

    # Each answer's text may come as one delta (the server checks a generated answer whole before it streams it):
    # several answers, extractive and generated, give several measures.
    for question in (ENGLISH, "How much is the one-time home office stipend?", "How often are laptops replaced?"):
        ask(page, question)
    delays = page.evaluate("performance.getEntriesByName('delta-to-screen').map(e => e.duration)")
    report = {
        "page_bytes": page_bytes,
        "page_files": {url.removeprefix(anonymous_server.url): size for url, size in sizes.items()},
        "deltas": len(delays),
        "delta_to_screen_ms": {
            "median": round(statistics.median(delays), 1) if delays else None,
            "max": round(max(delays), 1) if delays else None,
        },
    }
    (tmp_path / "timing.json").write_text(json.dumps(report, indent=2))
    keep(tmp_path / "timing.json")
    print(json.dumps(report))
    assert delays, "no delta-to-screen measures: the page does not mark its deltas"
    assert statistics.median(delays) < 100, report
    assert page_bytes < 150 * 1024, report


def test_the_page_forbids_inline_scripts(page: Page, anonymous_server):
    response = page.goto(anonymous_server.url + "/")
    assert response is not None and response.status == 200
    policy = response.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, f"no script-src or default-src in {policy!r}"
    assert "'unsafe-inline'" not in scripts, policy
