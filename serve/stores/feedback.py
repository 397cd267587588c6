"""Feedback on answers (the Slack bot's 👍/👎, the web page's votes): each answer, and the votes on it, in SQLite.

Every answer is recorded with its question, text, sources and who asked where (the Slack bot when it posts one,
the API when one of its answers gets a vote), so a vote carries its full context; `GET /v1/feedback` and
`docent eval --feedback` read it back: a golden set in the making.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY, question TEXT NOT NULL, answer TEXT NOT NULL, mode TEXT NOT NULL,
    sources TEXT NOT NULL, user TEXT NOT NULL, channel TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
    answer_id TEXT NOT NULL REFERENCES answers(answer_id), user TEXT NOT NULL, vote TEXT NOT NULL,
    voted_at REAL NOT NULL, comment TEXT, PRIMARY KEY (answer_id, user));
"""


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)
        self._migrate()
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        """Bring a file written by an older version up to the schema: votes gained `comment`."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(votes)")}
        if "comment" not in columns:
            self._db.execute("ALTER TABLE votes ADD COLUMN comment TEXT")

    def record_answer(
        self, answer_id: str, *, question: str, answer: str, mode: str, sources: list[dict], user: str, channel: str
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer_id,
                    question,
                    answer,
                    mode,
                    json.dumps(sources, ensure_ascii=False),
                    user,
                    channel,
                    time.time(),
                ),
            )

    def asker(self, answer_id: str) -> tuple[str, str] | None:
        """Who was given answer `answer_id` and where: (user, channel); None when it is not recorded."""
        with self._lock:
            row = self._db.execute("SELECT user, channel FROM answers WHERE answer_id = ?", (answer_id,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def vote(self, answer_id: str, *, user: str, vote: str, comment: str | None = None) -> bool:
        """Record (or change) `user`'s vote, "up" or "down", with an optional comment; False when the answer is
        unknown."""
        if vote not in ("up", "down"):
            raise ValueError(f"unknown vote {vote!r}")
        with self._lock:
            if not self._db.execute("SELECT 1 FROM answers WHERE answer_id = ?", (answer_id,)).fetchone():
                return False
            self._db.execute(
                "INSERT OR REPLACE INTO votes (answer_id, user, vote, voted_at, comment) VALUES (?, ?, ?, ?, ?)",
                (answer_id, user, vote, time.time(), comment or None),
            )
            return True

    def votes(self, limit: int = 100) -> list[dict[str, object]]:
        """The latest votes, newest first, each with its answer's context."""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.answer_id, a.question, a.answer, a.mode, a.sources, a.user, a.channel, v.user, v.vote,"
                " v.voted_at, v.comment FROM votes v JOIN answers a USING (answer_id) ORDER BY v.voted_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
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
        self._db.close()
