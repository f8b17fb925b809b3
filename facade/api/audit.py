"""The audit trail's hook in the HTTP face (pure ASGI, outermost; README "Audit trail").

Per FHIR or authorization request: a :class:`facade.audit.context.Note` in a context
variable (the authorization server fills in the verified token and the security events
it decides), the response status, the request id and a create's ``Location`` from the
response start, then one ``put_nowait`` of those facts on the recorder's queue. Building
the AuditEvent and writing it happen on the recorder's writer thread.
MCP (``/mcp``) is recorded per tool call by the MCP server itself (either transport).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from facade.audit.context import NOTE, Note
from facade.audit.events import Interaction
from facade.engine.services import Services

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FHIR = "/fhir/r4"


class AuditTrail:
    def __init__(self, app: ASGIApp, services: Callable[[], Services | None]) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith(FHIR) or path.startswith("/auth/")):
            await self.app(scope, receive, send)
            return
        note = Note()
        token = NOTE.set(note)
        status = 0
        request_id = ""
        location: str | None = None

        async def capture(message: Message) -> None:
            nonlocal status, request_id, location
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-request-id":
                        request_id = value.decode("latin-1")
                    elif name == b"location":
                        location = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            NOTE.reset(token)
            services = self.services()
            fhir = path.startswith(FHIR)
            if services is not None and (fhir or note.security):
                client = scope.get("client")
                services.audit.interaction(
                    Interaction(
                        at=time.time(),
                        method=scope["method"],
                        # /auth requests carry security events only
                        path=path[len(FHIR) :] if fhir else "/metadata",
                        query=scope.get("query_string", b"") if fhir else b"",
                        status=status,
                        request_id=request_id,
                        address=client[0] if client else None,
                        location=location,
                        note=note,
                    )
                )
