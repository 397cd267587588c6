"""What the audit trail costs an answer: `AuditLog.record()` (on the request's thread) and the background write
per event, in batches as the recorder writes them and one at a time (a quiet server), on SQLite and PostgreSQL.

    python -m bench.audit [--events 5000] [--out bench/reports/audit.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.common import REPORTS, new_report, percentiles, stderr_console, write_report
from serve.audit import AuditLog
from serve.stores.audit import AuditEvent, AuditStore
from serve.stores.database import Database, sqlite_url


def answer_event(i: int) -> AuditEvent:
    """An answer's event as the API records it: five cited documents, filters, the route."""
    return AuditEvent(
        "answer",
        user_id=f"user{i % 50}",
        key_id=f"key{i % 50:04d}",
        groups="engineering,hr",
        client="10.0.0.7",
        channel="web",
        request_id=f"{i:032x}",
        query="How many days of annual leave do employees get after five years?",
        filters='{"tags": ["policy"]}',
        mode="generated",
        tier="small",
        documents=[(f"doc-{(i + n) % 997}", f"Handbook chapter {n}") for n in range(5)],
    )


def measure(database: Database, events: int) -> dict[str, object]:
    store = AuditStore(database)
    audit = AuditLog(store, registry=CollectorRegistry(), buffer=events * 2)
    record_us = []
    for i in range(events):  # not started: record() alone, as on a request's thread
        began = time.perf_counter()
        audit.record(answer_event(i))
        record_us.append((time.perf_counter() - began) * 1e6)
    batch_us = []
    pending = list(audit._pending)
    for start in range(0, len(pending), audit.batch):
        batch = pending[start : start + audit.batch]
        began = time.perf_counter()
        store.write(batch)
        batch_us.append((time.perf_counter() - began) * 1e6 / len(batch))
    single_us = []
    for i in range(min(events, 500)):
        began = time.perf_counter()
        store.write([answer_event(i)])
        single_us.append((time.perf_counter() - began) * 1e6)
    return {
        "record_us": percentiles(record_us, (50, 99), digits=2),
        "write_per_event_in_batches_of_500_us": percentiles(batch_us, (50, 99), digits=1),
        "write_one_event_us": percentiles(single_us, (50, 99), digits=1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=REPORTS / "audit.json")
    args = parser.parse_args()
    started = time.perf_counter()
    console = stderr_console()
    report = new_report("audit", events=args.events, documents_per_event=5)
    with tempfile.TemporaryDirectory() as folder:
        database = Database(sqlite_url(Path(folder) / "docent.sqlite"))
        database.upgrade()
        report["sqlite"] = measure(database, args.events)
        database.close()
        try:
            from tests.support.postgres_server import PostgresServer

            with PostgresServer(Path(folder) / "pg") as pg:
                database = Database(pg.url)
                database.upgrade()
                report["postgresql"] = measure(database, args.events)
                database.close()
        except Exception as exc:  # no PostgreSQL binaries here: SQLite's numbers alone
            report["postgresql"] = {"skipped": str(exc)}
    for backend in ("sqlite", "postgresql"):
        console.print(backend, report[backend])
    write_report(report, args.out, started)


if __name__ == "__main__":
    main()
