"""Opening the audit trail for an entry point, and retention at start."""

from __future__ import annotations

import logging
import time

import facade.audit.collection  # noqa: F401  (registers the audit-events collection)
from facade.audit.events import instant
from facade.audit.recorder import AuditRecorder, Disabled, Recorder
from facade.settings import Settings
from facade.store.audit import SqliteAuditStore
from facade.store.database import location

FILE = "audit.sqlite3"


def chain_key(signing_key: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(signing_key, b"audit-chain", hashlib.sha256).digest()


def open_recorder(settings: Settings, signing_key: bytes) -> Recorder:
    if not settings.audit_enabled:
        return Disabled()
    return AuditRecorder(
        SqliteAuditStore(location(settings.data_dir, "audit", settings.database)),
        chain_key(signing_key),
        default_practice=settings.default_practice,
        capacity=settings.audit_queue_size,
    )


def prune(settings: Settings, now: float | None = None) -> int:
    """Delete the records older than the retention (the chain stays verifiable: anchor)."""
    cutoff = (now if now is not None else time.time()) - settings.audit_retention_days * 86400
    store = SqliteAuditStore(location(settings.data_dir, "audit", settings.database))
    try:
        return store.prune(instant(cutoff))
    finally:
        store.close()


def record_operator_event(
    settings: Settings, kind: str, success: bool, **facts: str | None
) -> None:
    """A security event an operator caused on the command line (``clients add|remove``,
    ``vault set|delete|rotate``): written at once, through the same chain."""
    if not settings.audit_enabled:
        return
    import os

    from facade.audit.context import SecurityEvent
    from facade.audit.events import Interaction
    from facade.engine.runtime import signing_key
    from facade.vault.runtime import resolve

    try:
        recorder = open_recorder(settings, signing_key(resolve(settings)))
    except Exception as exc:  # the command itself succeeded; say the record is missing
        logging.getLogger("facade.audit").error(
            "audit record of %s not written (%s)", kind, type(exc).__name__
        )
        return
    recorder.interaction(
        Interaction(
            at=time.time(),
            method="CLI",
            path="/metadata",  # no FHIR interaction: the security event only
            query=b"",
            status=0,
            request_id=f"cli:{os.getpid()}",
            address=None,
            location=None,
            security=(SecurityEvent(kind, success, **facts),),  # type: ignore[arg-type]
        )
    )
    recorder.close()
