"""The audit trail's store and recorder on a real database: SQLite and PostgreSQL (the `database` fixture), and a
PostgreSQL that goes down and comes back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from retrieval.errors import DatabaseUnavailableError
from serve.audit import AuditLog
from serve.stores.audit import AuditEvent, AuditStore
from serve.stores.database import Database
from tests.support.postgres_server import PostgresServer

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def event(user: str, *docs: str, action: str = "answer", at: datetime = NOW, **more) -> AuditEvent:
    return AuditEvent(action, user_id=user, key_id=f"k-{user}", documents=[(d, d.upper()) for d in docs], at=at, **more)


def test_a_batch_is_written_and_read_back_with_its_documents(database):
    store = AuditStore(database)
    ids = store.write(
        [
            event("hana", "hr-leave", "public-faq", query="how much leave?", mode="generated", tier="small"),
            event("ivan", "it-vpn", action="search", query="vpn port", filters='{"tags": ["it"]}', channel="web"),
        ]
    )
    assert len(ids) == 2 and ids[0] < ids[1]
    newest, oldest = store.query()
    assert (newest.user_id, newest.action, newest.channel, newest.filters) == (
        "ivan",
        "search",
        "web",
        '{"tags": ["it"]}',
    )
    assert oldest.documents == [("hr-leave", "HR-LEAVE"), ("public-faq", "PUBLIC-FAQ")]
    assert (oldest.query, oldest.mode, oldest.tier, oldest.at) == ("how much leave?", "generated", "small", NOW)
    assert oldest.event_id == ids[0]


def test_a_document_cited_twice_is_one_row(database):
    store = AuditStore(database)
    store.write([AuditEvent("answer", user_id="hana", documents=[("d1", "One"), ("d1", "One")])])
    assert store.query()[0].documents == [("d1", "One")]


def test_query_filters_by_user_time_document_and_action_and_pages(database):
    store = AuditStore(database)
    store.write(
        [
            event("hana", "d1", at=NOW - timedelta(days=2)),
            event("hana", "d2", at=NOW - timedelta(days=1), action="search"),
            event("ivan", "d1", at=NOW),
            event("root", action="key", at=NOW),
        ]
    )
    assert [e.user_id for e in store.query(user="hana")] == ["hana", "hana"]
    assert [e.user_id for e in store.query(document="d1")] == ["ivan", "hana"]
    assert [e.action for e in store.query(action="search")] == ["search"]
    window = store.query(since=NOW - timedelta(days=1, hours=1), until=NOW)
    assert [e.documents for e in window] == [[("d2", "D2")]]
    # a time in another zone is the same instant
    assert len(store.query(since=(NOW - timedelta(hours=1)).astimezone(timezone_plus_two()))) == 2
    first = store.query(limit=3)
    rest = store.query(limit=3, before_id=first[-1].event_id)
    assert len(first) == 3 and len(rest) == 1 and rest[0].user_id == "hana"


def timezone_plus_two():
    from datetime import timezone

    return timezone(timedelta(hours=2))


def test_who_saw_a_document_is_one_join_over_shown_events_only(database):
    store = AuditStore(database)
    store.write(
        [
            event("hana", "secret", at=NOW - timedelta(hours=2)),
            event("ivan", "other", at=NOW - timedelta(hours=1)),
            event("ivan", "secret", action="search", at=NOW, channel="slack:C1"),
            event("root", "secret", action="upload", at=NOW),  # touched, not shown
        ]
    )
    seen = store.shown_document("secret")
    assert [(s.user_id, s.action, s.channel) for s in seen] == [("ivan", "search", "slack:C1"), ("hana", "answer", "")]
    assert seen[0].key_id == "k-ivan" and seen[1].at == NOW - timedelta(hours=2) and seen[1].title == "SECRET"


def test_purge_removes_old_events_and_their_documents(database):
    store = AuditStore(database)
    store.write([event("old", "d1", at=NOW - timedelta(days=400)), event("new", "d1", at=NOW)])
    assert store.purge(NOW - timedelta(days=365)) == 1
    assert [e.user_id for e in store.query()] == ["new"]
    assert [s.user_id for s in store.shown_document("d1")] == ["new"]


def test_export_reads_every_event_oldest_first_in_batches(database):
    store = AuditStore(database)
    store.write([event(f"u{i}", at=NOW + timedelta(seconds=i)) for i in range(7)])
    assert [e.user_id for e in store.export(batch=3)] == [f"u{i}" for i in range(7)]
    assert [e.user_id for e in store.export(since=NOW + timedelta(seconds=5))] == ["u5", "u6"]


def test_the_recorder_writes_in_the_background_and_drops_answer_text_unless_asked(database):
    for keep in (False, True):
        audit = AuditLog(AuditStore(database), answer_text=keep, interval_s=0.05)
        audit.start()
        audit.record(event("hana", "d1", answer="the answer", query=f"keep={keep}"))
        assert audit.flush(10)
        audit.close()
        assert audit.store.query()[0].answer == ("the answer" if keep else None)


def _value(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name) or 0.0


def test_record_is_non_blocking_and_nothing_is_lost_across_a_postgres_outage(tmp_path):
    with PostgresServer(tmp_path / "pg") as pg:
        database = Database(pg.url, timeout_s=1)
        database.upgrade()
        registry = CollectorRegistry()
        audit = AuditLog(AuditStore(database), registry=registry, interval_s=0.05, max_backoff_s=0.5)
        audit.start()
        try:
            pg.stop()
            took = []
            for i in range(200):
                began = time.perf_counter()
                audit.record(event(f"u{i}", "d1"))
                took.append(time.perf_counter() - began)
            assert max(took) < 0.001, f"record() took {max(took) * 1000:.2f} ms with the database down"
            deadline = time.monotonic() + 10
            while _value(registry, "docent_audit_write_failures_total") == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _value(registry, "docent_audit_write_failures_total") >= 1
            assert _value(registry, "docent_audit_pending") == 200
            with pytest.raises(DatabaseUnavailableError):
                audit.store.query()
            pg.start()
            assert audit.flush(30), "the buffered events were not written once the database came back"
            assert len(audit.store.query(limit=1000)) == 200
            assert _value(registry, "docent_audit_dropped_total") == 0
            assert _value(registry, "docent_audit_pending") == 0
        finally:
            audit.close()
            database.close()


def test_a_full_buffer_drops_the_oldest_events_and_counts_them(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'docent.sqlite'}")
    database.upgrade()
    registry = CollectorRegistry()
    audit = AuditLog(AuditStore(database), registry=registry, buffer=5)  # not started: nothing is written yet
    for i in range(8):
        audit.record(event(f"u{i}"))
    assert _value(registry, "docent_audit_dropped_total") == 3
    audit.start()
    assert audit.flush(10)
    audit.close()
    assert sorted(e.user_id for e in audit.store.query()) == ["u3", "u4", "u5", "u6", "u7"]
