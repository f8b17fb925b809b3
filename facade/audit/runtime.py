"""Opening the audit trail for an entry point, and retention at start."""

from __future__ import annotations

import time

import facade.audit.collection  # noqa: F401  (registers the audit-events collection)
from facade.audit.events import instant
from facade.audit.recorder import AuditRecorder, Disabled, Recorder
from facade.settings import Settings
from facade.store.audit import SqliteAuditStore

FILE = "audit.sqlite3"


def chain_key(signing_key: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(signing_key, b"audit-chain", hashlib.sha256).digest()


def open_recorder(settings: Settings, signing_key: bytes) -> Recorder:
    if not settings.audit_enabled:
        return Disabled()
    return AuditRecorder(
        SqliteAuditStore(settings.data_dir / FILE),
        chain_key(signing_key),
        default_practice=settings.default_practice,
        capacity=settings.audit_queue_size,
    )


def prune(settings: Settings, now: float | None = None) -> int:
    """Delete the records older than the retention (the chain stays verifiable: anchor)."""
    cutoff = (now if now is not None else time.time()) - settings.audit_retention_days * 86400
    store = SqliteAuditStore(settings.data_dir / FILE)
    try:
        return store.prune(instant(cutoff))
    finally:
        store.close()
