"""What a user does on the page, in the DOM's terms (the ids and classes of the contract in issue 18)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

ANSWER_TIMEOUT_MS = 90_000  # the CPU model's first answer loads it (~30 s); two cores shared with other work
FINAL = re.compile(r"^(answered|not-found|extractive|error)$")


def sign_in(page: Page, key: str) -> None:
    """Sign in on the page's form with `key`; the form goes away."""
    expect(page.locator("#signin")).to_be_visible()
    page.fill("#api-key", key)
    page.click("#signin-submit")
    expect(page.locator("#signin")).to_be_hidden()


def ask(page: Page, question: str) -> Locator:
    """Ask `question` in the ask tab; its answer once final (data-state other than "streaming")."""
    page.click("#tab-ask")
    turns = page.locator("#conversation .turn")
    before = turns.count()
    page.fill("#question", question)
    page.click("#ask-submit")
    answer = turns.nth(before).locator(".answer")
    expect(answer).to_have_attribute("data-state", FINAL, timeout=ANSWER_TIMEOUT_MS)
    return answer


def search(page: Page, query: str, **filters: str) -> Locator:
    """Search in the search tab with the given filters ("type", "language": option values of the selects;
    "folder", "tags", "from", "to": text); the results (.result), once the search has finished."""
    page.click("#tab-search")
    page.fill("#search-query", query)
    for name, value in filters.items():
        field = page.locator(f"#filter-{name}")
        if name in ("type", "language"):
            field.select_option(value)
        else:
            field.fill(value)
    with page.expect_response(lambda r: r.url.endswith("/v1/search") and r.request.method == "POST") as response:
        page.click("#search-submit")
    assert response.value.status == 200, response.value.text()
    expect(page.locator("#search-results")).not_to_have_attribute("aria-busy", "true")  # the results are drawn
    return page.locator("#search-results .result")
