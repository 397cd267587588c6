"""Feedback on answers (the Slack bot's 👍/👎, the web page's votes): each answer, and the votes on it, in the
relational store (`Database`: SQLite in the data folder, or PostgreSQL shared by the replicas).

Every answer is recorded with its question, text, sources and who asked where (the Slack bot when it posts one,
the API when one of its answers gets a vote), so a vote carries its full context; `GET /v1/feedback` and
`docent eval --feedback` read it back: a golden set in the making.
"""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from serve.stores.database import Database
from serve.stores.schema import answers, votes


def _upsert(db: sa.Connection, table: sa.Table, values: dict[str, object], keys: tuple[str, ...]) -> None:
    """Insert, or replace the row with the same primary key: portable across SQLite and PostgreSQL."""
    where = [table.c[k] == values[k] for k in keys]
    if db.execute(table.update().where(*where).values(values)).rowcount == 0:
        db.execute(table.insert().values(values))


class FeedbackStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def record_answer(
        self, answer_id: str, *, question: str, answer: str, mode: str, sources: list[dict], user: str, channel: str
    ) -> None:
        row = {
            "answer_id": answer_id,
            "question": question,
            "answer": answer,
            "mode": mode,
            "sources": json.dumps(sources, ensure_ascii=False),
            "user": user,
            "channel": channel,
            "created_at": time.time(),
        }
        with self.database.begin() as db:
            _upsert(db, answers, row, ("answer_id",))

    def asker(self, answer_id: str) -> tuple[str, str] | None:
        """Who was given answer `answer_id` and where: (user, channel); None when it is not recorded."""
        with self.database.connect() as db:
            row = db.execute(
                sa.select(answers.c.user, answers.c.channel).where(answers.c.answer_id == answer_id)
            ).first()
        return (str(row[0]), str(row[1])) if row else None

    def vote(self, answer_id: str, *, user: str, vote: str, comment: str | None = None) -> bool:
        """Record (or change) `user`'s vote, "up" or "down", with an optional comment; False when the answer is
        unknown."""
        if vote not in ("up", "down"):
            raise ValueError(f"unknown vote {vote!r}")
        with self.database.begin() as db:
            if not db.execute(sa.select(answers.c.answer_id).where(answers.c.answer_id == answer_id)).first():
                return False
            row = {
                "answer_id": answer_id,
                "user": user,
                "vote": vote,
                "voted_at": time.time(),
                "comment": comment or None,
            }
            _upsert(db, votes, row, ("answer_id", "user"))
            return True

    def votes(self, limit: int = 100) -> list[dict[str, object]]:
        """The latest votes, newest first, each with its answer's context."""
        a, v = answers.c, votes.c
        query = (
            sa.select(
                a.answer_id,
                a.question,
                a.answer,
                a.mode,
                a.sources,
                a.user,
                a.channel,
                v.user,
                v.vote,
                v.voted_at,
                v.comment,
            )
            .select_from(votes.join(answers, v.answer_id == a.answer_id))
            .order_by(v.voted_at.desc())
            .limit(limit)
        )
        with self.database.connect() as db:
            rows = db.execute(query).all()
        return [
            {
                "answer_id": r[0],
                "question": r[1],
                "answer": r[2],
                "mode": r[3],
                "sources": json.loads(r[4]),
                "asked_by": r[5],
                "channel": r[6],
                "user": r[7],
                "vote": r[8],
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r[9])),
                "comment": r[10],
            }
            for r in rows
        ]

    def close(self) -> None:
        """Nothing of its own to close: the database belongs to the process (serve/composition.py)."""
