"""The idempotency ledger: one record per client write key (DESIGN.md "State").

A record is written *before* the upstream call (``pending``, with the intent
needed to read the outcome back: practice, athena record id, patient) and
completed with the response the client got (``done``). So a retry with the same
key replays the first answer, a crash or timeout between the two leaves a
``pending`` record that the next attempt resolves by reading athena back, and a
key reused with another body is refused.

Schema (SQLite, ``idempotency.sqlite3`` under the data directory)::

    idempotency (key TEXT PK,            -- client_id + "\\n" + Idempotency-Key / If-None-Exist
                 fingerprint TEXT,       -- SHA-256 of method, path and canonical body
                 state TEXT,             -- pending | done
                 intent TEXT,            -- JSON: what the write does (read-back facts)
                 attempts INTEGER,       -- upstream attempts made so far
                 status INTEGER, headers TEXT, body BLOB,  -- the answer, once done
                 created_at INTEGER, updated_at INTEGER)

The body of a done record is the FHIR resource returned to the client; the file
is created 0600 like the other stores.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from facade.store.database import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
  key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
  intent TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  status INTEGER, headers TEXT, body BLOB,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class LedgerRecord:
    key: str
    fingerprint: str
    state: str  # pending | done
    intent: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


class IdempotencyLedger(Protocol):
    def close(self) -> None: ...

    def purge(self, finished_before: int) -> int:
        """Forget finished records last updated before ``finished_before``; pending ones stay."""
        ...

    def begin(
        self, key: str, fingerprint: str, intent: dict[str, Any], now: int
    ) -> LedgerRecord | None:
        """Claim ``key`` (None: claimed now, a new pending record) or return the existing record."""
        ...

    def update_intent(self, key: str, intent: dict[str, Any], now: int) -> None: ...

    def attempted(self, key: str, now: int) -> None:
        """Count an upstream attempt (made before the call, so a crash leaves it counted)."""
        ...

    def finish(
        self, key: str, status: int, headers: dict[str, str], body: bytes, now: int
    ) -> None: ...

    def release(self, key: str) -> None:
        """Forget a pending record whose write certainly did not happen."""
        ...


class SqliteLedger:
    def __init__(self, path: Path) -> None:
        # synchronous=FULL: a claimed key must survive a crash
        self._db = open_database(path, SCHEMA, synchronous="FULL")
        self._lock = threading.Lock()

    def begin(
        self, key: str, fingerprint: str, intent: dict[str, Any], now: int
    ) -> LedgerRecord | None:
        with self._lock:
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO idempotency (key, fingerprint, state, intent, created_at,"
                " updated_at) VALUES (?, ?, 'pending', ?, ?, ?)",
                (key, fingerprint, json.dumps(intent), now, now),
            ).rowcount
            if inserted:
                return None
            row = self._db.execute(
                "SELECT fingerprint, state, intent, attempts, status, headers, body"
                " FROM idempotency WHERE key = ?",
                (key,),
            ).fetchone()
        fp, state, intent_text, attempts, status, headers, body = row
        return LedgerRecord(
            key=key,
            fingerprint=fp,
            state=state,
            intent=json.loads(intent_text),
            attempts=int(attempts),
            status=status,
            headers=json.loads(headers) if headers else {},
            body=body,
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def purge(self, finished_before: int) -> int:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM idempotency WHERE state = 'done' AND updated_at < ?",
                (finished_before,),
            )
            return cursor.rowcount

    def _run(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def update_intent(self, key: str, intent: dict[str, Any], now: int) -> None:
        self._run(
            "UPDATE idempotency SET intent = ?, updated_at = ? WHERE key = ? AND state = 'pending'",
            (json.dumps(intent), now, key),
        )

    def attempted(self, key: str, now: int) -> None:
        self._run(
            "UPDATE idempotency SET attempts = attempts + 1, updated_at = ? WHERE key = ?",
            (now, key),
        )

    def finish(self, key: str, status: int, headers: dict[str, str], body: bytes, now: int) -> None:
        self._run(
            "UPDATE idempotency SET state = 'done', status = ?, headers = ?, body = ?,"
            " updated_at = ? WHERE key = ?",
            (status, json.dumps(headers), body, now, key),
        )

    def release(self, key: str) -> None:
        self._run("DELETE FROM idempotency WHERE key = ? AND state = 'pending'", (key,))
