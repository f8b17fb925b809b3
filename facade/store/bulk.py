"""Bulk export jobs: one record per ``$export`` kick-off, its parts and its errors.

A job (Bulk Data Access 2.0.0 "Bulk Data Export") is created ``queued`` by the
kick-off, run by one worker at a time, and ends ``completed`` (with its manifest),
``failed`` (with a message) or ``cancelled`` (``DELETE`` on the status URL):

- :meth:`BulkJobStore.create` inserts the job only while the client has fewer than
  ``limit`` jobs queued or running, in one statement, so two kick-offs racing in two
  workers cannot both pass the limit; finished jobs do not count;
- a worker :meth:`~BulkJobStore.claim` s a job (queued, or running under a lease that
  ran out: its worker died or the facade restarted) and holds it under a lease it
  renews while it works (:meth:`~BulkJobStore.renew`, which also says when the job
  was cancelled); every later step is compare-and-set on the owner, so a worker
  whose lease another one took over changes nothing;
- the work is split into *parts* (one per practice and resource type, plus the
  patient list and athena's own export per practice); a part records how far it
  got (``cursor``: a JSON position, ``bytes`` and ``count`` of its file so far), so a
  resumed job continues each part where its last checkpoint left it and keeps the
  parts already done;
- the manifest is written once, with the state change to ``completed``
  (:meth:`~BulkJobStore.complete`): a poll sees either no manifest or the whole one;
- finished and cancelled jobs expire (``expires_at``): :meth:`~BulkJobStore.expired`
  lists them for the runner, which deletes their files and then the rows.

Schema (SQLite, ``bulk.sqlite3`` under the data directory)::

    bulk_jobs  (id TEXT PK, client_id TEXT, state TEXT,  -- queued|running|completed|failed|cancelled
                spec TEXT,                                -- JSON: the parsed kick-off (ExportSpec)
                owner TEXT, lease_until REAL,             -- the worker holding it, and until when
                progress TEXT, manifest TEXT, error TEXT,
                created_at REAL, updated_at REAL, expires_at REAL)
    bulk_parts (job_id TEXT, part TEXT, state TEXT,       -- pending|done|failed
                cursor TEXT, bytes INTEGER, count INTEGER, file TEXT, type TEXT,
                PRIMARY KEY (job_id, part))
    bulk_errors (job_id TEXT, seq INTEGER, part TEXT, outcome TEXT, PRIMARY KEY (job_id, seq))

The statements are plain SQL that PostgreSQL runs unchanged (``INSERT … SELECT …
WHERE (SELECT COUNT(*) …) < ?``, ``UPDATE … WHERE id = ? AND owner = ?`` whose row
count says whether the caller still held the job). Methods called while requests
or jobs run are coroutines, so a PostgreSQL backend can use an async driver; SQLite
runs each inline, one statement on a local file. ``now`` is passed in (tests control
time).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from facade.store.database import Location, open_database

ACTIVE = ("queued", "running")

SCHEMA = """
CREATE TABLE IF NOT EXISTS bulk_jobs (
  id TEXT PRIMARY KEY, client_id TEXT NOT NULL, state TEXT NOT NULL, spec TEXT NOT NULL,
  owner TEXT, lease_until REAL, progress TEXT NOT NULL DEFAULT '',
  manifest TEXT, error TEXT,
  created_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL);
CREATE INDEX IF NOT EXISTS bulk_jobs_client ON bulk_jobs (client_id, state);
CREATE TABLE IF NOT EXISTS bulk_parts (
  job_id TEXT NOT NULL, part TEXT NOT NULL, state TEXT NOT NULL, cursor TEXT NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 0,
  file TEXT, type TEXT, PRIMARY KEY (job_id, part));
CREATE TABLE IF NOT EXISTS bulk_errors (
  job_id TEXT NOT NULL, seq INTEGER NOT NULL, part TEXT NOT NULL, outcome TEXT NOT NULL,
  PRIMARY KEY (job_id, seq));
"""
_JOB_COLUMNS = (
    "id, client_id, state, spec, owner, lease_until, progress, manifest, error,"
    " created_at, updated_at, expires_at"
)


@dataclass(frozen=True)
class JobRecord:
    id: str
    client_id: str
    state: str  # queued | running | completed | failed | cancelled
    spec: dict[str, Any]
    owner: str | None = None
    lease_until: float | None = None
    progress: str = ""
    manifest: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    expires_at: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


@dataclass(frozen=True)
class PartRecord:
    """How far one part of a job got. ``cursor`` is the part's own position (JSON)."""

    part: str
    state: str = "pending"  # pending | done | failed
    cursor: dict[str, Any] | None = None
    bytes: int = 0
    count: int = 0
    file: str | None = None
    type: str | None = None


