"""Opening the embedded SQLite files the stores share (one concept: a durable local database)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal


def open_database(
    path: Path, schema: str, *, synchronous: Literal["NORMAL", "FULL"]
) -> sqlite3.Connection:
    """A WAL-mode connection with the schema applied, readable by this user only.

    ``timeout``: wait for a lock another worker process holds (on first start, the
    switch to WAL) instead of failing with "database is locked".
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    path.chmod(0o600)
    return db
