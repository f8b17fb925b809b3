"""The event engine's durable state (DESIGN.md "State"): Subscriptions, the change queue,
the event log, per-subscription notifications, the delivery outbox and the feed pollers.

Everything here is shared by every worker process (and, with a PostgreSQL backend, every
host). Work is taken with *claims*: a row is held by an owner token until a lease runs
out, every later step is compare-and-set on the owner, exactly like
:mod:`facade.store.ledger`; a worker that dies mid-step leaves a claim that the next
worker takes over once the lease has passed.

Schema (SQLite, ``events.sqlite3`` under the data directory, 0600)::

    subscriptions (id PK, client_id, subject, grant_id, auth JSON,   -- who owns it
                   resource JSON,            -- the Subscription as accepted
                   topic, status, error,     -- requested | active | error | off
                   secret,                   -- whsec_…, signs every delivery
                   events_count,             -- events-since-subscription-start
                   heartbeat_due REAL, created_at, updated_at)
    changes       (id INTEGER PK, practice, resource_type, rid, action, source,
                   dedupe UNIQUE,            -- e.g. athena's notification id
                   resource JSON NULL,       -- an own write: the resource it produced
                   state, attempts, next_at, owner, lease_until, created_at)
    resource_state (key PK, hash, resource JSON, updated_at)  -- last state an event said
    events        (seq INTEGER PK, practice, resource_type, rid, action,
                   resource JSON NULL, topics JSON, created_at)
    notifications (subscription_id, number, event_seq, topic, PK(subscription_id, number))
    outbox        (id INTEGER PK, subscription_id, kind, webhook_id, body BLOB,
                   state,                    -- pending | delivered | dead
                   attempts, next_at, owner, lease_until, last_status, created_at, updated_at)
    pollers       (practice, feed, owner, lease_until, inflight_since REAL,
                   last_poll REAL, PK(practice, feed))

The statements are plain SQL PostgreSQL runs unchanged (``INSERT … ON CONFLICT``,
``UPDATE … RETURNING``, ``WHERE owner = :owner``); :meth:`EventStore.record_event` is one
transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``SELECT … FOR UPDATE`` on the
resource's state row) so two workers processing two changes of one resource emit one
event for one new state. ``now`` is passed in (tests control time).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facade.store.database import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY, client_id TEXT NOT NULL, subject TEXT, grant_id TEXT,
  auth TEXT NOT NULL, resource TEXT NOT NULL, topic TEXT NOT NULL, status TEXT NOT NULL,
  error TEXT, secret TEXT NOT NULL, events_count INTEGER NOT NULL DEFAULT 0,
  heartbeat_due REAL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS subscriptions_owner ON subscriptions (client_id, subject);
CREATE TABLE IF NOT EXISTS changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT, practice TEXT NOT NULL, resource_type TEXT NOT NULL,
  rid TEXT NOT NULL, action TEXT NOT NULL, source TEXT NOT NULL, dedupe TEXT UNIQUE,
  resource TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
  owner TEXT, lease_until REAL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS changes_due ON changes (state, next_at);
CREATE TABLE IF NOT EXISTS resource_state (
  key TEXT PRIMARY KEY, hash TEXT NOT NULL, resource TEXT, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, practice TEXT NOT NULL, resource_type TEXT NOT NULL,
  rid TEXT NOT NULL, action TEXT NOT NULL, resource TEXT, topics TEXT NOT NULL,
  created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS notifications (
  subscription_id TEXT NOT NULL, number INTEGER NOT NULL, event_seq INTEGER NOT NULL,
  topic TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (subscription_id, number));
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, subscription_id TEXT NOT NULL, kind TEXT NOT NULL,
  webhook_id TEXT NOT NULL, body BLOB, state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, owner TEXT, lease_until REAL,
  last_status INTEGER, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_at);
CREATE TABLE IF NOT EXISTS pollers (
  practice TEXT NOT NULL, feed TEXT NOT NULL, owner TEXT, lease_until REAL,
  inflight_since REAL, last_poll REAL, PRIMARY KEY (practice, feed));
"""

_SUB = (
    "id, client_id, subject, grant_id, auth, resource, topic, status, error, secret,"
    " events_count, heartbeat_due"
)
_OUT = "id, subscription_id, kind, webhook_id, body, state, attempts, next_at, last_status"


