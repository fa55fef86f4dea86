"""Chat history in SQLite, owned per customer (protocol.md §7 and tenant isolation in §2)."""
from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    id TEXT PRIMARY KEY,
    customer_id INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id TEXT NOT NULL REFERENCES chats(id),
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL
);
"""


class ChatStore:
    def __init__(self, path: str | Path):
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def owner(self, chat_id: str) -> int | None:
        row = self._db.execute("SELECT customer_id FROM chats WHERE id = ?", (chat_id,)).fetchone()
        return row[0] if row else None

    def append_exchange(self, customer_id: int, chat_id: str | None, user_text: str, ai_text: str) -> dict:
        """Store one user message and one reply; create the chat when chat_id is None."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                if chat_id is None:
                    chat_id = str(uuid.uuid4())
                    self._db.execute("INSERT INTO chats (id, customer_id) VALUES (?, ?)", (chat_id, customer_id))
                user_id = self._db.execute("INSERT INTO messages (chat_id, role, content) VALUES (?, 'user', ?)",
                                           (chat_id, user_text)).lastrowid
                ai_id = self._db.execute("INSERT INTO messages (chat_id, role, content) VALUES (?, 'assistant', ?)",
                                         (chat_id, ai_text)).lastrowid
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise
        return {"user_message_id": user_id, "ai_message_id": ai_id, "session_id": chat_id}

    def answer(self, message_id: int) -> tuple[int, str, str] | None:
        """(owner, chat id, text) of a stored assistant message, for a speech-only request (§5)."""
        row = self._db.execute("SELECT chats.customer_id, messages.chat_id, messages.content FROM messages "
                               "JOIN chats ON chats.id = messages.chat_id WHERE messages.id = ? AND role = 'assistant'",
                               (message_id,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def close(self) -> None:
        self._db.close()
