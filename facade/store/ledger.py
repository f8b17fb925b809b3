"""The idempotency ledger: one record per client write key (DESIGN.md "State", "Writes").

A keyed write *claims* its key here before athena is called and keeps the claim
while it works; every worker process (and later every host) shares the one
durable store, so a claim is the cross-process lock of a key:

- :meth:`IdempotencyLedger.claim` is one atomic step: a new key becomes a
  ``pending`` record held by the caller's *owner token* until a *lease* runs out;
  a pending record nobody holds (released, or its lease expired: the owner
  crashed) is taken over with its intent and attempt count; anything else
  (``done``, or held by a live claim, or another fingerprint) is returned as
  it is, and the caller replays it, waits for it (polling, within its request
  deadline) or refuses it;
- the holder records the intent needed to read the outcome back (practice,
  athena record id, patient) and counts the attempt, renewing the lease,
  immediately before each upstream call (:meth:`~IdempotencyLedger.attempted`);
  a crash after that leaves a counted, pending record that the next claimant
  resolves by reading athena back;
- it ends the claim with :meth:`~IdempotencyLedger.finish` (``done`` with the
  answer) or :meth:`~IdempotencyLedger.release` (still ``pending``, retryable).

Every step after the claim is compare-and-set on the owner token: a stale owner
(its lease ran out and another request took the key over) can neither count an
attempt, nor finish, nor release; its calls return False and change nothing.

Only *definitive* answers are stored as done: 2xx, and the 4xx a retry cannot
change (:data:`FINAL_ERROR_STATUSES`: 400, 404, 409, 422). Throttling (429),
upstream failures (502, 503, 504, an open circuit) and answers about the caller
rather than the write (401, 403) are released, never finished: the next retry
with the key tries again (after reading back, when an attempt was made).

Schema (SQLite, ``idempotency.sqlite3`` under the data directory)::

    idempotency (key TEXT PK,            -- client_id + "\\n" + Idempotency-Key / If-None-Exist
                 fingerprint TEXT,       -- SHA-256 of the write step and canonical body
                 state TEXT,             -- pending | done
                 intent TEXT,            -- JSON: what the write does (read-back facts)
                 attempts INTEGER,       -- upstream attempts made so far
                 status INTEGER, headers TEXT, body BLOB,  -- the answer, once done
                 owner TEXT,             -- the claim's owner token; NULL: nobody holds it
                 lease_until REAL,       -- epoch seconds the claim is held until
                 created_at INTEGER, updated_at INTEGER)

The statements are plain SQL that PostgreSQL runs unchanged: the claim is
``INSERT … ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, … WHERE
idempotency.state = 'pending' AND idempotency.fingerprint = excluded.fingerprint
AND (idempotency.owner IS NULL OR idempotency.lease_until <= :now) RETURNING …``
(no row returned: the key is someone else's, read it with a SELECT), and every
later step is ``UPDATE … WHERE key = :key AND owner = :owner AND state = 'pending'``
whose row count says whether the caller still held the claim. A PostgreSQL backend
implements the same protocol with an async driver (the methods called while a
request runs are coroutines for that reason; SQLite runs them inline, each one
statement on a local file). ``now`` is passed in so tests control time; a backend
shared by several hosts may use the database's clock instead (leases are seconds
long, far above NTP skew).

The body of a done record is the FHIR resource returned to the client; the file
is created 0600 like the other stores.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from facade.store.database import Location, open_database

FINAL_ERROR_STATUSES = frozenset({400, 404, 409, 422})

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
  key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
  intent TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  status INTEGER, headers TEXT, body BLOB,
  owner TEXT, lease_until REAL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
"""
_COLUMNS = "key, fingerprint, state, intent, attempts, status, headers, body, owner, lease_until"


def is_final(status: int) -> bool:
    """A definitive answer, stored and replayed: 2xx, or a 4xx no retry can change."""
    return 200 <= status < 300 or status in FINAL_ERROR_STATUSES


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
    owner: str | None = None  # who holds the claim (pending records only)
    lease_until: float | None = None

    def held_by(self, owner: str) -> bool:
        return self.state == "pending" and self.owner == owner

    def claimable(self, now: float) -> bool:
        """Pending and held by nobody (released, or the holder's lease ran out)."""
        return self.state == "pending" and (
            self.owner is None or self.lease_until is None or self.lease_until <= now
        )


class IdempotencyLedger(Protocol):
    """The ledger's protocol; see the module docstring for the semantics."""

    async def claim(
        self, key: str, fingerprint: str, owner: str, now: float, lease_seconds: float
    ) -> LedgerRecord:
        """Claim ``key`` for ``owner`` atomically; the record as it is afterwards.

        ``record.held_by(owner)``: the caller holds it (a new record, or a pending one taken
        over: its ``intent`` and ``attempts`` tell what earlier holders did). Otherwise the
        record is someone else's (done, held under a live lease, or another fingerprint).
        """
        ...

    async def get(self, key: str) -> LedgerRecord | None: ...

    async def attempted(
        self, key: str, owner: str, intent: dict[str, Any], now: float, lease_seconds: float
    ) -> bool:
        """Before an upstream call: record the intent, count the attempt, renew the lease.

        False: ``owner`` no longer holds the claim, and must not call athena.
        """
        ...

    async def finish(
        self, key: str, owner: str, status: int, headers: dict[str, str], body: bytes, now: float
    ) -> bool:
        """Store a definitive answer (``done``); False (nothing written) for a stale owner."""
        ...

    async def release(self, key: str, owner: str, now: float) -> bool:
        """Give the claim up, leaving the record pending (retryable) with its intent and attempts."""
        ...

    def purge(self, finished_before: int) -> int:
        """Forget done records last updated before ``finished_before``; pending ones stay.

        Runs at start, before the workers (like :meth:`close`, outside any event loop).
        """
        ...

    def close(self) -> None: ...


