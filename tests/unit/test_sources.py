"""Configuring sources: settings, secrets kept out of the configuration, the mapping of a source's principals."""

from __future__ import annotations

import json

import pytest

from ingest.connectors import make_connector, resolve_secrets
from ingest.connectors.base import SourceDocument
from ingest.sync import Source
from retrieval.errors import ConfigError
from serve.settings import Settings


def test_secrets_come_from_the_environment_or_a_file(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t\n")
    options = {"bucket": "docs", "secret_access_key_env": "MY_SECRET", "token_file": str(secret)}
    assert resolve_secrets(options, {"MY_SECRET": "from-env"}) == {
        "bucket": "docs",
        "secret_access_key": "from-env",
        "token": "s3cr3t",
    }
    with pytest.raises(ConfigError, match="MY_SECRET is not set"):
        resolve_secrets(options, {})
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_secrets({"token_file": str(tmp_path / "missing")}, {})


def test_an_unknown_kind_or_option_is_refused_with_its_name():
    with pytest.raises(ConfigError, match="unknown source kind 'dropbox'"):
        make_connector("dropbox", {})
    with pytest.raises(ConfigError, match="bukket"):
        make_connector("s3", {"bucket": "docs", "bukket": "typo"})


def test_sources_from_the_environment_and_from_a_file(tmp_path, monkeypatch):
    source = {"name": "wiki", "kind": "confluence", "principals": {"group:confluence-hr": "group:hr"}}
    monkeypatch.setenv("DOCENT_SOURCES", json.dumps([source]))
    assert [s.name for s in Settings().source_list()] == ["wiki"]
    monkeypatch.delenv("DOCENT_SOURCES")
    listing = tmp_path / "sources.yaml"
    listing.write_text("- name: handbook\n  kind: s3\n  acl: [group:staff]\n  options: {bucket: docs}\n")
    monkeypatch.setenv("DOCENT_SOURCES_FILE", str(listing))
    (handbook,) = Settings().source_list()
    assert (handbook.kind, handbook.acl, handbook.options) == ("s3", ["group:staff"], {"bucket": "docs"})
    listing.write_text("- {name: a, kind: s3}\n- {name: a, kind: web}\n")
    with pytest.raises(ConfigError, match="a repeated"):
        Settings().source_list()
    listing.write_text("- {name: 'Bad Name', kind: s3}\n")
    with pytest.raises(ConfigError, match="invalid DOCENT_SOURCES_FILE"):
        Settings().source_list()


def test_a_documents_own_permissions_are_mapped_to_docent_principals():
    source = Source(
        "wiki",
        "confluence",
        acl=("group:everyone-configured",),
        principals={"group:Confluence-HR": "group:hr", "group:confluence-users": ""},
    )
    own = SourceDocument(
        "1", "v1", "1.html", acl=("group:confluence-hr", "group:confluence-users", "user:Ann@Corp.com")
    )
    assert source.access(own) == (("group:hr", "user:ann@corp.com"), False)
    assert source.access(SourceDocument("2", "v1", "2.html")) == (("group:everyone-configured",), False)
    # a document restricted to nobody Docent knows is readable by nobody, never by everyone
    assert source.access(SourceDocument("3", "v1", "3.html", acl=("group:confluence-users",))) == ((), False)
    assert Source("site", "web", public=True).access(SourceDocument("4", "v1", "4.html")) == ((), True)


def test_a_folder_source_lists_relative_keys_and_refuses_a_missing_folder(tmp_path):
    from retrieval.errors import SourceUnavailableError

    (tmp_path / "share" / "hr").mkdir(parents=True)
    (tmp_path / "share" / "hr" / "leave.md").write_text("# Leave\n")
    (tmp_path / "share" / ".hidden.md").write_text("x")
    connector = make_connector("folder", {"path": str(tmp_path / "share")})
    (listed,) = connector.documents()
    assert (listed.key, listed.name, listed.size) == ("hr/leave.md", "leave.md", 8)
    assert connector.fetch(listed, max_bytes=100) == b"# Leave\n"
    unmounted = make_connector("folder", {"path": str(tmp_path / "unmounted")})
    with pytest.raises(SourceUnavailableError, match="missing"):
        list(unmounted.documents())
