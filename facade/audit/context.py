"""What the request in flight tells the audit trail, gathered while it runs.

The HTTP face opens a :class:`Note` per request (the envelope, facade/api/timing.py, when
the trail is on) and keeps it in a context variable; code that learns something the AuditEvent needs adds it here, without
knowing about the recorder: the authorization server notes the verified token
(:func:`note_auth`) and every security event it decides (:func:`security`); the
authorization policy notes the patients whose records a response holds (:func:`note_patient`). Outside a
request (MCP over stdio, bulk jobs, the CLI) there is no note and these are no-ops.
Nothing here holds a secret: tokens are identified by ``jti`` only.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from facade.auth.context import AuthContext

SECURITY_KINDS = ("login", "token", "refresh", "revoke", "register", "consent", "vault")


@dataclass(frozen=True)
class SecurityEvent:
    kind: str  # one of SECURITY_KINDS
    success: bool
    client_id: str | None = None
    user: str | None = None  # the end user's name (sub)
    fhir_user: str | None = None  # relative reference
    jti: str | None = None  # the token this event issued or revoked
    patient: str | None = None  # the patient a consent or token is for
    detail: str = ""  # e.g. the grant type or the OAuth error code; never a secret


MAX_PATIENTS = 100  # patients one record names (a search page holds at most this many)


class Note:
    """One per audited request (a plain class with slots: cheaper to make than a dataclass
    with two list factories)."""

    __slots__ = ("auth", "patients", "security")

    def __init__(
        self,
        auth: AuthContext | None = None,
        security: list[SecurityEvent] | None = None,
        patients: list[str] | None = None,
    ) -> None:
        self.auth = auth
        self.security: list[SecurityEvent] = security if security is not None else []
        self.patients: list[str] = patients if patients is not None else []  # whose records


NOTE: ContextVar[Note | None] = ContextVar("audit_note", default=None)


def note_auth(auth: AuthContext) -> None:
    """The request's verified token (the last one wins: one token per request)."""
    note = NOTE.get()
    if note is not None:
        note.auth = auth


def recording() -> Note | None:
    """The note of the request in flight, if any (callers skip their work without one)."""
    return NOTE.get()


def note_patient(note: Note, patient: str) -> None:
    if patient not in note.patients and len(note.patients) < MAX_PATIENTS:
        note.patients.append(patient)


def security(kind: str, success: bool, **facts: str | None) -> None:
    """A security event of the request in flight (``facts``: see :class:`SecurityEvent`)."""
    note = NOTE.get()
    if note is not None:
        note.security.append(SecurityEvent(kind, success, **facts))  # type: ignore[arg-type]
