"""The audit trail's hook in the HTTP face (README "Audit trail"), run by the request
envelope (facade/api/timing.py, outermost) so that it costs no middleware of its own.

Per FHIR or authorization request: a :class:`facade.audit.context.Note` in a context
variable (the authorization server fills in the verified token and the security events
it decides, the authorization policy the patients a response holds), then, once the
response is sent, one hand-off of those facts, the response status, the request id and a
create's ``Location`` to the recorder. Building the AuditEvent and writing it happen on the
recorder's writer thread. MCP (``/mcp``) is recorded per tool call by the MCP server itself
(either transport).
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from facade.audit.context import Note
from facade.audit.events import Interaction, token
from facade.engine.services import Services

Scope = MutableMapping[str, Any]

FHIR = "/fhir/r4"


def audited(path: str) -> bool:
    """Requests that may be recorded: FHIR interactions and the authorization server."""
    return path.startswith(FHIR) or path.startswith("/auth/")


def location(headers: list[tuple[bytes, bytes]]) -> str | None:
    """A create's ``Location`` (the created id is recorded)."""
    for name, value in headers:
        if name == b"location":
            return value.decode("latin-1")
    return None


def hand_over(
    services: Services,
    scope: Scope,
    note: Note,
    status: int,
    request_id: str,
    created: str | None,
) -> None:
    """Give the recorder what a request did (``/auth`` requests: only their security events)."""
    path: str = scope["path"]
    fhir = path.startswith(FHIR)
    if not (fhir or note.security):
        return
    client = scope.get("client")
    services.audit.interaction(
        Interaction(
            time.time(),
            scope["method"],
            path[len(FHIR) :] if fhir else "/metadata",  # /auth: security events only
            scope.get("query_string", b"") if fhir else b"",
            status,
            request_id,
            client[0] if client else None,
            created,
            token(note.auth),
            tuple(note.patients),
            tuple(note.security),
        )
    )
