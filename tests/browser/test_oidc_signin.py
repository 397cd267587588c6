"""The page with single sign-on: a reader signs in at a real OpenID Connect provider (oidc-provider-mock, its own
process), reads what their groups there allow, and signs out of both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AURORA, BOREALIS, _serve
from tests.browser.docent_page import search
from tests.support.docent_server import Server
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, OIDCProvider

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def provider() -> Iterator[OIDCProvider]:
    with OIDCProvider() as p:
        yield p


@pytest.fixture(scope="module")
def sso_server(corpus, provider, tmp_path_factory) -> Iterator[Server]:
    """`docent serve` with keys and single sign-on; the provider's "fin-team" group is Docent's finance."""
    with _serve(
        corpus,
        tmp_path_factory,
        DOCENT_AUTH__ANONYMOUS="false",
        DOCENT_OIDC__ISSUER=provider.issuer,
        DOCENT_OIDC__CLIENT_ID=CLIENT_ID,
        DOCENT_OIDC__CLIENT_SECRET=CLIENT_SECRET,
        DOCENT_OIDC__GROUP_MAP='{"fin-team": "finance"}',
        DOCENT_OIDC__SESSION_SECRET="browser-test-secret",
    ) as server:
        yield server


def test_a_reader_signs_in_at_the_provider_sees_what_their_groups_allow_and_signs_out(
    page: Page, sso_server, provider, watch
):
    # The provider's own pages link a stylesheet on a CDN, which this offline machine cannot reach.
    watch.allowed_console = ("cdn.jsdelivr.net",)
    provider.set_user("alice-sub", {"email": "alice@corp.com", "groups": ["fin-team"]})
    page.goto(sso_server.url + "/")
    button = page.locator("#sso-signin")
    expect(button).to_have_text("Sign in with 127.0.0.1")
    button.click()
    page.get_by_placeholder("sub").fill("alice-sub")  # the provider's own sign-in form
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(sso_server.url + "/")
    expect(page.locator("#signin")).to_be_hidden()
    expect(page.locator("#who")).to_contain_text("alice@corp.com")
    results = search(page, "Aurora project budget Borealis settlement")
    expect(results.first).to_be_visible()
    text = page.locator("#search-results").inner_text()
    assert AURORA.split()[1] in text and BOREALIS.split()[1] not in text  # finance's, never legal's

    page.click("#signout")
    page.get_by_role("button", name="End session").click()  # the provider's end of RP-initiated logout
    page.wait_for_url(sso_server.url + "/")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#sso-signin")).to_be_visible()
    assert page.request.get(sso_server.url + "/v1/me").status == 401  # the session is gone, not only hidden