@dataclass(frozen=True)
class SubscriptionRow:
    id: str
    client_id: str
    subject: str | None
    grant_id: str | None
    auth: dict[str, Any]  # the creator's authorization (facade.events.ownership)
    resource: dict[str, Any]
    topic: str
    status: str
    error: str | None
    secret: str
    events_count: int
    heartbeat_due: float | None

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> SubscriptionRow:
        sid, client, subject, grant, auth, resource, topic, status, error, secret, n, hb = row
        return cls(
            sid,
            client,
            subject,
            grant,
            json.loads(auth),
            json.loads(resource),
            topic,
            status,
            error,
            secret,
            int(n),
            hb,
        )


@dataclass(frozen=True)
class Change:
    id: int
    practice: str
    resource_type: str
    rid: str
    action: str  # create | update | delete
    source: str  # own-write | feed | push
    attempts: int
    resource: dict[str, Any] | None = None  # an own write: the state it produced


@dataclass(frozen=True)
class Event:
    seq: int
    practice: str
    resource_type: str
    rid: str
    action: str
    resource: dict[str, Any] | None
    topics: tuple[str, ...]
    created_at: float


@dataclass(frozen=True)
class Notified:
    """One numbered event of one subscription (what ``$events`` replays)."""

    number: int
    topic: str
    event: Event


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription_id: str
    kind: str  # handshake | heartbeat | event-notification
    webhook_id: str
    body: bytes
    state: str
    attempts: int
    next_at: float
    last_status: int | None


@dataclass(frozen=True)
class NewNotification:
    """What :meth:`EventStore.record_event` writes for one matching subscription."""

    subscription_id: str
    topic: str
    deliver: bool  # active: queue a delivery; error: count the event only
    webhook_id: str
    build: Any  # (number, events_count) -> body bytes


@dataclass(frozen=True)
class PollerState:
    inflight_since: float | None
    last_poll: float | None


