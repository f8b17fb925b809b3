"""Per-request envelope (pure ASGI middleware, outermost; one closure per request).

Everything the HTTP face does around every request, in one pass over the request headers
and one wrapper of ``send`` (each of these was its own middleware, with its own closure
and header copies: together about a quarter of a cached read's CPU):

- opens the request deadline (``FACADE_REQUEST_DEADLINE_SECONDS``) that bounds
  upstream queueing and retries;
- ``X-Request-Id``: the caller's when sane, else a new one;
- ``Server-Timing`` on every response: ``upstream`` (time spent in athena
  calls, including waits on shared single-flight calls), ``facade`` (the
  rest), ``total``; plus ``cache;desc=hit|miss`` when a read used the cache;
- the security headers (facade/api/headers.py) on every response;
- ``Vary: Origin`` when CORS is on and the request has no ``Origin`` (the CORS middleware
  itself runs only for requests with one: facade/api/fastpath.py ``CorsWhenOrigin``);
- the audit trail's capture (facade/api/audit.py): a note for the FHIR and ``/auth``
  requests, handed to the recorder with the status, request id and a create's ``Location``
  once the response is sent;
- one access-log line without PHI (facade/api/accesslog.py): request id, method, route
  template, parameter names, status, latencies, upstream calls, client;
- an exception escaping the app (a route or any middleware inside the envelope) is
  logged once and answered with a 500 OperationOutcome (:func:`errors.unexpected_response`);
  nothing reaches the server, which would log the exception text.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from facade.api import accesslog, audit
from facade.api.errors import unexpected_response
from facade.audit.context import NOTE, Note
from facade.engine.services import Services
from facade.upstream import deadline

log = logging.getLogger("facade.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Request ids: a random per-process prefix and a counter (uuid4 per request measured ~3%
# of a cached read); unique across workers and restarts without a syscall per request.
_PREFIX = os.urandom(6).hex()
_COUNTER = itertools.count(1)

_SANE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_FHIR_INSTANCE = re.compile(r"^(/fhir/r4/[A-Z][A-Za-z]+)/[^/]+")


def _route(path: str) -> str:
    """``/fhir/r4/Patient/a-195900.E-1`` -> ``/fhir/r4/Patient/{id}`` (ids never reach logs)."""
    return _FHIR_INSTANCE.sub(r"\1/{id}", path)


def vary_origin(headers: list[tuple[bytes, bytes]]) -> None:
    """Add ``Origin`` to the response's ``Vary`` (merged into one header, as starlette's CORS
    middleware does for the requests it answers)."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            headers[index] = (b"vary", value + b", Origin")
            return
    headers.append((b"vary", b"Origin"))


class RequestEnvelope:
    def __init__(
        self,
        app: ASGIApp,
        *,
        deadline_seconds: float,
        headers: list[tuple[bytes, bytes]],
        services: Callable[[], Services | None],
        cors: bool = False,
    ) -> None:
        self.app = app
        self.deadline_seconds = deadline_seconds
        self.headers = headers  # the security headers (facade/api/headers.py)
        self.services = services
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = ""
        origin = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                request_id = candidate if _SANE_ID.match(candidate) else ""
            elif name == b"origin":
                origin = True
        request_id = request_id or f"{_PREFIX}-{next(_COUNTER):x}"
        vary = self.cors and not origin
        path: str = scope["path"]
        services = self.services()
        note = (
            Note()
            if services is not None and services.audit.enabled and audit.audited(path)
            else None
        )
        location: str | None = None
        create = note is not None and scope["method"] == "POST"
        status = 0  # until the response starts
        clock, token = deadline.start(self.deadline_seconds)

        handed = False  # the record goes to the trail before the response's last byte

        async def send_with_headers(message: Message) -> None:
            nonlocal status, location, handed
            if (
                note is not None
                and message["type"] == "http.response.body"
                and not message.get("more_body", False)
            ):
                # A client that has the whole response finds the record queued (a flush
                # then writes it): handed over before the last body message is sent.
                handed = True
                assert services is not None
                audit.hand_over(services, scope, note, status, request_id, location)
            elif message["type"] == "http.response.start":
                status = message["status"]
                total = (time.perf_counter() - started) * 1000
                upstream = clock.upstream_seconds * 1000
                timing = (
                    f'upstream;dur={upstream:.1f};desc="{clock.upstream_calls} calls", '
                    f"facade;dur={max(0.0, total - upstream):.1f}, total;dur={total:.1f}"
                )
                for text in clock.notes:
                    timing += f", {text}"
                headers = list(message.get("headers", ()))
                if create:
                    location = audit.location(headers)
                if vary:
                    vary_origin(headers)
                headers.append((b"server-timing", timing.encode()))
                headers.append((b"x-request-id", request_id.encode()))
                headers += self.headers
                message["headers"] = headers
            await send(message)

        noted = NOTE.set(note) if note is not None else None
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            route = getattr(scope.get("route"), "path", None) or _route(path)
            response = unexpected_response(exc, route=route, request_id=request_id)
            if not status:  # otherwise the server ends the broken response
                await response(scope, receive, send_with_headers)
        finally:
            if noted is not None:
                NOTE.reset(noted)
            deadline.end(token)
            if note is not None and services is not None and not handed:
                audit.hand_over(services, scope, note, status, request_id, location)
            accesslog.emit(scope, request_id, status, started, clock)
