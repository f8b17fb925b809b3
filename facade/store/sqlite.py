"""SQLite implementation of :class:`facade.store.base.AuthStore` (the embedded default).

One file under the data directory, WAL journal, one connection guarded by a
lock: every operation is a single indexed statement or two, far below a
millisecond, so a lock costs less than a pool. The lock orders this process's
threads; operations that read then write (single-use takes, sign-in attempts)
also run in a ``BEGIN IMMEDIATE`` transaction, which orders the server's worker processes.
Schema (all secrets hashed)::

    grants          (id PK, client_id, revoked, expires_at)
    codes           (hash PK, grant_id, client_id, redirect_uri, code_challenge,
                     payload JSON, expires_at, used)
    refresh_tokens  (hash PK, grant_id, client_id, scope, payload JSON, expires_at, used)
    revoked_tokens  (jti PK, expires_at)                 -- access tokens revoked early
    assertion_jtis  (client_id, jti, expires_at, PK(client_id, jti))  -- replay guard
    launches        (hash PK, payload JSON, expires_at)  -- EHR launch contexts
    used_sessions   (hash PK, expires_at)                -- authorize sessions that ended
    login_attempts  (attempt, key, expires_at)           -- recent failed sign-ins; key =
                                                            hash of a user or client address
    clients         (client_id PK, body JSON, created_at) -- RFC 7591 registrations
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from facade.store.base import CodeRecord, RefreshRecord
from facade.store.database import Location, open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS grants (
  id TEXT PRIMARY KEY, client_id TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS codes (
  hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, client_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL, code_challenge TEXT NOT NULL, payload TEXT NOT NULL,
  expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS refresh_tokens (
  hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, client_id TEXT NOT NULL, scope TEXT NOT NULL,
  payload TEXT NOT NULL, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS revoked_tokens (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS assertion_jtis (
  client_id TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY (client_id, jti));
CREATE TABLE IF NOT EXISTS launches (
  hash TEXT PRIMARY KEY, payload TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS used_sessions (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS login_attempts (
  attempt TEXT NOT NULL, key TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS login_attempts_key ON login_attempts (key, expires_at);
CREATE INDEX IF NOT EXISTS login_attempts_expiry ON login_attempts (expires_at);
CREATE TABLE IF NOT EXISTS clients (
  client_id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at INTEGER NOT NULL);
"""


