"""Eligibility checks the facade handled: each CoverageEligibilityRequest with its response
(DESIGN.md "State": records the facade owns because athena keeps none).

athena keeps only the latest 271 per insurance (API-NOTES §3.8), so every request and the
response built for it are kept here: both stay readable and searchable after athena has
moved on, and a response answered ``queued`` is settled here once athena has the payer's
answer (:meth:`EligibilityStore.settle`, compare-and-set on the outcome, so two workers
refreshing it at once write it once).

One row per check; the request and its response share the row's id (``a-{practice}.
EligibilityRequest-{id}`` / ``EligibilityResponse-{id}``). ``facts`` holds what a later
refresh needs to ask athena again (patient, insurance, service type, date of service);
no names, no dates of birth.

Schema (SQLite, ``eligibility.sqlite3`` under the data directory)::

    eligibility (practice TEXT, id TEXT,          -- PK (practice, id)
                 patient TEXT,                    -- Patient FHIR id (the compartment)
                 created TEXT,                    -- ISO instant, the order of a search
                 outcome TEXT,                    -- queued | complete | error | partial
                 request TEXT, response TEXT,     -- the FHIR resources (JSON)
                 facts TEXT,                      -- JSON, see above
                 updated_at REAL)

The statements are plain SQL a PostgreSQL backend runs unchanged (``?`` becomes its
placeholder); methods called while a request runs are coroutines for that backend's sake.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from facade.store.database import Location, open_database

Json = dict[str, Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS eligibility (
  practice TEXT NOT NULL, id TEXT NOT NULL, patient TEXT NOT NULL, created TEXT NOT NULL,
  outcome TEXT NOT NULL, request TEXT NOT NULL, response TEXT NOT NULL, facts TEXT NOT NULL,
  updated_at REAL NOT NULL, PRIMARY KEY (practice, id));
CREATE INDEX IF NOT EXISTS eligibility_patient ON eligibility (practice, patient, created, id);
CREATE INDEX IF NOT EXISTS eligibility_created ON eligibility (practice, created, id);
"""
_COLUMNS = "practice, id, patient, created, outcome, request, response, facts"


@dataclass(frozen=True)
class EligibilityRecord:
    practice: str
    local: str  # the id both resources carry after their prefix
    patient: str  # a-{practice}.E-{patientid}
    created: str
    outcome: str
    request: Json
    response: Json
    facts: Json


class EligibilityStore(Protocol):
    async def add(self, record: EligibilityRecord, now: float) -> bool:
        """Store a new check; False (nothing written) when the id is taken."""
        ...

    async def get(self, practice: str, local: str) -> EligibilityRecord | None: ...

    async def page(
        self,
        practice: str,
        *,
        patient: str | None,
        local: str | None,
        offset: int,
        limit: int,
    ) -> list[EligibilityRecord]:
        """A practice's checks in the order they were made (oldest first: a new check
        never moves an earlier one), narrowed to one patient and/or one id."""
        ...

    async def settle(
        self, practice: str, local: str, response: Json, outcome: str, expected: str, now: float
    ) -> bool:
        """Replace the response while its outcome is still ``expected``; False otherwise."""
        ...

    def close(self) -> None: ...


class SqliteEligibilityStore:
    """The embedded backend: one WAL-mode file shared by the worker processes of a host."""

    def __init__(self, path: Location) -> None:
        self._db = open_database(path, SCHEMA, synchronous="NORMAL")
        self._lock = threading.Lock()

    @staticmethod
    def _record(row: tuple[Any, ...]) -> EligibilityRecord:
        practice, local, patient, created, outcome, request, response, facts = row
        return EligibilityRecord(
            practice,
            local,
            patient,
            created,
            outcome,
            json.loads(request),
            json.loads(response),
            json.loads(facts),
        )

    async def add(self, record: EligibilityRecord, now: float) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO eligibility (practice, id, patient, created, outcome, request,"
                " response, facts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (practice, id) DO NOTHING",
                (
                    record.practice,
                    record.local,
                    record.patient,
                    record.created,
                    record.outcome,
                    json.dumps(record.request),
                    json.dumps(record.response),
                    json.dumps(record.facts),
                    now,
                ),
            )
            return cursor.rowcount == 1

    async def get(self, practice: str, local: str) -> EligibilityRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM eligibility WHERE practice = ? AND id = ?",
                (practice, local),
            ).fetchone()
        return None if row is None else self._record(row)

    async def page(
        self,
        practice: str,
        *,
        patient: str | None,
        local: str | None,
        offset: int,
        limit: int,
    ) -> list[EligibilityRecord]:
        where, args = ["practice = ?"], [practice]
        if patient is not None:
            where.append("patient = ?")
            args.append(patient)
        if local is not None:
            where.append("id = ?")
            args.append(local)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM eligibility WHERE {' AND '.join(where)}"
                " ORDER BY created, id LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [self._record(row) for row in rows]

    async def settle(
        self, practice: str, local: str, response: Json, outcome: str, expected: str, now: float
    ) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE eligibility SET response = ?, outcome = ?, updated_at = ?"
                " WHERE practice = ? AND id = ? AND outcome = ?",
                (json.dumps(response), outcome, now, practice, local, expected),
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()
