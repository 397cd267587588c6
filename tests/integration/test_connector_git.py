"""The Git source against repositories built by the test: a bare remote pushed to from a working copy, read
by path and file:// URL, and over smart HTTP with a token (tests/support/git_repos.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.connectors import make_connector
from ingest.connectors.base import FetchError, SourceDocument, SourceUnavailableError
from ingest.connectors.git import GitConnector
from retrieval.errors import ConfigError
from tests.support.git_repos import GitHttpServer, GitRemote, git

TOKEN = "glpat-s3cr3t-t0ken"


@pytest.fixture
def remote(tmp_path: Path) -> GitRemote:
    repository = GitRemote(tmp_path / "origin")
    repository.write("README.md", "# Handbook\n\nHow we work.\n")
    repository.write("docs/install.md", "# Installing\n\nRun `docent sync`.\n")
    repository.write("docs/reference/api.rst", "API\n===\n\nThe endpoints.\n")
    repository.write("docs/faq.html", "<html><head><title>FAQ</title></head><body><p>常见问题</p></body></html>")
    repository.write("src/main.py", "print('not documentation')\n")
    repository.write("docs/logo.png", b"\x89PNG\r\n\x1a\n")
    repository.commit_and_push("The handbook")
    return repository


def _connector(remote: GitRemote, tmp_path: Path, **options: object) -> GitConnector:
    return GitConnector.from_options({"url": str(remote.bare), "cache_dir": str(tmp_path / "cache"), **options})


def _listing(connector: GitConnector) -> dict[str, SourceDocument]:
    return {document.key: document for document in connector.documents()}


def test_lists_the_branchs_documents_by_path_with_blob_ids(remote: GitRemote, tmp_path: Path) -> None:
    connector = _connector(remote, tmp_path, web_url="https://git.corp/docs/blob/{branch}/{path}")
    documents = _listing(connector)
    assert set(documents) == {"README.md", "docs/install.md", "docs/reference/api.rst", "docs/faq.html"}
    install = documents["docs/install.md"]
    assert install.marker == remote.blob("docs/install.md")
    assert install.name == "install.md"
    assert install.url == "https://git.corp/docs/blob/main/docs/install.md"
    assert install.size == len("# Installing\n\nRun `docent sync`.\n") and install.acl is None
    assert connector.fetch(install, max_bytes=1000) == b"# Installing\n\nRun `docent sync`.\n"
    faq = connector.fetch(documents["docs/faq.html"], max_bytes=1000)
    assert "常见问题" in faq.decode()
    with pytest.raises(FetchError, match="larger than"):
        connector.fetch(install, max_bytes=10)
    gone = SourceDocument(key="docs/gone.md", marker="0" * 40, name="gone.md")
    with pytest.raises(FetchError, match="not a blob"):
        connector.fetch(gone, max_bytes=1000)
    assert connector.fetch(documents["README.md"], max_bytes=1000).startswith(b"# Handbook")  # still in step
    connector.close()


def test_a_commit_changes_one_marker_and_a_deleted_file_disappears(remote: GitRemote, tmp_path: Path) -> None:
    connector = _connector(remote, tmp_path)
    first = {key: document.marker for key, document in _listing(connector).items()}
    assert {key: document.marker for key, document in _listing(connector).items()} == first
    remote.write("docs/install.md", "# Installing\n\nRun `docent sync --source handbook`.\n")
    remote.commit_and_push("Name the source")
    second = {key: document.marker for key, document in _listing(connector).items()}
    assert {key for key in first if second[key] != first[key]} == {"docs/install.md"}
    remote.remove("docs/faq.html")
    remote.commit_and_push("The FAQ moved to the wiki")
    third = _listing(connector)
    assert set(third) == set(first) - {"docs/faq.html"}
    assert connector.fetch(third["docs/install.md"], max_bytes=1000).endswith(b"--source handbook`.\n")
    # The cache repository was fetched into, not cloned again: one cache, a shallow history.
    caches = list((tmp_path / "cache").iterdir())
    assert len(caches) == 1 and (caches[0] / "shallow").exists()
    connector.close()
    assert caches[0].exists()  # a configured cache_dir outlives the connector


def test_branch_paths_and_extensions_select_files(remote: GitRemote, tmp_path: Path) -> None:
    git(remote.work, "checkout", "--quiet", "-b", "release")
    remote.write("docs/release-notes.md", "# 2.0\n")
    remote.commit_and_push("Release notes", branch="release")
    release = _listing(_connector(remote, tmp_path, branch="release"))
    assert "docs/release-notes.md" in release
    assert "docs/release-notes.md" not in _listing(_connector(remote, tmp_path / "main"))
    only_docs = _listing(_connector(remote, tmp_path / "docs", paths=["docs/"], extensions=[".md"]))
    assert set(only_docs) == {"docs/install.md"}
    globbed = _listing(_connector(remote, tmp_path / "glob", paths=["docs/**/*.rst", "README*"]))
    assert set(globbed) == {"docs/reference/api.rst", "README.md"}
    file_url = _listing(_connector(remote, tmp_path / "file", url=remote.bare.as_uri()))
    assert set(file_url) == {"README.md", "docs/install.md", "docs/reference/api.rst", "docs/faq.html"}


def test_a_missing_branch_or_repository_is_unavailable(remote: GitRemote, tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailableError, match="couldn't find remote ref"):
        list(_connector(remote, tmp_path, branch="no-such-branch").documents())
    with pytest.raises(SourceUnavailableError, match="git fetch"):
        list(_connector(remote, tmp_path, url=str(tmp_path / "nowhere.git")).documents())


def test_a_temporary_cache_is_removed_on_close(remote: GitRemote) -> None:
    connector = GitConnector.from_options({"url": str(remote.bare)})
    assert "README.md" in _listing(connector)
    cache = connector._repository
    assert cache is not None and cache.exists()
    connector.close()
    assert not cache.exists()


@pytest.fixture
def served(remote: GitRemote) -> Iterator[GitHttpServer]:
    with GitHttpServer(remote.bare.parent, "x-access-token", TOKEN) as server:
        yield server


def test_a_token_is_sent_as_a_header_never_in_the_url_or_messages(
    remote: GitRemote, served: GitHttpServer, tmp_path: Path
) -> None:
    url = f"{served.url}/remote.git"
    connector = GitConnector.from_options({"url": url, "token": TOKEN, "cache_dir": str(tmp_path / "c")})
    assert set(_listing(connector)) == {"README.md", "docs/install.md", "docs/reference/api.rst", "docs/faq.html"}
    assert served.requests and all(TOKEN not in path for path, _ in served.requests)
    config = (next((tmp_path / "c").iterdir()) / "config").read_text()
    assert TOKEN not in config and "extraHeader" not in config
    wrong = GitConnector.from_options({"url": url, "token": "not-the-t0ken", "cache_dir": str(tmp_path / "w")})
    with pytest.raises(SourceUnavailableError) as refused:
        list(wrong.documents())
    assert "git fetch" in str(refused.value) and "not-the-t0ken" not in str(refused.value)
    anonymous = GitConnector.from_options({"url": url, "cache_dir": str(tmp_path / "a")})
    with pytest.raises(SourceUnavailableError, match="fetch"):
        list(anonymous.documents())
    leaky = GitConnector.from_options(
        {"url": url.replace("http://", f"http://someone:{TOKEN}@"), "cache_dir": str(tmp_path / "l")}
    )
    with pytest.raises(SourceUnavailableError) as leaked:
        list(leaky.documents())
    assert TOKEN not in str(leaked.value)


def test_options_are_checked_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="'url'"):
        GitConnector.from_options({"branch": "main"})
    with pytest.raises(ConfigError, match="brnach"):
        GitConnector.from_options({"url": "/tmp/x", "brnach": "main"})
    with pytest.raises(ConfigError, match="branch"):
        GitConnector.from_options({"url": "/tmp/x", "branch": "--upload-pack=evil"})
    with pytest.raises(ConfigError, match="web_url"):
        GitConnector.from_options({"url": "/tmp/x", "web_url": "https://h/{repo}/{path}"})
    monkeypatch.setenv("DOCENT_TEST_GIT_TOKEN", TOKEN)
    connector = make_connector("git", {"url": "/tmp/x", "token_env": "DOCENT_TEST_GIT_TOKEN"})
    assert isinstance(connector, GitConnector)
    assert connector.options.token is not None and TOKEN not in repr(connector.options)
