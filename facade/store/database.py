"""Opening the embedded SQLite files the stores share (one concept: a durable local database)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Literal


def open_database(
    path: Path, schema: str, *, synchronous: Literal["NORMAL", "FULL"]
) -> sqlite3.Connection:
    """A WAL-mode connection with the schema applied, readable by this user only.

    ``timeout``: wait for a lock another worker process holds instead of failing with
    "database is locked". SQLite does not always call its busy handler for the switch to
    WAL while another process is creating the same file (seen with four ``clients add``
    processes starting at once), so that switch is retried here within the same bound.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
    _use_wal(db, deadline=time.monotonic() + 30.0)
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    path.chmod(0o600)
    return db


def _use_wal(db: sqlite3.Connection, *, deadline: float) -> None:
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
