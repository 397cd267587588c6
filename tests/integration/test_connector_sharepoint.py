"""The SharePoint/OneDrive connector against a local Microsoft Entra and Graph over HTTPS (msal signs in for real)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.connectors import make_connector
from ingest.connectors.base import FetchError, SourceDocument, SourceUnavailableError
from ingest.connectors.sharepoint import SharePointConnector
from retrieval.errors import ConfigError
from tests.support.graph_server import (
    GraphServer,
    group_grant,
    link_grant,
    site_group_grant,
    site_user_grant,
    user_grant,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GraphServer]:
    """Site hr with two libraries: Documents (nine files, two nested folders) and Archive (one file)."""
    with GraphServer(tmp_path, page_limit=3) as started:
        documents = started.add_drive("Documents")
        handbook = started.add(documents, "handbook.docx", b"PK handbook bytes")
        handbook.permissions = [site_group_grant("HR Site Members"), user_grant("alice@contoso.com", role="owner")]
        policies = started.add_folder(documents, "Policies")
        leave = started.add(documents, "leave.txt", b"Leave policy: 25 days.", parent=policies)
        leave.permissions = [group_grant("hr"), link_grant("organization")]
        year = started.add_folder(documents, "2026", parent=policies)
        remote = started.add(documents, "remote.txt", b"Remote work policy.", parent=year)
        remote.permissions = [user_grant("bob@contoso.com"), link_grant("anonymous")]
        for number in range(6):
            memo = started.add(documents, f"memo-{number}.txt", f"Memo {number}".encode())
            memo.permissions = [link_grant("users")]
        archive = started.add_drive("Archive")
        started.add(archive, "old.txt", b"Old.").permissions = [group_grant("archivists")]
        started.add_drive("Personal", in_site=False)
        yield started


def connect(server: GraphServer, **extra: object) -> SharePointConnector:
    options = {"site": f"{GraphServer.HOSTNAME}:/sites/hr", "page_size": 3, "max_retry_wait_s": 2}
    connector = make_connector("sharepoint", {**options, **server.options(**extra)})
    assert isinstance(connector, SharePointConnector)
    return connector


def by_name(connector: SharePointConnector) -> dict[str, SourceDocument]:
    return {document.name: document for document in connector.documents()}


def test_lists_every_file_of_every_library_recursively_across_pages(server: GraphServer) -> None:
    connector = connect(server)
    documents = by_name(connector)
    assert sorted(documents) == sorted(
        ["handbook.docx", "leave.txt", "remote.txt", "old.txt"] + [f"memo-{n}.txt" for n in range(6)]
    )
    remote = documents["remote.txt"]
    assert remote.key.startswith("b!drive-1/") and remote.size == len(b"Remote work policy.")
    assert remote.url == f"https://{GraphServer.HOSTNAME}/sites/hr/Documents/Policies/2026/remote.txt"
    assert remote.modified_at is not None and remote.marker.startswith('"c:')
    assert {d.key: d.marker for d in connector.documents()} == {d.key: d.marker for d in documents.values()}
    assert server.tokens_issued == 1  # msal kept the token for the second listing
    connector.close()


def test_a_drive_and_folder_can_be_named_instead_of_a_site(server: GraphServer) -> None:
    connector = make_connector("sharepoint", server.options(drive_ids=["b!drive-1"], folder="Policies"))
    assert sorted(document.name for document in connector.documents()) == ["leave.txt", "remote.txt"]
    connector.close()


def test_a_changed_file_changes_its_marker_and_fetch_follows_the_download_redirect(server: GraphServer) -> None:
    connector = connect(server)
    before = by_name(connector)["leave.txt"]
    item = server.drives["b!drive-1"].items[before.key.split("/")[1]]
    item.edit(b"Leave policy: 30 days.")
    after = by_name(connector)["leave.txt"]
    assert before.key == after.key and before.marker != after.marker
    assert connector.fetch(after, max_bytes=1000) == b"Leave policy: 30 days."
    connector.close()


def test_acl_from_graph_permissions(server: GraphServer) -> None:
    connector = connect(server)
    documents = by_name(connector)
    assert documents["handbook.docx"].acl == ("group:HR Site Members", "user:alice@contoso.com")
    assert documents["leave.txt"].acl == ("group:everyone", "group:hr")  # an organization-wide link
    assert documents["remote.txt"].acl == ("group:everyone", "user:bob@contoso.com")  # an anonymous link too
    assert documents["memo-0.txt"].acl == ("user:dave@contoso.com",)  # a link sent to people: those people
    assert documents["old.txt"].acl == ("group:archivists",)
    connector.close()
    no_links = connect(server, organization_principal=None)
    assert by_name(no_links)["leave.txt"].acl == ("group:hr",)
    no_links.close()


def test_a_permission_removed_at_the_source_leaves_the_acl(server: GraphServer) -> None:
    connector = connect(server)
    leave = by_name(connector)["leave.txt"]
    item = server.drives["b!drive-1"].items[leave.key.split("/")[1]]
    item.permissions = [group_grant("hr")]  # the organization-wide link deleted
    assert by_name(connector)["leave.txt"].acl == ("group:hr",)
    item.permissions = []
    assert by_name(connector)["leave.txt"].acl == ()  # nobody named: no reader, never the configured ACL
    connector.close()


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_is_retried_after_the_servers_wait(server: GraphServer, status: int) -> None:
    connector = connect(server)
    server.throttle_status, server.throttle_next = status, 2
    assert len(list(connector.documents())) == 10
    document = next(iter(connector.documents()))
    server.throttle_next = 1
    assert connector.fetch(document, max_bytes=1000)
    server.throttle_next = 100
    with pytest.raises(SourceUnavailableError, match=str(status)):
        list(connect(server, max_attempts=2, max_retry_wait_s=0).documents())
    connector.close()


def test_wrong_credentials_make_the_source_unavailable(server: GraphServer) -> None:
    connector = connect(server, client_secret="wrong")
    with pytest.raises(SourceUnavailableError, match="invalid_client"):
        list(connector.documents())
    connector.close()


def test_an_unknown_drive_makes_the_source_unavailable(server: GraphServer) -> None:
    with pytest.raises(SourceUnavailableError, match="404"):
        list(make_connector("sharepoint", server.options(drive_ids=["b!nope"])).documents())


def test_a_file_deleted_after_listing_fails_alone(server: GraphServer) -> None:
    connector = connect(server)
    documents = by_name(connector)
    gone = documents["memo-3.txt"]
    del server.drives["b!drive-1"].items[gone.key.split("/")[1]]
    with pytest.raises(FetchError) as failure:
        connector.fetch(gone, max_bytes=1000)
    assert not failure.value.transient and "404" in str(failure.value)
    assert connector.fetch(documents["memo-4.txt"], max_bytes=1000) == b"Memo 4"
    with pytest.raises(FetchError, match="over the limit"):
        connector.fetch(documents["handbook.docx"], max_bytes=5)
    connector.close()


def test_options_are_checked_by_name() -> None:
    base = {"tenant_id": "t", "client_id": "c", "client_secret": "s"}
    with pytest.raises(ConfigError, match="site"):
        SharePointConnector.from_options(base)
    with pytest.raises(ConfigError, match="client_secret"):
        SharePointConnector.from_options({"tenant_id": "t", "client_id": "c", "site": "x"})
    with pytest.raises(ConfigError, match="drive"):
        SharePointConnector.from_options({**base, "site": "x", "drive": "y"})


def test_a_token_graph_refuses_or_an_untrusted_certificate_makes_the_source_unavailable(server: GraphServer) -> None:
    connector = connect(server)
    assert len(list(connector.documents())) == 10
    server.revoke_tokens()  # msal still holds its token; Graph no longer accepts it
    with pytest.raises(SourceUnavailableError, match=r"refused.*401.*Sites\.Read\.All"):
        list(connector.documents())
    connector.close()
    untrusted = connect(server, ca_bundle=None)  # the test CA is not among the system's
    with pytest.raises(SourceUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
        list(untrusted.documents())


def test_site_users_are_read_by_their_claim(server: GraphServer) -> None:
    old = next(item for item in server.drives["b!drive-2"].items.values() if item.name == "old.txt")
    old.permissions = [
        site_user_grant("c:0-.f|rolemanager|spo-grid-all-users/contoso-tenant", "Everyone except external users"),
        site_user_grant("c:0t.c|tenant|0b5e-7f", "Finance Security Group"),
        site_user_grant("i:0#.f|membership|erin@contoso.com", "Erin"),
    ]
    connector = connect(server)
    expected = ("group:Finance Security Group", "group:everyone", "user:erin@contoso.com")
    assert by_name(connector)["old.txt"].acl == expected
    connector.close()


def test_permissions_are_asked_in_batches_retried_when_throttled_and_read_whole(tmp_path: Path) -> None:
    with GraphServer(tmp_path, page_limit=50) as server:
        library = server.add_drive("Documents")
        for number in range(45):  # one listing page, three batches (20 + 20 + 5)
            server.add(library, f"f{number:02d}.txt", b"x").permissions = [user_grant(f"u{number}@contoso.com")]
        crowded = server.add(library, "crowded.txt", b"x")
        crowded.permissions = [group_grant(f"team-{n}") for n in range(60)]  # two pages of permissions
        connector = connect(server, page_size=100)
        server.throttle_batched_next = 3  # three requests inside the first batch are throttled
        before = server.requests
        documents = by_name(connector)
        assert len(documents) == 46 and documents["f07.txt"].acl == ("user:u7@contoso.com",)
        assert documents["crowded.txt"].acl == tuple(sorted(f"group:team-{n}" for n in range(60)))
        # the site, its drives, the listing, three batches and one retry, the second page of permissions
        assert server.requests - before == 8
        server.throttle_batched_next = 1000  # throttled past the retries: the listing is unavailable
        with pytest.raises(SourceUnavailableError, match="still throttled"):
            list(connect(server, max_attempts=2, max_retry_wait_s=0).documents())
        connector.close()
