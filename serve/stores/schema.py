"""The relational state's tables (SQLAlchemy Core): API keys, answers and their votes, the audit trail, and
ingestion jobs when no Redis holds them.

One `MetaData` for the whole store; the Alembic migrations in `serve/stores/migrations/` create and change these
tables, and a test checks that the migrated database matches them, so the two cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# A 64-bit id that SQLite can still autoincrement (its rowid is only an INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("digest", String(64), nullable=False, unique=True),  # SHA-256 of the secret; the secret is never stored
    # the secret before the last rotation, valid until `previous_valid_until` (the rotation's grace period)
    Column("previous_digest", String(64), nullable=True, unique=True),
    Column("previous_valid_until", DateTime(timezone=True), nullable=True),
    Column("user_id", String(200), nullable=False),
    Column("groups", Text, nullable=False, default=""),  # comma-separated, canonical form
    Column("role", String(16), nullable=False),  # "admin" | "read" | "ingest"
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

answers = Table(
    "answers",
    metadata,
    Column("answer_id", String(200), primary_key=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("mode", String(32), nullable=False),
    Column("sources", Text, nullable=False),  # JSON list of the citations
    Column("user", String(200), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("created_at", Float, nullable=False),  # Unix seconds
)

votes = Table(
    "votes",
    metadata,
    Column("answer_id", String(200), ForeignKey("answers.answer_id", ondelete="CASCADE"), primary_key=True),
    Column("user", String(200), primary_key=True),
    Column("vote", String(8), nullable=False),
    Column("voted_at", Float, nullable=False),
    Column("comment", Text, nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", BigId, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(32), nullable=False),  # search | answer | upload | delete | key | reindex | ...
    Column("user_id", String(200), nullable=False, default=""),  # the principal, or the Slack user
    Column("key_id", String(64), nullable=False, default=""),
    Column("groups", Text, nullable=False, default=""),
    Column("client", String(200), nullable=False, default=""),  # the client address
    Column("channel", String(200), nullable=False, default=""),  # api | chat | web | slack:<channel> | cli
    Column("request_id", String(64), nullable=False, default=""),
    Column("query", Text, nullable=True),  # the question or search query (or what was uploaded, deleted, changed)
    Column("filters", Text, nullable=True),  # JSON
    Column("status", Integer, nullable=False, default=200),
    Column("error_code", String(64), nullable=True),
    Column("mode", String(32), nullable=True),  # answer mode (generated, extractive, not_found, ...)
    Column("tier", String(64), nullable=True),  # the route tier that answered
    Column("detail", Text, nullable=True),  # JSON: anything else the action records
    Column("answer", Text, nullable=True),  # the answer's text, only with DOCENT_AUDIT__ANSWER_TEXT
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_user_at", "user_id", "at"),
)

# The documents an event showed (citations, search results) or touched (upload, delete): "which users were shown
# document X" is one join on `doc_id`.
audit_documents = Table(
    "audit_documents",
    metadata,
    Column("event_id", BigId, ForeignKey("audit_events.event_id", ondelete="CASCADE"), primary_key=True),
    Column("doc_id", String(200), primary_key=True),
    Column("title", Text, nullable=False, default=""),
    Index("ix_audit_documents_doc", "doc_id"),
)

# Which legacy SQLite files (keys.sqlite, feedback.sqlite of the layout before this database) were imported.
imports = Table(
    "legacy_imports",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("rows", Integer, nullable=False),
)

# Ingestion jobs and their tasks when no Redis is configured (`serve.stores.jobs`): a job outlives the process
# that accepted it, so a restart resumes its queued tasks and lists its history. The records are the same JSON as
# in Redis; `state` and the lease are columns because the reaper and the workers query and claim them.
jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("created_at", Float, nullable=False),  # Unix seconds
    Column("updated_at", Float, nullable=False),  # the last change to the job or a task: its TTL runs from here
    Column("record", Text, nullable=False),  # `Job.to_json()`
    Index("ix_jobs_created_at", "created_at"),
)

job_tasks = Table(
    "job_tasks",
    metadata,
    Column("job_id", String(32), ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("record", Text, nullable=False),  # `TaskRecord.to_json()`
    Column("lease_worker", String(200), nullable=True),  # the worker running it, until `lease_until`
    Column("lease_until", Float, nullable=True),  # Unix seconds
    Index("ix_job_tasks_state", "state"),
)

# The web page's sign-in sessions (single sign-on): the browser's cookie holds only a random token, signed; the row
# found by the token's SHA-256 says who signed in, until when, and whether they signed out, so signing out ends the
# session on every replica, a copy of the cookie included.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),  # SHA-256 of the cookie's token; the token is never stored
    Column("user_id", String(200), nullable=False),
    Column("groups", Text, nullable=False),  # JSON list
    Column("role", String(16), nullable=False),
    Column("subject", String(200), nullable=False),  # the provider's `sub`
    Column("session", String(200), nullable=False),  # the provider's `sid`, or Docent's own id for the audit trail
    Column("csrf", String(64), nullable=False),
    Column("refresh_token", Text, nullable=True),  # the provider's, to ask it again who the reader is
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("refresh_at", DateTime(timezone=True), nullable=True),  # when to ask the provider again
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Index("ix_web_sessions_expires_at", "expires_at"),
)
