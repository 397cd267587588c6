"""The Confluence connector against a local server speaking Confluence's REST API (Cloud and Data Center)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingest.connectors import make_connector
from ingest.connectors.base import FetchError, SourceUnavailableError
from ingest.connectors.confluence import ConfluenceConnector
from retrieval.errors import ConfigError
from tests.support.confluence_server import ConfluenceServer


def populate(server: ConfluenceServer) -> None:
    """Space ENG readable by group `staff` and bob; a restricted HR subtree; nine pages (three listing pages)."""
    server.add_user("acc-alice", "alice", "alice@example.com")
    server.add_user("acc-bob", "bob", "bob@example.com")
    server.add_user("acc-carol", "carol", "")  # Cloud hides her e-mail
    server.add_space("ENG", users=["acc-bob"], groups=["staff"])
    home = server.add_page("ENG", "Home", "<p>Welcome</p>")
    hr = server.add_page("ENG", "HR", parent=home.id)
    hr.read_users, hr.read_groups = ["acc-alice", "acc-carol"], ["hr"]
    salaries = server.add_page("ENG", "Salaries", "<p>Pay bands</p>", parent=hr.id)
    salaries.read_users, salaries.read_groups = ["acc-alice"], ["hr", "finance"]
    server.add_page("ENG", "Holidays", parent=hr.id)  # inherits HR's restriction
    for number in range(5):
        server.add_page("ENG", f"Runbook {number}", parent=home.id)


@pytest.fixture(params=["cloud", "datacenter"])
def server(request: pytest.FixtureRequest) -> Iterator[ConfluenceServer]:
    with ConfluenceServer(request.param, page_limit=3) as started:
        populate(started)
        yield started


def connect(server: ConfluenceServer, **extra: object) -> ConfluenceConnector:
    options = {"spaces": ["ENG"], "page_size": 3, "max_retry_wait_s": 2, **server.options(), **extra}
    connector = make_connector("confluence", options)
    assert isinstance(connector, ConfluenceConnector)
    return connector


def by_title(connector: ConfluenceConnector) -> dict[str, object]:
    return {document.title: document for document in connector.documents()}


def user(server: ConfluenceServer, email: str, account: str, username: str) -> str:
    """The principal the deployment names a user by."""
    if server.deployment == "datacenter":
        return f"user:{username}"
    return f"user:{email or account}"


def test_lists_every_page_across_listing_pages_with_versions_titles_and_links(server: ConfluenceServer) -> None:
    connector = connect(server)
    documents = list(connector.documents())
    assert len(documents) == 9 and len({document.key for document in documents}) == 9
    home = next(document for document in documents if document.title == "Home")
    assert home.marker == "1" and home.name == f"{home.key}.html"
    assert home.url == f"{server.base_url}/spaces/ENG/pages/{home.key}/Home"
    assert home.modified_at is not None and home.modified_at.year == 2026
    assert [document.marker for document in connector.documents()] == [document.marker for document in documents]
    connector.close()


def test_a_new_version_changes_the_marker_and_the_fetched_page(server: ConfluenceServer) -> None:
    connector = connect(server)
    page = next(page for page in server.pages.values() if page.title == "Runbook 2")
    before = by_title(connector)["Runbook 2"]
    server.pages[page.id].edit("<p>Restart the <b>queue</b> first</p>")
    after = by_title(connector)["Runbook 2"]
    assert (before.marker, after.marker) == ("1", "2")  # type: ignore[attr-defined]
    html = connector.fetch(after, max_bytes=1_000_000).decode()  # type: ignore[arg-type]
    assert "<title>Runbook 2</title>" in html and "Restart the <b>queue</b> first" in html
    connector.close()


def test_acl_from_space_page_and_inherited_restrictions(server: ConfluenceServer) -> None:
    connector = connect(server)
    documents = by_title(connector)
    alice = user(server, "alice@example.com", "acc-alice", "alice")
    carol = user(server, "", "acc-carol", "carol")
    bob = user(server, "bob@example.com", "acc-bob", "bob")
    assert documents["Home"].acl == tuple(sorted({bob, "group:staff"}))  # type: ignore[attr-defined]
    assert documents["Runbook 0"].acl == documents["Home"].acl  # type: ignore[attr-defined]
    assert documents["HR"].acl == tuple(sorted({alice, carol, "group:hr"}))  # type: ignore[attr-defined]
    assert documents["Holidays"].acl == documents["HR"].acl  # inherited from the restricted parent
    # a reader must pass HR's restriction and Salaries' own: only those named at both levels
    assert documents["Salaries"].acl == tuple(sorted({alice, "group:hr"}))  # type: ignore[attr-defined]
    if server.deployment == "cloud":
        assert carol == "user:acc-carol"  # the hidden e-mail falls back to the account id
    connector.close()


def test_a_permission_removed_at_the_source_leaves_the_acl(server: ConfluenceServer) -> None:
    connector = connect(server)
    hr = next(page for page in server.pages.values() if page.title == "HR")
    assert "group:hr" in by_title(connector)["Holidays"].acl  # type: ignore[attr-defined]
    hr.read_groups.remove("hr")
    server.spaces["ENG"].read_groups.remove("staff")
    documents = by_title(connector)
    assert "group:hr" not in documents["Holidays"].acl  # type: ignore[attr-defined]
    assert "group:staff" not in documents["Home"].acl  # type: ignore[attr-defined]
    hr.read_users, hr.read_groups = [], []  # restriction lifted: the space's readers again
    assert by_title(connector)["Holidays"].acl == documents["Home"].acl  # type: ignore[attr-defined]
    connector.close()


def test_throttling_is_retried_after_the_servers_wait(server: ConfluenceServer) -> None:
    connector = connect(server)
    server.throttle_next = 2
    assert len(list(connector.documents())) == 9
    server.throttle_next = 100  # throttled past the retries: the listing is unavailable, never partial
    with pytest.raises(SourceUnavailableError, match="429"):
        list(connect(server, max_attempts=2, max_retry_wait_s=0).documents())
    connector.close()


def test_wrong_credentials_make_the_source_unavailable(server: ConfluenceServer) -> None:
    wrong = {"api_token": "nope"} if server.deployment == "cloud" else {"token": "nope"}
    connector = connect(server, **wrong)
    with pytest.raises(SourceUnavailableError, match=r"refused.*401"):
        list(connector.documents())
    connector.close()


def test_an_unknown_space_makes_the_source_unavailable(server: ConfluenceServer) -> None:
    with pytest.raises(SourceUnavailableError, match="404"):
        list(connect(server, spaces=["NOPE"]).documents())


def test_a_page_deleted_after_listing_fails_alone(server: ConfluenceServer) -> None:
    connector = connect(server)
    documents = list(connector.documents())
    del server.pages[documents[-1].key]
    with pytest.raises(FetchError) as failure:
        connector.fetch(documents[-1], max_bytes=1_000_000)
    assert not failure.value.transient and "404" in str(failure.value)
    assert connector.fetch(documents[0], max_bytes=1_000_000).startswith(b"<!DOCTYPE html>")
    with pytest.raises(FetchError, match="over the limit"):
        connector.fetch(documents[0], max_bytes=10)
    connector.close()


def test_options_are_checked_by_name() -> None:
    with pytest.raises(ConfigError, match="spaces"):
        ConfluenceConnector.from_options({"base_url": "https://x.atlassian.net/wiki", "email": "a", "api_token": "b"})
    with pytest.raises(ConfigError, match="personal access token"):
        ConfluenceConnector.from_options({"base_url": "https://c", "deployment": "datacenter", "spaces": ["A"]})
    with pytest.raises(ConfigError, match="colour"):
        ConfluenceConnector.from_options(
            {"base_url": "https://c", "spaces": ["A"], "email": "a", "api_token": "b", "colour": "red"}
        )


def test_attachments_are_listed_with_their_pages_acl_and_fetched(server: ConfluenceServer) -> None:
    salaries = next(page for page in server.pages.values() if page.title == "Salaries")
    home = next(page for page in server.pages.values() if page.title == "Home")
    bands = server.attach(salaries, "pay bands 2026.pdf", b"%PDF-1.7 bands")
    for number in range(4):  # two listing pages of attachments
        server.attach(home, f"diagram-{number}.png", b"\x89PNG" + bytes([number]))
    assert len(list(connect(server).documents())) == 9  # attachments only when asked for
    connector = connect(server, include_attachments=True)
    documents = by_title(connector)
    assert len(documents) == 14
    listed = documents["pay bands 2026.pdf"]
    assert (listed.key, listed.marker, listed.name, listed.size) == (bands.id, "1", "pay bands 2026.pdf", 14)  # type: ignore[attr-defined]
    assert listed.acl == documents["Salaries"].acl and listed.url == documents["Salaries"].url  # type: ignore[attr-defined]
    assert connector.fetch(listed, max_bytes=1000) == b"%PDF-1.7 bands"  # type: ignore[arg-type]
    assert connect(server).fetch(listed, max_bytes=1000) == b"%PDF-1.7 bands"  # type: ignore[arg-type]
    bands.content, bands.version = b"%PDF-1.7 new bands", 2
    assert by_title(connector)["pay bands 2026.pdf"].marker == "2"  # type: ignore[attr-defined]
    salaries.attachments.clear()
    with pytest.raises(FetchError, match="404") as failure:
        connector.fetch(listed, max_bytes=1000)  # type: ignore[arg-type]
    assert not failure.value.transient
    with pytest.raises(FetchError, match="404"):
        connect(server).fetch(listed, max_bytes=1000)  # type: ignore[arg-type]
    connector.close()


def test_a_sign_in_page_in_front_of_the_api_makes_the_source_unavailable(server: ConfluenceServer) -> None:
    server.sign_in_page = True  # a single sign-on proxy answering HTML with 200
    with pytest.raises(SourceUnavailableError, match="not JSON"):
        list(connect(server).documents())


def test_restrictions_are_read_whole_when_confluence_caps_the_page_size(server: ConfluenceServer) -> None:
    home = next(page for page in server.pages.values() if page.title == "Home")
    home.read_groups = [f"team-{n}" for n in range(7)]  # three pages of groups at the server's limit of 3
    connector = connect(server, page_size=50)  # asks for 50, gets 3 at a time
    assert by_title(connector)["Home"].acl == tuple(f"group:team-{n}" for n in range(7))  # type: ignore[attr-defined]
    connector.close()
