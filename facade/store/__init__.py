"""Durable state behind small interfaces (DESIGN.md "State").

base.py     AuthStore: the interface the authorization server needs
sqlite.py   SqliteAuthStore: the embedded default, a file under the data directory
ledger.py   IdempotencyLedger (interface) and SqliteLedger: idempotent writes
eligibility.py  EligibilityStore (interface) and SqliteEligibilityStore: the eligibility
            requests and responses the facade handled (athena keeps only the latest check)
bulk.py     BulkJobStore (interface) and SqliteBulkJobStore: Bulk Data export jobs
database.py where a store lives: a SQLite file, or (Shared) the PostgreSQL database
postgres.py the shared backend: the dialect layer and versioned migrations (README "Scale-out")
shared.py   what hosts share through Redis: budget, cache validity, revocations, flights
"""

from __future__ import annotations

from facade.store.base import AuthStore, CodeRecord, RefreshRecord
from facade.store.eligibility import EligibilityRecord, EligibilityStore, SqliteEligibilityStore
from facade.store.ledger import IdempotencyLedger, LedgerRecord, SqliteLedger
from facade.store.sqlite import SqliteAuthStore

__all__ = [
    "AuthStore",
    "CodeRecord",
    "EligibilityRecord",
    "EligibilityStore",
    "IdempotencyLedger",
    "LedgerRecord",
    "RefreshRecord",
    "SqliteAuthStore",
    "SqliteEligibilityStore",
    "SqliteLedger",
]
