"""The audit recorder: `record` never blocks or fails an answer; a background thread writes the events.

Events wait in a bounded buffer (the oldest are dropped past it, counted in `docent_audit_dropped_total`) and are
written in batches every `interval_s`. While the database is down the batch stays in the buffer and the write is
retried with a growing pause (counted in `docent_audit_write_failures_total`, logged once per outage), so nothing
is lost once it comes back unless the buffer overflowed. The same thread purges events past the retention.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge

from retrieval.errors import DatabaseUnavailableError
from serve.stores.audit import AuditEvent, AuditStore
from serve.stores.keys import ApiKey

log = logging.getLogger("docent.audit")

PURGE_EVERY_S = 3600.0


class AuditLog:
    """Records events for `store` from any thread; `start()` starts the writer, `close()` writes what is left
    (waiting at most `close_wait_s`)."""

    def __init__(
        self,
        store: AuditStore,
        *,
        registry: CollectorRegistry | None = None,
        buffer: int = 10_000,
        answer_text: bool = False,
        retention_days: float = 0.0,
        interval_s: float = 0.5,
        max_backoff_s: float = 10.0,
        batch: int = 500,
        close_wait_s: float = 5.0,
    ) -> None:
        self.store = store
        self.capacity = buffer
        self.answer_text = answer_text
        self.retention_days = retention_days
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.batch = batch
        self.close_wait_s = close_wait_s
        self._pending: deque[AuditEvent] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._writing = 0  # events taken from the buffer and not yet written
        self._thread: threading.Thread | None = None
        self._down = False
        self._next_purge = 0.0
        registry = registry or CollectorRegistry()
        self.dropped = Counter(
            "docent_audit_dropped", "Audit events dropped because the buffer was full", registry=registry
        )
        self.failures = Counter(
            "docent_audit_write_failures",
            "Audit writes that failed (retried while the buffer lasts)",
            registry=registry,
        )
        self.written = Counter("docent_audit_events_written", "Audit events stored", registry=registry)
        Gauge("docent_audit_pending", "Audit events waiting to be written", registry=registry).set_function(
            lambda: len(self._pending) + self._writing
        )

    def record(self, event: AuditEvent) -> None:
        """Queue `event` (its answer text removed unless recorded); never blocks on the database, never raises."""
        if not self.answer_text and event.answer is not None:
            event = replace(event, answer=None)
        with self._lock:
            if len(self._pending) >= self.capacity:
                self._pending.popleft()
                self.dropped.inc()
            self._pending.append(event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="docent-audit", daemon=True)
        self._thread.start()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every event recorded so far is written (True) or `timeout_s` passes (False)."""
        self._wake.set()
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending or self._writing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
                self._wake.set()
        return True

    def close(self) -> None:
        """Stop the writer after a last write of what is buffered, waiting at most `close_wait_s`."""
        if self._thread is None:
            return
        self.flush(self.close_wait_s)
        self._stop.set()
        self._wake.set()
        self._thread.join(self.close_wait_s)
        self._thread = None
        if self._pending:
            log.error("audit: %d events could not be written before shutdown", len(self._pending))

    def _run(self) -> None:
        pause = self.interval_s
        while not self._stop.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            pause = self.interval_s if self._write_all() else min(max(pause * 2, 0.25), self.max_backoff_s)
            self._purge()

    def _write_all(self) -> bool:
        """Write the buffer in batches; False when the database failed (the batch is back in the buffer)."""
        while True:
            with self._lock:
                batch = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
                self._writing = len(batch)
            if not batch:
                return True
            try:
                self.store.write(batch)
            except Exception as exc:  # any failure: keep the events, retry, never reach a request
                self._put_back(batch)
                self.failures.inc()
                if not self._down:
                    self._down = True
                    level = logging.WARNING if isinstance(exc, DatabaseUnavailableError) else logging.ERROR
                    log.log(level, "audit: writing events failed, retrying while the buffer lasts: %s", exc)
                return False
            with self._lock:
                self._writing = 0
                self._idle.notify_all()
            self.written.inc(len(batch))
            if self._down:
                self._down = False
                log.warning("audit: the database is back; buffered events are being written")

    def _put_back(self, batch: list[AuditEvent]) -> None:
        """The failed batch goes back before what was recorded meanwhile; past the capacity the oldest go."""
        with self._lock:
            self._pending.extendleft(reversed(batch))
            while len(self._pending) > self.capacity:
                self._pending.popleft()
                self.dropped.inc()
            self._writing = 0
            self._idle.notify_all()

    def _purge(self) -> None:
        if self.retention_days <= 0 or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY_S
        try:
            purged = self.store.purge(datetime.now(UTC) - timedelta(days=self.retention_days))
        except Exception as exc:  # tried again at the next hour
            log.warning("audit: purging events past retention failed: %s", exc)
            self._next_purge = time.monotonic() + 60
            return
        if purged:
            log.info("audit: purged %d events older than %s days", purged, self.retention_days)


def key_change(change: str, record: ApiKey, **more: object) -> dict[str, object]:
    """What a key event records of the key (never its secret): the API's and `docent keys`' changes alike."""
    return {
        "change": change,  # create | revoke | rotate
        "key_id": record.key_id,
        "key_user": record.principal.user_id,
        "groups": list(record.principal.groups),
        "role": record.role,
        **more,
    }
