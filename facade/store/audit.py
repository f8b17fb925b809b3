"""The audit trail's durable, hash-chained log (README "Audit trail").

Every record holds the facts of one audited event (compact JSON, from which the IHE BALP
AuditEvent is rendered when read: facade/audit/events.py) and the columns a search needs. Records
form a chain: ``hash = SHA-256(prev || the record's canonical text)`` where ``prev`` is
the previous record's hash (:func:`facade.audit.chain.record_hash`), so an edited record
no longer matches its hash and a deleted one breaks its successor's ``prev``. The
``head`` row remembers the last record (an edit that deletes the newest records must
also rewrite the head); ``anchor`` remembers the last record pruned by retention, so the
oldest remaining record still verifies after pruning.

Schema (SQLite, ``audit.sqlite3`` under the data directory)::

    audit  (seq INTEGER PK,       -- chain position, 1, 2, ... (never reused)
            recorded TEXT,        -- ISO instant (UTC, microseconds)
            practice TEXT,        -- the practice the interaction reached (else the default)
            kind TEXT,            -- read | search | create | ... | login | token | ...
            action TEXT,          -- C R U D E (BALP)
            outcome TEXT,         -- 0 4 8 12 (audit-event-outcome)
            agent TEXT,           -- " client user " (space-delimited, for a search)
            patient TEXT,         -- Patient FHIR id or ""
            entity TEXT,          -- " Type/id Type/id " (space-delimited)
            facts TEXT,           -- what happened (JSON): the AuditEvent is rendered from it
            prev TEXT, hash TEXT)
    audit_patients (seq, practice, patient)   -- the *other* patients a record names (a
                                              search's page may hold many), for ``patient=``
                                              searches (``audit.patient`` is the first)
    head   (one INTEGER PK CHECK (one = 1), seq INTEGER, hash TEXT)
    anchor (one INTEGER PK CHECK (one = 1), seq INTEGER, hash TEXT)

The statements are plain SQL a PostgreSQL backend runs unchanged (``?`` becomes its
placeholder); the interface (:class:`AuditStore`) is all the audit package uses.
Appends come from one background writer thread per process (facade/audit/recorder.py);
a ``BEGIN IMMEDIATE`` transaction orders the worker processes on the chain.

Appending is most of the audit trail's cost per request, so a batch takes few statements:
its rows (and its ``audit_patients`` rows) go in multi-row ``INSERT`` statements
(:data:`ROWS_PER_INSERT` and :data:`PATIENTS_PER_INSERT` rows each;
``executemany`` steps once per row and releases the GIL around every step, a thread switch
per row while requests run), and ``audit_patients`` only gets the records that name more
than one patient (a search's page), since a record's first patient is its own indexed
column. Records written before that list their first patient there too; the ``patient=``
search reads both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from facade.store.database import Location, open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, recorded TEXT NOT NULL, practice TEXT NOT NULL, kind TEXT NOT NULL,
  action TEXT NOT NULL, outcome TEXT NOT NULL, agent TEXT NOT NULL, patient TEXT NOT NULL,
  entity TEXT NOT NULL, facts TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_patient ON audit (practice, patient, seq);
DROP INDEX IF EXISTS audit_recorded;
CREATE TABLE IF NOT EXISTS audit_patients (
  seq INTEGER NOT NULL, practice TEXT NOT NULL, patient TEXT NOT NULL,
  PRIMARY KEY (practice, patient, seq));
CREATE TABLE IF NOT EXISTS head (
  one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS anchor (
  one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
"""
# PostgreSQL: the schema above is version 1 (applied once); later versions in order
MIGRATIONS = (
    # retention finds its cutoff by seq (recorded grows with seq): one index less per record
    "DROP INDEX IF EXISTS audit_recorded;",
)
_COLUMNS = "seq, recorded, practice, kind, action, outcome, agent, patient, entity, facts"
GENESIS = "0" * 64  # the ``prev`` of the first record ever written