class SqliteLedger:
    """The embedded backend: one WAL-mode file shared by the worker processes of a host."""

    def __init__(self, path: Location) -> None:
        # synchronous=FULL: a claimed key must survive a crash
        self._db = open_database(path, SCHEMA, synchronous="FULL")
        self._lock = threading.Lock()
        if isinstance(path, Path):
            self._migrate()  # SQLite files from earlier versions

    def _migrate(self) -> None:
        """Files from before claims: add owner and lease, and reopen answers no longer final.

        Those versions stored every answer under 500 as final, so a key that met a 429 (or
        a 401/403) replayed it forever; such records become pending, unclaimed, again.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # one process migrates; the others then see it
            try:
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(idempotency)")}
                if "owner" not in columns:
                    self._db.execute("ALTER TABLE idempotency ADD COLUMN owner TEXT")
                    self._db.execute("ALTER TABLE idempotency ADD COLUMN lease_until REAL")
                    finals = ",".join(str(s) for s in sorted(FINAL_ERROR_STATUSES))
                    self._db.execute(
                        "UPDATE idempotency SET state = 'pending', status = NULL, headers = NULL,"
                        " body = NULL WHERE state = 'done' AND NOT (status BETWEEN 200 AND 299"
                        f" OR status IN ({finals}))"
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @staticmethod
    def _record(row: tuple[Any, ...]) -> LedgerRecord:
        key, fp, state, intent, attempts, status, headers, body, owner, lease_until = row
        return LedgerRecord(
            key=key,
            fingerprint=fp,
            state=state,
            intent=json.loads(intent),
            attempts=int(attempts),
            status=status,
            headers=json.loads(headers) if headers else {},
            body=body,
            owner=owner,
            lease_until=lease_until,
        )

    async def claim(
        self, key: str, fingerprint: str, owner: str, now: float, lease_seconds: float
    ) -> LedgerRecord:
        with self._lock:
            row = self._db.execute(
                "INSERT INTO idempotency (key, fingerprint, state, intent, attempts, owner,"
                " lease_until, created_at, updated_at) VALUES (?, ?, 'pending', '{}', 0, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET owner = excluded.owner,"
                " lease_until = excluded.lease_until, updated_at = excluded.updated_at"
                " WHERE idempotency.state = 'pending'"
                " AND idempotency.fingerprint = excluded.fingerprint"
                " AND (idempotency.owner IS NULL OR idempotency.lease_until IS NULL"
                " OR idempotency.lease_until <= ?)"
                f" RETURNING {_COLUMNS}",
                (key, fingerprint, owner, now + lease_seconds, int(now), int(now), now),
            ).fetchone()
            if row is None:
                row = self._db.execute(
                    f"SELECT {_COLUMNS} FROM idempotency WHERE key = ?", (key,)
                ).fetchone()
        return self._record(row)

    async def get(self, key: str) -> LedgerRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM idempotency WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else self._record(row)

    def _held(self, sql: str, args: tuple[Any, ...]) -> bool:
        """An UPDATE guarded by ``WHERE key = ? AND owner = ? AND state = 'pending'``."""
        with self._lock:
            changed: int = self._db.execute(
                f"UPDATE idempotency SET {sql} WHERE key = ? AND owner = ? AND state = 'pending'",
                args,
            ).rowcount
        return changed == 1

    async def attempted(
        self, key: str, owner: str, intent: dict[str, Any], now: float, lease_seconds: float
    ) -> bool:
        return self._held(
            "intent = ?, attempts = attempts + 1, lease_until = ?, updated_at = ?",
            (json.dumps(intent), now + lease_seconds, int(now), key, owner),
        )

    async def finish(
        self, key: str, owner: str, status: int, headers: dict[str, str], body: bytes, now: float
    ) -> bool:
        if not is_final(status):
            raise ValueError(f"{status} is not a definitive answer; release the claim instead")
        return self._held(
            "state = 'done', status = ?, headers = ?, body = ?, owner = NULL,"
            " lease_until = NULL, updated_at = ?",
            (status, json.dumps(headers), body, int(now), key, owner),
        )

    async def release(self, key: str, owner: str, now: float) -> bool:
        return self._held(
            "owner = NULL, lease_until = NULL, updated_at = ?", (int(now), key, owner)
        )

    def purge(self, finished_before: int) -> int:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM idempotency WHERE state = 'done' AND updated_at < ?",
                (finished_before,),
            )
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