class BulkJobStore(Protocol):
    """The job store's protocol; see the module docstring for the semantics."""

    async def create(self, job: JobRecord, limit: int) -> bool:
        """Insert a queued job unless its client already has ``limit`` active ones."""
        ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def claim(self, owner: str, now: float, lease_seconds: float) -> JobRecord | None:
        """Take the oldest queued job, or a running one whose lease ran out; None if none."""
        ...

    async def renew(
        self, job_id: str, owner: str, now: float, lease_seconds: float, progress: str
    ) -> bool:
        """Extend the lease and record progress; False: lost (taken over) or cancelled."""
        ...

    async def release(self, job_id: str, owner: str) -> bool:
        """Give a running job up (shutdown): the next worker resumes it at once."""
        ...

    async def parts(self, job_id: str) -> dict[str, PartRecord]: ...

    async def save_part(self, job_id: str, owner: str, part: PartRecord) -> bool:
        """Record a part's checkpoint (compare-and-set on the owner of a running job)."""
        ...

    async def add_error(self, job_id: str, owner: str, part: str, outcome: dict[str, Any]) -> bool:
        """Keep an OperationOutcome for the manifest's ``error`` file."""
        ...

    async def errors(self, job_id: str) -> list[dict[str, Any]]: ...

    async def complete(
        self, job_id: str, owner: str, manifest: dict[str, Any], now: float, expires_at: float
    ) -> bool: ...

    async def fail(
        self, job_id: str, owner: str | None, message: str, now: float, expires_at: float
    ) -> bool:
        """End a job as failed (``owner`` None: whoever holds it, e.g. an unreadable spec)."""
        ...

    async def cancel(self, job_id: str, client_id: str, now: float, expires_at: float) -> bool:
        """``DELETE`` on the status URL: any job of this client that is not cancelled yet."""
        ...

    async def expired(self, now: float) -> list[str]:
        """Jobs whose files are due for deletion (finished or cancelled, past ``expires_at``)."""
        ...

    async def delete(self, job_id: str) -> None: ...

    def close(self) -> None: ...


