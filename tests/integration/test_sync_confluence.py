"""`docent sync` of a Confluence source, end to end: the local Confluence (tests/support/confluence_server.py), the
real parsers in their sandbox, the real models and the embedded index. Permissions come from the pages'
restrictions and the space, mapped to Docent's groups by the source's `principals`."""

from __future__ import annotations

import pytest

from ingest.connectors import make_connector
from ingest.sync import Source, SourceSync
from retrieval.access import Principal
from retrieval.search import SearchRequest
from tests.support.confluence_server import ConfluenceServer

pytestmark = pytest.mark.slow

VPN = "<h2>VPN</h2><p>The VPN gateway of the Lisbon office listens on port 8443 for remote staff.</p>"
LEAVE = "<p>Unused annual leave of up to five days may be carried over to the next year.</p>"


def sources_in(retriever, query: str, principal: Principal) -> list[str]:
    return [p.source for p in retriever.search(SearchRequest(query, principal, k=3)).passages]


def test_a_confluence_source_syncs_pages_and_their_permissions(pipeline, retriever):
    with ConfluenceServer("cloud") as server:
        server.add_user("acc-alice", "alice", "alice@example.com")
        server.add_space("ENG", groups=["confluence-users"])
        vpn = server.add_page("ENG", "VPN", VPN)
        hr = server.add_page("ENG", "HR", "<p>Human resources.</p>")
        hr.read_users, hr.read_groups = ["acc-alice"], ["confluence-hr"]
        leave = server.add_page("ENG", "Leave", LEAVE, parent=hr.id)
        source = Source(
            "wiki",
            "confluence",
            principals={"group:confluence-users": "group:staff", "group:confluence-hr": "group:hr"},
        )
        connector = make_connector("confluence", server.options(spaces=["ENG"]))
        sync = SourceSync(pipeline, max_file_mb=10)

        first = sync.run(source, connector)
        assert (first.files, first.indexed, first.failed) == (3, 3, [])
        staff, hr_member = Principal("ann", ("staff",)), Principal("hal", ("hr",))
        assert sources_in(retriever, "VPN gateway port", staff)[0] == f"wiki:{vpn.id}"
        assert sources_in(retriever, "carry over annual leave", hr_member)[0] == f"wiki:{leave.id}"
        assert f"wiki:{leave.id}" not in sources_in(retriever, "carry over annual leave", staff)

        hr.read_groups.remove("confluence-hr")  # HR's restriction now names alice alone
        vpn.edit(VPN.replace("8443", "9443"))
        again = sync.run(source, connector)
        assert (again.indexed, again.access_updated, again.unchanged) == (1, 2, 2)  # permissions: not re-embedded
        assert f"wiki:{leave.id}" not in sources_in(retriever, "carry over annual leave", hr_member)
        alice = Principal("alice@example.com")
        assert sources_in(retriever, "carry over annual leave", alice)[0] == f"wiki:{leave.id}"
        hits = retriever.search(SearchRequest("VPN gateway port", staff, k=1)).passages
        assert "9443" in hits[0].text
        connector.close()
