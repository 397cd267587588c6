"""A soak of `docent serve`: mixed requests from concurrent clients, then its memory, threads and errors.

    python -m bench.soak [--requests 1000] [--clients 4] [--json bench/reports/soak.json]

The mix and the checks are tests/reliability/soak.py's (the test suite runs the same soak and asserts on it):
searches, extractive and generated answers, streams abandoned at random, chat completions, uploads (some
broken), and requests that must fail (malformed, unknown keys, unknown documents, too long). The report gives
the requests by kind and status, the expected and unexpected errors, latency per kind, and the server
process's RSS, threads and open files after a warm-up and at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPORTS, machine_info, write_report
from tests.reliability.soak import soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", type=Path, default=REPORTS / "soak.json")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="docent-soak-") as work:
        report = soak(args.requests, Path(work), clients=args.clients)
    report["machine"] = machine_info()
    write_report(report, args.json, started)
    before, after = report["server"]["before"], report["server"]["after"]
    print(
        f"{report['requests']} requests in {report['seconds']} s; "
        f"unexpected errors: {len(report['unexpected_errors'])}; "
        f"expected: {sum(report['expected_errors'].values())}; RSS {before['rss_mib']} -> {after['rss_mib']} MiB; "
        f"threads {before['threads']} -> {after['threads']}"
    )
    print(json.dumps(report["latency_ms"], indent=1))
    return 0 if not report["unexpected_errors"] and not report["leaks"] else 1


if __name__ == "__main__":
    sys.exit(main())