class SqliteBulkJobStore:
    """The embedded backend: one WAL-mode file shared by the worker processes of a host."""

    def __init__(self, path: Location) -> None:
        # synchronous=FULL: a checkpoint must survive a crash, or a resumed part would
        # truncate its file to a length the disk never had
        self._db = open_database(path, SCHEMA, synchronous="FULL")
        self._lock = threading.Lock()

    @staticmethod
    def _job(row: tuple[Any, ...]) -> JobRecord:
        (
            jid,
            client,
            state,
            spec,
            owner,
            lease,
            progress,
            manifest,
            error,
            created,
            updated,
            exp,
        ) = row
        return JobRecord(
            id=jid,
            client_id=client,
            state=state,
            spec=json.loads(spec),
            owner=owner,
            lease_until=lease,
            progress=progress or "",
            manifest=json.loads(manifest) if manifest else None,
            error=error,
            created_at=created,
            updated_at=updated,
            expires_at=exp,
        )

    def _changed(self, sql: str, args: tuple[Any, ...]) -> bool:
        with self._lock:
            changed: int = self._db.execute(sql, args).rowcount
        return changed == 1

    async def create(self, job: JobRecord, limit: int) -> bool:
        return self._changed(
            "INSERT INTO bulk_jobs (id, client_id, state, spec, progress, created_at, updated_at)"
            " SELECT ?, ?, 'queued', ?, 'queued', ?, ?"
            " WHERE (SELECT COUNT(*) FROM bulk_jobs WHERE client_id = ?"
            " AND state IN ('queued', 'running')) < ?",
            (
                job.id,
                job.client_id,
                json.dumps(job.spec),
                job.created_at,
                job.created_at,
                job.client_id,
                limit,
            ),
        )

    async def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM bulk_jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else self._job(row)

    async def claim(self, owner: str, now: float, lease_seconds: float) -> JobRecord | None:
        with self._lock:
            candidates = self._db.execute(
                "SELECT id FROM bulk_jobs WHERE state = 'queued'"
                " OR (state = 'running' AND (owner IS NULL OR lease_until <= ?))"
                " ORDER BY created_at LIMIT 8",
                (now,),
            ).fetchall()
            for (jid,) in candidates:
                changed = self._db.execute(
                    "UPDATE bulk_jobs SET state = 'running', owner = ?, lease_until = ?,"
                    " progress = CASE WHEN state = 'queued' THEN 'started' ELSE progress END,"
                    " updated_at = ? WHERE id = ? AND (state = 'queued' OR (state = 'running'"
                    " AND (owner IS NULL OR lease_until <= ?)))",
                    (owner, now + lease_seconds, now, jid, now),
                ).rowcount
                if changed == 1:
                    row = self._db.execute(
                        f"SELECT {_JOB_COLUMNS} FROM bulk_jobs WHERE id = ?", (jid,)
                    ).fetchone()
                    return self._job(row)
        return None

    async def renew(
        self, job_id: str, owner: str, now: float, lease_seconds: float, progress: str
    ) -> bool:
        return self._changed(
            "UPDATE bulk_jobs SET lease_until = ?, progress = ?, updated_at = ?"
            " WHERE id = ? AND owner = ? AND state = 'running'",
            (now + lease_seconds, progress[:99], now, job_id, owner),
        )

    async def release(self, job_id: str, owner: str) -> bool:
        return self._changed(
            "UPDATE bulk_jobs SET owner = NULL, lease_until = NULL"
            " WHERE id = ? AND owner = ? AND state = 'running'",
            (job_id, owner),
        )

    async def parts(self, job_id: str) -> dict[str, PartRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT part, state, cursor, bytes, count, file, type FROM bulk_parts"
                " WHERE job_id = ?",
                (job_id,),
            ).fetchall()
        return {
            part: PartRecord(part, state, json.loads(cursor), size, count, file, rtype)
            for part, state, cursor, size, count, file, rtype in rows
        }

    def _owned(self, job_id: str, owner: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM bulk_jobs WHERE id = ? AND owner = ? AND state = 'running'",
            (job_id, owner),
        ).fetchone()
        return row is not None

    async def save_part(self, job_id: str, owner: str, part: PartRecord) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._owned(job_id, owner):
                    self._db.execute("ROLLBACK")
                    return False
                self._db.execute(
                    "INSERT INTO bulk_parts (job_id, part, state, cursor, bytes, count, file, type)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, part) DO UPDATE SET"
                    " state = excluded.state, cursor = excluded.cursor, bytes = excluded.bytes,"
                    " count = excluded.count, file = excluded.file, type = excluded.type",
                    (
                        job_id,
                        part.part,
                        part.state,
                        json.dumps(part.cursor),
                        part.bytes,
                        part.count,
                        part.file,
                        part.type,
                    ),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return True

    async def add_error(self, job_id: str, owner: str, part: str, outcome: dict[str, Any]) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._owned(job_id, owner):
                    self._db.execute("ROLLBACK")
                    return False
                self._db.execute(
                    "INSERT INTO bulk_errors (job_id, seq, part, outcome) SELECT ?,"
                    " COALESCE(MAX(seq), 0) + 1, ?, ? FROM bulk_errors WHERE job_id = ?",
                    (job_id, part, json.dumps(outcome), job_id),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return True

    async def errors(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT outcome FROM bulk_errors WHERE job_id = ? ORDER BY seq", (job_id,)
            ).fetchall()
        return [json.loads(outcome) for (outcome,) in rows]

    async def complete(
        self, job_id: str, owner: str, manifest: dict[str, Any], now: float, expires_at: float
    ) -> bool:
        return self._changed(
            "UPDATE bulk_jobs SET state = 'completed', manifest = ?, owner = NULL,"
            " lease_until = NULL, progress = 'completed', updated_at = ?, expires_at = ?"
            " WHERE id = ? AND owner = ? AND state = 'running'",
            (json.dumps(manifest), now, expires_at, job_id, owner),
        )

    async def fail(
        self, job_id: str, owner: str | None, message: str, now: float, expires_at: float
    ) -> bool:
        if owner is None:
            return self._changed(
                "UPDATE bulk_jobs SET state = 'failed', error = ?, owner = NULL,"
                " lease_until = NULL, progress = 'failed', updated_at = ?, expires_at = ?"
                " WHERE id = ? AND state IN ('queued', 'running')",
                (message, now, expires_at, job_id),
            )
        return self._changed(
            "UPDATE bulk_jobs SET state = 'failed', error = ?, owner = NULL, lease_until = NULL,"
            " progress = 'failed', updated_at = ?, expires_at = ?"
            " WHERE id = ? AND owner = ? AND state = 'running'",
            (message, now, expires_at, job_id, owner),
        )

    async def cancel(self, job_id: str, client_id: str, now: float, expires_at: float) -> bool:
        return self._changed(
            "UPDATE bulk_jobs SET state = 'cancelled', owner = NULL, lease_until = NULL,"
            " manifest = NULL, progress = 'cancelled', updated_at = ?, expires_at = ?"
            " WHERE id = ? AND client_id = ? AND state <> 'cancelled'",
            (now, expires_at, job_id, client_id),
        )

    async def expired(self, now: float) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM bulk_jobs WHERE state IN ('completed', 'failed', 'cancelled')"
                " AND expires_at IS NOT NULL AND expires_at <= ?",
                (now,),
            ).fetchall()
        return [jid for (jid,) in rows]

    async def delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM bulk_errors WHERE job_id = ?", (job_id,))
                self._db.execute("DELETE FROM bulk_parts WHERE job_id = ?", (job_id,))
                self._db.execute("DELETE FROM bulk_jobs WHERE id = ?", (job_id,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