class SqliteAuthStore:
    # True when bearer checks are answered from the store's own short-lived memory
    # (facade/store/shared.py); the authorization server then keeps no copy of its own.
    caches_answers = False

    def __init__(self, path: Location) -> None:
        self._db = open_database(path, SCHEMA, synchronous="NORMAL")
        self._lock = threading.Lock()

    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._db.execute(sql, args).fetchone()
            return row

    def _run(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Hold this process's lock and SQLite's write lock (other worker processes wait)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # grants
    def create_grant(self, grant_id: str, client_id: str, expires_at: int) -> None:
        self._run(
            "INSERT INTO grants (id, client_id, expires_at) VALUES (?, ?, ?)",
            (grant_id, client_id, expires_at),
        )

    def revoke_grant(self, grant_id: str) -> None:
        self._run("UPDATE grants SET revoked = 1 WHERE id = ?", (grant_id,))

    def grant_active(self, grant_id: str, now: int) -> bool:
        row = self._one("SELECT revoked, expires_at FROM grants WHERE id = ?", (grant_id,))
        return row is not None and not row[0] and int(row[1]) > now

    # authorization codes
    def put_code(self, code_hash: str, record: CodeRecord) -> None:
        self._run(
            "INSERT INTO codes VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (
                code_hash,
                record.grant_id,
                record.client_id,
                record.redirect_uri,
                record.code_challenge,
                json.dumps(record.payload),
                record.expires_at,
            ),
        )

    def take_code(self, code_hash: str) -> CodeRecord | None:
        row = self._take(
            "SELECT grant_id, client_id, redirect_uri, code_challenge, payload, expires_at, used "
            "FROM codes WHERE hash = ?",
            "UPDATE codes SET used = 1 WHERE hash = ?",
            code_hash,
        )
        if row is None:
            return None
        return CodeRecord(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], bool(row[6]))

    def _take(self, select: str, update: str, key: str) -> tuple[Any, ...] | None:
        """Read a row and mark it used, atomically (single-use secrets), across processes."""
        with self._transaction():
            row: tuple[Any, ...] | None = self._db.execute(select, (key,)).fetchone()
            if row is not None:
                self._db.execute(update, (key,))
            return row

    # refresh tokens
    def put_refresh(self, token_hash: str, record: RefreshRecord) -> None:
        self._run(
            "INSERT INTO refresh_tokens VALUES (?, ?, ?, ?, ?, ?, 0)",
            (
                token_hash,
                record.grant_id,
                record.client_id,
                record.scope,
                json.dumps(record.payload),
                record.expires_at,
            ),
        )

    _REFRESH = (
        "SELECT grant_id, client_id, scope, payload, expires_at, used "
        "FROM refresh_tokens WHERE hash = ?"
    )

    @staticmethod
    def _refresh_record(row: tuple[Any, ...] | None) -> RefreshRecord | None:
        if row is None:
            return None
        return RefreshRecord(row[0], row[1], row[2], json.loads(row[3]), row[4], bool(row[5]))

    def take_refresh(self, token_hash: str) -> RefreshRecord | None:
        row = self._take(
            self._REFRESH, "UPDATE refresh_tokens SET used = 1 WHERE hash = ?", token_hash
        )
        return self._refresh_record(row)

    def get_refresh(self, token_hash: str) -> RefreshRecord | None:
        return self._refresh_record(self._one(self._REFRESH, (token_hash,)))

    # access-token revocation and assertion replay
    def revoke_token(self, jti: str, expires_at: int) -> None:
        self._run("INSERT OR IGNORE INTO revoked_tokens VALUES (?, ?)", (jti, expires_at))

    def token_revoked(self, jti: str) -> bool:
        return self._one("SELECT 1 FROM revoked_tokens WHERE jti = ?", (jti,)) is not None

    def remember_assertion(self, client_id: str, jti: str, expires_at: int, now: int) -> bool:
        with self._lock:
            self._db.execute(
                "DELETE FROM assertion_jtis WHERE client_id = ? AND jti = ? AND expires_at < ?",
                (client_id, jti, now),
            )
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO assertion_jtis VALUES (?, ?, ?)",
                (client_id, jti, expires_at),
            )
            return cursor.rowcount == 1

    # EHR launch contexts
    def put_launch(self, launch_hash: str, payload: dict[str, Any], expires_at: int) -> None:
        self._run(
            "INSERT INTO launches VALUES (?, ?, ?)", (launch_hash, json.dumps(payload), expires_at)
        )

    def get_launch(self, launch_hash: str, now: int) -> dict[str, Any] | None:
        row = self._one("SELECT payload, expires_at FROM launches WHERE hash = ?", (launch_hash,))
        if row is None or int(row[1]) <= now:
            return None
        payload: dict[str, Any] = json.loads(row[0])
        return payload

    # authorize sessions (login -> picker -> consent): single use
    def use_session(self, session_hash: str, expires_at: int) -> bool:
        return (
            self._run(
                "INSERT OR IGNORE INTO used_sessions VALUES (?, ?)", (session_hash, expires_at)
            )
            == 1
        )

    def session_used(self, session_hash: str) -> bool:
        return self._one("SELECT 1 FROM used_sessions WHERE hash = ?", (session_hash,)) is not None

    # failed sign-ins (throttling)
    def claim_attempt(self, attempt: str, limits: dict[str, int], now: int, expires_at: int) -> int:
        with self._transaction():
            self._db.execute("DELETE FROM login_attempts WHERE expires_at <= ?", (now,))
            wait = 0
            for key, limit in limits.items():
                rows = self._db.execute(
                    "SELECT expires_at FROM login_attempts WHERE key = ? ORDER BY expires_at",
                    (key,),
                ).fetchall()
                if len(rows) >= limit:
                    # the count falls below the limit once this many of the oldest have expired
                    wait = max(wait, int(rows[len(rows) - limit][0]) - now)
            if wait:
                return max(wait, 1)
            self._db.executemany(
                "INSERT INTO login_attempts VALUES (?, ?, ?)",
                [(attempt, key, expires_at) for key in limits],
            )
            return 0

    def forgive_attempt(self, attempt: str, clear_key: str | None = None) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM login_attempts WHERE attempt = ?", (attempt,))
            if clear_key is not None:
                self._db.execute("DELETE FROM login_attempts WHERE key = ?", (clear_key,))

    # dynamically registered clients (RFC 7591)
    def add_client(self, client_id: str, body: dict[str, Any], created_at: int) -> bool:
        return (
            self._run(
                "INSERT OR IGNORE INTO clients VALUES (?, ?, ?)",
                (client_id, json.dumps(body), created_at),
            )
            == 1
        )

    def get_client(self, client_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT body FROM clients WHERE client_id = ?", (client_id,))
        if row is None:
            return None
        body: dict[str, Any] = json.loads(row[0])
        return body

    def list_clients(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM clients ORDER BY created_at").fetchall()
        return [json.loads(row[0]) for row in rows]

    def remove_client(self, client_id: str) -> bool:
        return self._run("DELETE FROM clients WHERE client_id = ?", (client_id,)) == 1

    def purge(self, now: int) -> None:
        with self._lock:
            for table in (
                "codes",
                "refresh_tokens",
                "revoked_tokens",
                "assertion_jtis",
                "launches",
                "used_sessions",
                "login_attempts",
            ):
                self._db.execute(f"DELETE FROM {table} WHERE expires_at < ?", (now,))
            self._db.execute("DELETE FROM grants WHERE expires_at < ?", (now,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