class AuditRow(NamedTuple):
    """One record as written: the chain fields come from the store (a tuple: the writer
    builds one per request, and the store inserts its first 9 fields as they are)."""

    recorded: str
    practice: str
    kind: str
    action: str
    outcome: str
    agent: str
    patient: str
    entity: str
    facts: str  # JSON
    patients: tuple[str, ...] = ()  # every patient the record names (patient first)
    seq: int = 0
    prev: str = ""
    hash: str = ""


# (prev hash, the row's seq, the row) -> the row's hash; facade.audit.chain supplies it
Hasher = Callable[[str, int, AuditRow], str]
ROWS_PER_INSERT = 100  # rows per INSERT statement (12 columns: 1,200 parameters)
# audit_patients rows per statement: a 20-result search names up to 19 others, which
# ``executemany`` stepped one by one (py-spy of bench P6: the writer's append was ~6 % of a
# one-week Appointment search's worker CPU); 3 columns, 1,200 parameters
PATIENTS_PER_INSERT = 400


@lru_cache(maxsize=PATIENTS_PER_INSERT)
def _insert_patients(count: int) -> str:
    """``INSERT OR IGNORE INTO audit_patients`` of ``count`` rows in one statement."""
    return "INSERT OR IGNORE INTO audit_patients VALUES " + ", ".join(["(?, ?, ?)"] * count)


@lru_cache(maxsize=ROWS_PER_INSERT)
def _insert(count: int) -> str:
    """``INSERT INTO audit`` of ``count`` rows in one statement (one step, one GIL release)."""
    row = "(" + ", ".join("?" * 12) + ")"
    return f"INSERT INTO audit ({_COLUMNS}, prev, hash) VALUES " + ", ".join([row] * count)


class AuditStore(Protocol):
    def append(self, rows: list[AuditRow], hasher: Hasher) -> int:
        """Chain ``rows`` after the newest record in one transaction; the last seq."""
        ...

    def get(self, practice: str, seq: int) -> AuditRow | None: ...

    def page(
        self, practice: str, filters: dict[str, str], offset: int, limit: int
    ) -> list[AuditRow]:
        """A practice's records oldest first; ``filters``: patient (any the record names),
        action, outcome (exact), agent, entity (one of the record's values)."""
        ...

    def scan(self) -> Iterator[AuditRow]:
        """Every record in chain order (for ``audit verify``)."""
        ...

    def head(self) -> tuple[int, str] | None: ...

    def anchor(self) -> tuple[int, str] | None: ...

    def prune(self, before: str) -> int:
        """Delete the records recorded before ``before`` (ISO instant), moving the anchor to
        the newest of them; the number deleted."""
        ...

    def close(self) -> None: ...


