"""A soak of a real `docent serve`: 1,000 mixed requests from four clients (DOCENT_SOAK_REQUESTS to change it),
with streams abandoned at random, uploads, and requests that must fail. No error but the expected ones, no
document of one group shown to another, memory and threads flat, and the model free at the end."""

from __future__ import annotations

import json
import os

import pytest

from tests.reliability.soak import soak

REQUESTS = int(os.environ.get("DOCENT_SOAK_REQUESTS", "1000"))


@pytest.mark.slow
def test_a_thousand_mixed_requests_leave_the_server_as_they_found_it(tmp_path):
    report = soak(REQUESTS, tmp_path)
    print("\nsoak report:", json.dumps(report, indent=1))
    assert report["requests"] == REQUESTS
    assert report["unexpected_errors"] == [], (report["unexpected_errors"][:20], report.get("server_errors"))
    assert report["leaks"] == []
    before, after = report["server"]["before"], report["server"]["after"]
    # At rest, before and after: worker threads come and go (4 clients), a leak would grow with the requests
    # (one thread per abandoned stream would be 30 more).
    assert after["threads"] <= before["threads"] + 8, (before, after)
    assert after["rss_mib"] <= before["rss_mib"] * 1.15 + 60, (before, after)
    assert after["open_files"] <= before["open_files"] + 10, (before, after)
    assert report["after"] == {
        "ask_status": 200,
        "mode": report["after"]["mode"],
        "fallback_reason": None,
        "ready": 200,
    }
    assert report["by_kind"]["ask_stream_abandoned"] > 0 and report["expected_errors"]
