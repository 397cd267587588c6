"""`docent sync` over the Git source, end to end: a bare repository built by the test, the real parsers in their
sandbox, the real models and the embedded index. A commit re-embeds only the files it changed, a deleted file
leaves the index, and a branch that cannot be fetched changes nothing."""

from __future__ import annotations

import pytest

from ingest.connectors import make_connector
from ingest.sync import Source, SourceSync
from retrieval.access import ALL_ACCESS, Principal
from retrieval.errors import SourceUnavailableError
from retrieval.search import SearchRequest
from tests.support.git_repos import GitRemote

pytestmark = pytest.mark.slow


def sources_in(retriever, query: str, principal=ALL_ACCESS) -> list[str]:
    return [p.source for p in retriever.search(SearchRequest(query, principal, k=3)).passages]


def test_a_git_branch_syncs_only_what_changed(pipeline, retriever, edge_index, tmp_path):
    remote = GitRemote(tmp_path / "origin")
    remote.write("docs/vpn.md", "# VPN\n\nThe VPN gateway of the Lisbon office listens on port 8443.\n")
    remote.write("docs/travel.md", "# 差旅报销\n\n出差结束后十五个工作日内提交报销单，逾期财务部不予受理。\n")
    remote.write("docs/api.rst", "API\n===\n\nThe search endpoint answers in under two hundred milliseconds.\n")
    remote.write("src/app.py", "print('VPN gateway')\n")
    remote.commit_and_push("The handbook")
    options = {"url": str(remote.bare), "cache_dir": str(tmp_path / "cache")}
    source = Source("handbook", "git", acl=("group:engineering",))
    sync = SourceSync(pipeline, max_file_mb=10)
    engineer = Principal("ann", ("engineering",))

    first = sync.run(source, make_connector("git", options))
    assert (first.files, first.indexed, first.failed) == (3, 3, [])
    assert sources_in(retriever, "VPN gateway port", engineer)[0] == "handbook:docs/vpn.md"
    assert sources_in(retriever, "出差报销什么时候提交", engineer)[0] == "handbook:docs/travel.md"
    assert sources_in(retriever, "search endpoint latency", engineer)[0] == "handbook:docs/api.rst"
    assert sources_in(retriever, "VPN gateway port", Principal("bob", ("sales",))) == []

    again = sync.run(source, make_connector("git", options))
    assert (again.indexed, again.unchanged, again.embedded, again.removed) == (0, 3, 0, 0)

    remote.write("docs/vpn.md", "# VPN\n\nThe VPN gateway of the Lisbon office listens on port 9443.\n")
    remote.remove("docs/travel.md")
    remote.commit_and_push("Move the VPN; the travel policy moved to the wiki")
    changed = sync.run(source, make_connector("git", options))
    assert (changed.indexed, changed.unchanged, changed.removed) == (1, 1, 1)
    assert "9443" in retriever.search(SearchRequest("VPN gateway port", ALL_ACCESS, k=1)).passages[0].text
    assert "handbook:docs/travel.md" not in {source for _, source in edge_index.documents()}

    regranted = sync.run(Source("handbook", "git", acl=("group:it",)), make_connector("git", options))
    assert (regranted.access_updated, regranted.embedded) == (2, 0)
    assert sources_in(retriever, "VPN gateway port", engineer) == []

    before = sorted(edge_index.documents())
    with pytest.raises(SourceUnavailableError, match="couldn't find remote ref"):
        sync.run(source, make_connector("git", {**options, "branch": "gone"}))
    assert sorted(edge_index.documents()) == before
