"""`docent sync` of a SharePoint source, end to end: the local Entra and Graph over HTTPS
(tests/support/graph_server.py), the real parsers in their sandbox, the real models and the embedded index.
Permissions come from each file's Graph permissions, mapped to Docent's groups by the source's `principals`."""

from __future__ import annotations

import pytest

from ingest.connectors import make_connector
from ingest.sync import Source, SourceSync
from retrieval.access import Principal
from retrieval.search import SearchRequest
from tests.support.graph_server import GraphServer, group_grant, link_grant

pytestmark = pytest.mark.slow

VPN = b"# VPN\n\nThe VPN gateway of the Lisbon office listens on port 8443 for remote staff.\n"
LEAVE = b"# Leave\n\nUnused annual leave of up to five days may be carried over to the next year.\n"


def sources_in(retriever, query: str, principal: Principal) -> list[str]:
    return [p.source for p in retriever.search(SearchRequest(query, principal, k=3)).passages]


def test_a_sharepoint_source_syncs_files_and_their_permissions(pipeline, retriever, tmp_path):
    with GraphServer(tmp_path) as server:
        library = server.add_drive("Documents")
        it = server.add_folder(library, "IT")
        vpn = server.add(library, "vpn.md", VPN, parent=it)
        vpn.permissions = [group_grant("IT Team"), link_grant("organization")]
        leave = server.add(library, "leave.md", LEAVE)
        leave.permissions = [group_grant("HR Team"), link_grant("organization")]
        source = Source(
            "intranet",
            "sharepoint",
            principals={"group:HR Team": "group:hr", "group:IT Team": "group:it", "group:everyone": "group:staff"},
        )
        connector = make_connector("sharepoint", server.options(site=f"{GraphServer.HOSTNAME}:/sites/hr"))
        sync = SourceSync(pipeline, max_file_mb=10)
        vpn_id, leave_id = f"intranet:{library.id}/{vpn.id}", f"intranet:{library.id}/{leave.id}"

        first = sync.run(source, connector)
        assert (first.files, first.indexed, first.failed) == (2, 2, [])
        staff, hr_member = Principal("ann", ("staff",)), Principal("hal", ("hr",))
        assert sources_in(retriever, "carry over annual leave", staff)[0] == leave_id
        assert sources_in(retriever, "VPN gateway port", staff)[0] == vpn_id

        leave.permissions = [group_grant("HR Team")]  # the organization-wide link deleted
        vpn.edit(VPN.replace(b"8443", b"9443"))
        again = sync.run(source, connector)
        assert (again.indexed, again.access_updated, again.unchanged) == (1, 1, 1)  # permissions: not re-embedded
        assert leave_id not in sources_in(retriever, "carry over annual leave", staff)
        assert sources_in(retriever, "carry over annual leave", hr_member)[0] == leave_id
        assert "9443" in retriever.search(SearchRequest("VPN gateway port", staff, k=1)).passages[0].text
        connector.close()
