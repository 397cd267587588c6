"""The first relational schema: keys with their lifecycle, answers and votes, the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("previous_digest", sa.String(64), nullable=True, unique=True),
        sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "answers",
        sa.Column("answer_id", sa.String(200), primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("sources", sa.Text, nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "votes",
        sa.Column(
            "answer_id", sa.String(200), sa.ForeignKey("answers.answer_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("user", sa.String(200), primary_key=True),
        sa.Column("vote", sa.String(8), nullable=False),
        sa.Column("voted_at", sa.Float, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
    )
    op.create_table(
        "audit_events",
        sa.Column("event_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("query", sa.Text, nullable=True),
        sa.Column("filters", sa.Text, nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("mode", sa.String(32), nullable=True),
        sa.Column("tier", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("answer", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_user_at", "audit_events", ["user_id", "at"])
    op.create_table(
        "audit_documents",
        sa.Column("event_id", BigId, sa.ForeignKey("audit_events.event_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("doc_id", sa.String(200), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_documents_doc", "audit_documents", ["doc_id"])
    op.create_table(
        "legacy_imports",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("legacy_imports", "audit_documents", "audit_events", "votes", "answers"):
        op.drop_table(table)
    op.drop_table("api_keys")