class SqliteAuditStore:
    def __init__(self, path: Location) -> None:
        self._db = open_database(path, SCHEMA, synchronous="NORMAL", migrations=MIGRATIONS)
        self._lock = threading.Lock()

    @staticmethod
    def _row(row: tuple[Any, ...]) -> AuditRow:
        seq, recorded, practice, kind, action, outcome, agent, patient, entity, facts = row[:10]
        return AuditRow(
            recorded,
            practice,
            kind,
            action,
            outcome,
            agent,
            patient,
            entity,
            facts,
            seq=int(seq),
            prev=row[10],
            hash=row[11],
        )

    def append(self, rows: list[AuditRow], hasher: Hasher) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                found = self._db.execute("SELECT seq, hash FROM head").fetchone()
                if found is None:
                    found = self._db.execute("SELECT seq, hash FROM anchor").fetchone()
                seq, prev = (int(found[0]), str(found[1])) if found else (0, GENESIS)
                values: list[object] = []
                named: list[object] = []
                for row in rows:
                    seq += 1
                    digest = hasher(prev, seq, row)
                    values += (seq, *row[:9], prev, digest)  # an AuditRow's 9 columns come first
                    if len(row.patients) > 1:
                        for other in row.patients:
                            if other != row.patient:
                                named += (seq, row.practice, other)
                    prev = digest
                width = 12 * ROWS_PER_INSERT
                for start in range(0, len(values), width):
                    part = values[start : start + width]
                    self._db.execute(_insert(len(part) // 12), part)
                width = 3 * PATIENTS_PER_INSERT
                for start in range(0, len(named), width):
                    part = named[start : start + width]
                    self._db.execute(_insert_patients(len(part) // 3), part)
                self._db.execute(
                    "INSERT INTO head (one, seq, hash) VALUES (1, ?, ?) "
                    "ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    (seq, prev),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return seq

    def get(self, practice: str, seq: int) -> AuditRow | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS}, prev, hash FROM audit WHERE practice = ? AND seq = ?",
                (practice, seq),
            ).fetchone()
        return None if row is None else self._row(row)

    def page(
        self, practice: str, filters: dict[str, str], offset: int, limit: int
    ) -> list[AuditRow]:
        # ``practice || ''``: the practice is a filter, not the index to walk (that would sort
        # every record of the practice for each page); records are read in seq order
        # (or looked up by seq for ``patient``), stopping at the page's end
        where, args = ["practice || '' = ?"], [practice]
        if "patient" in filters:  # the record's first patient, or one of its others
            where.append(
                "seq IN (SELECT seq FROM audit WHERE practice = ? AND patient = ?"
                " UNION SELECT seq FROM audit_patients WHERE practice = ? AND patient = ?)"
            )
            args += [practice, filters["patient"], practice, filters["patient"]]
        for column in ("action", "outcome"):
            if column in filters:
                where.append(f"{column} = ?")
                args.append(filters[column])
        for column in ("agent", "entity"):
            if column in filters:
                where.append(f"instr({column}, ?) > 0")
                args.append(f" {filters[column]} ")
        sql = (
            f"SELECT {_COLUMNS}, prev, hash FROM audit WHERE {' AND '.join(where)} "
            "ORDER BY seq LIMIT ? OFFSET ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (*args, limit, offset)).fetchall()
        return [self._row(r) for r in rows]

    def scan(self) -> Iterator[AuditRow]:
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS}, prev, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT 500",
                    (last,),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield self._row(row)
            last = int(rows[-1][0])

    def head(self) -> tuple[int, str] | None:
        return self._pair("head")

    def anchor(self) -> tuple[int, str] | None:
        return self._pair("anchor")

    def _pair(self, table: str) -> tuple[int, str] | None:
        with self._lock:
            row = self._db.execute(f"SELECT seq, hash FROM {table}").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def prune(self, before: str) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                last = self._last_before(before)
                if last is None:
                    self._db.execute("COMMIT")
                    return 0
                # records are chained in seq order and recorded grows with seq (worker
                # processes' clocks agree to a few ms): prune a prefix of the chain
                deleted = self._db.execute("DELETE FROM audit WHERE seq <= ?", (last[0],)).rowcount
                self._db.execute("DELETE FROM audit_patients WHERE seq <= ?", (last[0],))
                self._db.execute(
                    "INSERT INTO anchor (one, seq, hash) VALUES (1, ?, ?) "
                    "ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    (last[0], last[1]),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return int(deleted)

    def _last_before(self, before: str) -> tuple[int, str] | None:
        """The newest record recorded before ``before``: records are chained in seq order and
        ``recorded`` grows with seq, so a binary search over seq finds it in about log2(n)
        primary-key lookups (no index on ``recorded``, which would cost every append)."""
        db = self._db
        first = db.execute("SELECT seq, recorded FROM audit ORDER BY seq LIMIT 1").fetchone()
        if first is None or first[1] >= before:
            return None
        newest = db.execute("SELECT seq, recorded FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        # lo: a record before the cutoff; every record at or after hi is not before it
        lo, hi = int(first[0]), int(newest[0]) + 1
        if newest[1] < before:
            lo = int(newest[0])
        while hi - lo > 1:
            mid = (lo + hi) // 2
            found = db.execute(
                "SELECT seq, recorded FROM audit WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT 1",
                (mid, hi),
            ).fetchone()
            if found is None:  # records deleted (tampering): none in [mid, hi)
                hi = mid
            elif found[1] < before:
                lo = int(found[0])
            else:
                hi = int(found[0])
        row = db.execute("SELECT seq, hash FROM audit WHERE seq = ?", (lo,)).fetchone()
        return int(row[0]), str(row[1])

    def close(self) -> None:
        with self._lock:
            self._db.close()
