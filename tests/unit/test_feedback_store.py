import sqlite3

from serve.stores.feedback import FeedbackStore
from tests.support.stores import database


def test_an_older_feedback_file_is_imported_comments_and_all(tmp_path):
    """A feedback.sqlite from before the relational store (and before votes had comments) loses no vote."""
    path = tmp_path / "feedback.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE answers (answer_id TEXT PRIMARY KEY, question TEXT NOT NULL, answer TEXT NOT NULL,
        mode TEXT NOT NULL, sources TEXT NOT NULL, user TEXT NOT NULL, channel TEXT NOT NULL, created_at REAL NOT NULL);
        CREATE TABLE votes (answer_id TEXT NOT NULL REFERENCES answers(answer_id), user TEXT NOT NULL,
        vote TEXT NOT NULL, voted_at REAL NOT NULL, PRIMARY KEY (answer_id, user));
        INSERT INTO answers VALUES ('a1', 'q', 'a', 'generated', '[]', 'U1', 'C1', 0);
        INSERT INTO votes VALUES ('a1', 'U2', 'up', 0);"""
    )
    old.close()
    store = FeedbackStore(db := database(tmp_path))  # upgrade() without the data folder: nothing imported
    assert store.votes() == []
    assert db.upgrade(tmp_path) == {"feedback.sqlite": 2}
    assert not path.exists() and (tmp_path / "feedback.sqlite.imported").exists()  # kept, renamed
    assert db.upgrade(tmp_path) == {}  # once
    try:
        assert store.votes()[0]["comment"] is None
        assert store.vote("a1", user="U3", vote="down", comment="wrong year")
        assert {v["user"]: v["comment"] for v in store.votes()} == {"U2": None, "U3": "wrong year"}
    finally:
        store.close()