class EventStore:
    """The embedded backend: one WAL-mode SQLite file shared by the worker processes."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(path, SCHEMA, synchronous="FULL")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    def _run(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            return int(self._db.execute(sql, args).rowcount)

    # -- subscriptions ------------------------------------------------------------------

    async def add_subscription(self, row: SubscriptionRow, now: float) -> None:
        self._run(
            f"INSERT INTO subscriptions ({_SUB}, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.id,
                row.client_id,
                row.subject,
                row.grant_id,
                json.dumps(row.auth),
                json.dumps(row.resource),
                row.topic,
                row.status,
                row.error,
                row.secret,
                row.events_count,
                row.heartbeat_due,
                int(now),
                int(now),
            ),
        )

    async def subscription(self, sid: str) -> SubscriptionRow | None:
        rows = self._all(f"SELECT {_SUB} FROM subscriptions WHERE id = ?", (sid,))
        return SubscriptionRow.of(rows[0]) if rows else None

    async def subscriptions_of(self, client_id: str, subject: str | None) -> list[SubscriptionRow]:
        rows = self._all(
            f"SELECT {_SUB} FROM subscriptions WHERE client_id = ? AND subject IS ?"
            " ORDER BY created_at, id",
            (client_id, subject),
        )
        return [SubscriptionRow.of(r) for r in rows]

    async def live_subscriptions(self, topics: tuple[str, ...]) -> list[SubscriptionRow]:
        """Subscriptions that count events of these topics (active, or in error)."""
        if not topics:
            return []
        marks = ",".join("?" for _ in topics)
        rows = self._all(
            f"SELECT {_SUB} FROM subscriptions WHERE status IN ('active', 'error')"
            f" AND topic IN ({marks}) ORDER BY id",
            topics,
        )
        return [SubscriptionRow.of(r) for r in rows]

    async def heartbeat_candidates(self, now: float) -> list[SubscriptionRow]:
        rows = self._all(
            f"SELECT {_SUB} FROM subscriptions WHERE status = 'active'"
            " AND heartbeat_due IS NOT NULL AND heartbeat_due <= ?",
            (now,),
        )
        return [SubscriptionRow.of(r) for r in rows]

    async def replace_subscription(
        self,
        sid: str,
        resource: dict[str, Any],
        status: str,
        heartbeat_due: float | None,
        now: float,
    ) -> None:
        self._run(
            "UPDATE subscriptions SET resource = ?, status = ?, error = NULL, heartbeat_due = ?,"
            " updated_at = ? WHERE id = ?",
            (json.dumps(resource), status, heartbeat_due, int(now), sid),
        )

    async def set_status(
        self,
        sid: str,
        status: str,
        now: float,
        *,
        error: str | None = None,
        only_from: str | None = None,
    ) -> bool:
        """Change a subscription's status (``only_from``: compare-and-set on the old one)."""
        guard = " AND status = ?" if only_from else ""
        args: tuple[Any, ...] = (status, error, int(now), sid)
        if only_from:
            args += (only_from,)
        changed = self._run(
            f"UPDATE subscriptions SET status = ?, error = ?, updated_at = ? WHERE id = ?{guard}",
            args,
        )
        if changed and status in ("off", "error"):
            self._run(
                "UPDATE outbox SET state = 'dead', body = NULL, updated_at = ?"
                " WHERE subscription_id = ? AND state = 'pending'",
                (now, sid),
            )
        return changed == 1

    async def take_heartbeat(self, sid: str, due: float, next_due: float) -> bool:
        """Compare-and-set: the one worker that moves ``heartbeat_due`` on sends the beat."""
        return (
            self._run(
                "UPDATE subscriptions SET heartbeat_due = ? WHERE id = ? AND heartbeat_due = ?",
                (next_due, sid, due),
            )
            == 1
        )

    async def delete_subscription(self, sid: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM outbox WHERE subscription_id = ?", (sid,))
            db.execute("DELETE FROM notifications WHERE subscription_id = ?", (sid,))
            db.execute("DELETE FROM subscriptions WHERE id = ?", (sid,))

    # -- the change queue ------------------------------------------------------------------

    async def add_change(
        self,
        practice: str,
        resource_type: str,
        rid: str,
        action: str,
        source: str,
        now: float,
        *,
        dedupe: str | None = None,
    ) -> int | None:
        """Queue a change (a ``dedupe`` key already seen is ignored: None)."""
        with self._lock:
            row = self._db.execute(
                "INSERT INTO changes (practice, resource_type, rid, action, source, dedupe, state,"
                " attempts, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
                " ON CONFLICT (dedupe) DO NOTHING RETURNING id",
                (practice, resource_type, rid, action, source, dedupe, now, now),
            ).fetchone()
        return None if row is None else int(row[0])

    def queue_change_now(
        self,
        practice: str,
        resource_type: str,
        rid: str,
        action: str,
        source: str,
        resource: dict[str, Any] | None = None,
    ) -> None:
        """:meth:`add_change` for the write path, which is not a coroutine: one INSERT on a
        local file (a network backend queues it from a task instead)."""
        import time

        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO changes (practice, resource_type, rid, action, source, resource,"
                " state, attempts, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                (
                    practice,
                    resource_type,
                    rid,
                    action,
                    source,
                    None if resource is None else json.dumps(resource),
                    now,
                    now,
                ),
            )

    async def claim_changes(self, owner: str, now: float, lease: float, limit: int) -> list[Change]:
        with self._lock:
            rows = self._db.execute(
                "UPDATE changes SET owner = ?, lease_until = ? WHERE id IN (SELECT id FROM changes"
                " WHERE state = 'pending' AND next_at <= ? AND (owner IS NULL OR lease_until <= ?)"
                " ORDER BY id LIMIT ?) RETURNING id, practice, resource_type, rid, action, source,"
                " attempts, resource",
                (owner, now + lease, now, now, limit),
            ).fetchall()
        changes = [
            Change(
                int(r[0]),
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                int(r[6]),
                json.loads(r[7]) if r[7] else None,
            )
            for r in rows
        ]
        return sorted(changes, key=lambda c: c.id)

    async def finish_change(self, change_id: int, owner: str) -> bool:
        return (
            self._run(
                "UPDATE changes SET state = 'done', owner = NULL WHERE id = ? AND owner = ?",
                (change_id, owner),
            )
            == 1
        )

    async def retry_change(self, change_id: int, owner: str, next_at: float) -> bool:
        return (
            self._run(
                "UPDATE changes SET attempts = attempts + 1, next_at = ?, owner = NULL"
                " WHERE id = ? AND owner = ?",
                (next_at, change_id, owner),
            )
            == 1
        )

    async def changes_after(self, after: int, limit: int) -> list[tuple[int, str, str, str]]:
        """(id, resource_type, practice, rid) of queued changes after ``after`` (cache tail)."""
        rows = self._all(
            "SELECT id, resource_type, practice, rid FROM changes WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [(int(r[0]), r[1], r[2], r[3]) for r in rows]

    async def last_change_id(self) -> int:
        rows = self._all("SELECT COALESCE(MAX(id), 0) FROM changes")
        return int(rows[0][0])

    # -- events and their notifications -------------------------------------------------

    async def record_event(
        self,
        key: str,
        previous_hash: str | None,
        new_hash: str,
        event: Event,
        notify: list[NewNotification],
        now: float,
    ) -> tuple[Event, list[int]] | None:
        """One transaction: the resource's state moves from ``previous_hash`` to ``new_hash``,
        the event is logged, and each subscription numbers it (and queues a delivery).

        None: the state is no longer ``previous_hash`` (another worker recorded a newer
        state meanwhile); the caller reads the state again.
        """
        with self._transaction() as db:
            row = db.execute("SELECT hash FROM resource_state WHERE key = ?", (key,)).fetchone()
            if (row[0] if row else None) != previous_hash:
                return None
            db.execute(
                "INSERT INTO resource_state (key, hash, resource, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET hash = excluded.hash,"
                " resource = excluded.resource, updated_at = excluded.updated_at",
                (key, new_hash, json.dumps(event.resource), now),
            )
            seq = int(
                db.execute(
                    "INSERT INTO events (practice, resource_type, rid, action, resource, topics,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
                    (
                        event.practice,
                        event.resource_type,
                        event.rid,
                        event.action,
                        json.dumps(event.resource),
                        json.dumps(list(event.topics)),
                        now,
                    ),
                ).fetchone()[0]
            )
            stored = Event(
                seq,
                event.practice,
                event.resource_type,
                event.rid,
                event.action,
                event.resource,
                event.topics,
                now,
            )
            queued: list[int] = []
            for item in notify:
                counted = db.execute(
                    "UPDATE subscriptions SET events_count = events_count + 1 WHERE id = ?"
                    " AND status IN ('active', 'error') RETURNING events_count, status",
                    (item.subscription_id,),
                ).fetchone()
                if counted is None:
                    continue
                number = int(counted[0])
                db.execute(
                    "INSERT INTO notifications (subscription_id, number, event_seq, topic,"
                    " created_at) VALUES (?, ?, ?, ?, ?)",
                    (item.subscription_id, number, seq, item.topic, now),
                )
                if item.deliver and counted[1] == "active":
                    body = item.build(number, number, stored)
                    out = db.execute(
                        "INSERT INTO outbox (subscription_id, kind, webhook_id, body, state,"
                        " attempts, next_at, created_at, updated_at)"
                        " VALUES (?, 'event-notification', ?, ?, 'pending', 0, ?, ?, ?) RETURNING id",
                        (item.subscription_id, item.webhook_id, body, now, now, now),
                    ).fetchone()
                    queued.append(int(out[0]))
            return stored, queued

    async def state_of(self, key: str) -> tuple[str, dict[str, Any] | None] | None:
        rows = self._all("SELECT hash, resource FROM resource_state WHERE key = ?", (key,))
        if not rows:
            return None
        return rows[0][0], json.loads(rows[0][1]) if rows[0][1] else None

    async def notified(self, sid: str, first: int, last: int, limit: int) -> list[Notified]:
        rows = self._all(
            "SELECT n.number, n.topic, e.seq, e.practice, e.resource_type, e.rid, e.action,"
            " e.resource, e.topics, e.created_at FROM notifications n JOIN events e"
            " ON e.seq = n.event_seq WHERE n.subscription_id = ? AND n.number BETWEEN ? AND ?"
            " ORDER BY n.number LIMIT ?",
            (sid, first, last, limit),
        )
        return [
            Notified(
                int(r[0]),
                r[1],
                Event(
                    int(r[2]),
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    json.loads(r[7]) if r[7] else None,
                    tuple(json.loads(r[8])),
                    float(r[9]),
                ),
            )
            for r in rows
        ]

    # -- the outbox ------------------------------------------------------------------------

    async def enqueue(self, sid: str, kind: str, webhook_id: str, body: bytes, now: float) -> int:
        with self._lock:
            row = self._db.execute(
                "INSERT INTO outbox (subscription_id, kind, webhook_id, body, state, attempts,"
                " next_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)"
                " RETURNING id",
                (sid, kind, webhook_id, body, now, now, now),
            ).fetchone()
        return int(row[0])

    async def claim_deliveries(
        self, owner: str, now: float, lease: float, limit: int
    ) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                "UPDATE outbox SET owner = ?, lease_until = ? WHERE id IN (SELECT id FROM outbox"
                " WHERE state = 'pending' AND next_at <= ? AND (owner IS NULL OR lease_until <= ?)"
                f" ORDER BY next_at, id LIMIT ?) RETURNING {_OUT}",
                (owner, now + lease, now, now, limit),
            ).fetchall()
        return sorted((Delivery(*r) for r in rows), key=lambda d: d.id)

    async def delivered(self, delivery_id: int, owner: str, status: int, now: float) -> bool:
        return (
            self._run(
                "UPDATE outbox SET state = 'delivered', body = NULL, owner = NULL,"
                " attempts = attempts + 1, last_status = ?, updated_at = ?"
                " WHERE id = ? AND owner = ? AND state = 'pending'",
                (status, now, delivery_id, owner),
            )
            == 1
        )

    async def failed(
        self, delivery_id: int, owner: str, status: int | None, next_at: float | None, now: float
    ) -> bool:
        """A failed attempt: retry at ``next_at``, or dead-letter (None)."""
        if next_at is None:
            sql = "state = 'dead', owner = NULL, attempts = attempts + 1, last_status = ?,"
            args: tuple[Any, ...] = (status, now, delivery_id, owner)
            sql += " updated_at = ?"
        else:
            sql = "owner = NULL, attempts = attempts + 1, last_status = ?, next_at = ?, updated_at = ?"
            args = (status, next_at, now, delivery_id, owner)
        return (
            self._run(
                f"UPDATE outbox SET {sql} WHERE id = ? AND owner = ? AND state = 'pending'", args
            )
            == 1
        )

    async def deliveries_of(self, sid: str) -> list[Delivery]:
        rows = self._all(f"SELECT {_OUT} FROM outbox WHERE subscription_id = ? ORDER BY id", (sid,))
        return [Delivery(*r) for r in rows]

    async def next_due(self) -> float | None:
        rows = self._all("SELECT MIN(next_at) FROM outbox WHERE state = 'pending'")
        return None if rows[0][0] is None else float(rows[0][0])

    # -- feed pollers (one per practice and feed, across every worker) ---------------------

    async def claim_poller(
        self, practice: str, feed: str, owner: str, now: float, lease: float
    ) -> PollerState | None:
        """Hold (or renew) the feed's lease; None when a live claim is someone else's."""
        with self._lock:
            self._db.execute(
                "INSERT INTO pollers (practice, feed) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (practice, feed),
            )
            row = self._db.execute(
                "UPDATE pollers SET owner = ?, lease_until = ? WHERE practice = ? AND feed = ?"
                " AND (owner IS NULL OR owner = ? OR lease_until <= ?)"
                " RETURNING inflight_since, last_poll",
                (owner, now + lease, practice, feed, owner, now),
            ).fetchone()
        return None if row is None else PollerState(row[0], row[1])

    async def begin_poll(self, practice: str, feed: str, owner: str, now: float) -> bool:
        """Mark a poll in flight (kept if one already was: its records may be lost)."""
        return (
            self._run(
                "UPDATE pollers SET inflight_since = COALESCE(inflight_since, ?)"
                " WHERE practice = ? AND feed = ? AND owner = ?",
                (now, practice, feed, owner),
            )
            == 1
        )

    async def end_poll(self, practice: str, feed: str, owner: str, now: float) -> bool:
        """Everything athena handed over is queued: nothing is in flight any more."""
        return (
            self._run(
                "UPDATE pollers SET inflight_since = NULL, last_poll = ?"
                " WHERE practice = ? AND feed = ? AND owner = ?",
                (now, practice, feed, owner),
            )
            == 1
        )

    async def release_poller(self, practice: str, feed: str, owner: str) -> None:
        self._run(
            "UPDATE pollers SET owner = NULL, lease_until = NULL"
            " WHERE practice = ? AND feed = ? AND owner = ?",
            (practice, feed, owner),
        )

    # -- webhook secrets at rest (facade/vault: `vault rotate` re-seals them) ----------

    def webhook_secrets(self) -> list[tuple[str, str]]:
        """(subscription id, stored secret) of every Subscription (run outside the loop)."""
        return [(str(r[0]), str(r[1])) for r in self._all("SELECT id, secret FROM subscriptions")]

    def replace_webhook_secret(self, sid: str, old: str, new: str) -> bool:
        """Store ``new`` where ``old`` still is (compare-and-set)."""
        return (
            self._run(
                "UPDATE subscriptions SET secret = ? WHERE id = ? AND secret = ?", (new, sid, old)
            )
            == 1
        )

    # -- retention --------------------------------------------------------------------

    def purge(self, before: float) -> None:
        """Forget finished work older than ``before`` (runs at start, outside the loop)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM changes WHERE state = 'done' AND created_at < ?", (before,)
            )
            self._db.execute(
                "DELETE FROM outbox WHERE state IN ('delivered', 'dead') AND updated_at < ?",
                (before,),
            )
            self._db.execute(
                "DELETE FROM notifications WHERE event_seq IN"
                " (SELECT seq FROM events WHERE created_at < ?)",
                (before,),
            )
            self._db.execute("DELETE FROM events WHERE created_at < ?", (before,))
