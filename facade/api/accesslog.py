"""The access log: one structured line per request, from the envelope's own data.

Fields (README "Operations"): ``time``, ``level``, ``request_id``, ``method``, ``route``
(the route template: ``/fhir/r4/Patient/{id}``, never the path's ids), ``status``, ``ms``
(latency), ``upstream_calls``, ``upstream_ms``, ``client`` (the token's client id, once
authenticated; at the token endpoints the client id of HTTP Basic authentication) and ``params`` (query parameter *names*). Never query values, bodies,
headers or ids: they carry PHI.

Called once per request by :class:`facade.api.timing.RequestEnvelope` after the
response, with what it measured anyway (request id, status, start time, the request
clock); the plain-read fast path runs inside the envelope, so it is logged the same way.
A route template comes from the router (``scope["route"]``); requests the router never
saw (the fast path, 404s) get their FHIR ids masked, and any other path is logged as
``(unrouted)``, since it may carry anything.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from typing import Any
from urllib.parse import unquote

from facade.api.limits import parameter_names
from facade.upstream.deadline import RequestClock

log = logging.getLogger("facade.access")

_FHIR_PATH = re.compile(r"^(/fhir/r4(?:/[A-Z][A-Za-z]{1,63})?)(?:/([^/]+))?(/.*)?$")
_KNOWN = ("/healthz", "/readyz", "/metrics", "/mcp", "/.well-known/")
_NAME = re.compile(r"^[A-Za-z0-9_:.\-]{1,64}$")  # a parameter name; anything else is "?"


def route_template(scope: Any) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    raw: str = scope.get("path", "")
    match = _FHIR_PATH.match(raw)
    if match is not None:
        head, ident, tail = match.groups()
        if ident is None:
            return head
        if ident.startswith(("$", "_")) or ident == "metadata":
            return head + "/" + ident + ("/{…}" if tail else "")
        return head + "/{id}" + ("/{…}" if tail else "")
    if raw.startswith(_KNOWN):
        return raw
    return "(unrouted)"


def _basic_client(scope: Any) -> str | None:
    """The client id of HTTP Basic client authentication (the token endpoints); never the
    secret."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value[:6].lower() == b"basic ":
            try:
                user = base64.b64decode(value[6:].strip(), validate=True).partition(b":")[0]
                text = unquote(user.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return None
            return text if _NAME.match(text) else None
    return None


def emit(scope: Any, request_id: str, status: int, started: float, clock: RequestClock) -> None:
    """One access line (INFO on ``facade.access``); nothing when that logger is off."""
    if not log.isEnabledFor(logging.INFO):
        return
    query = scope.get("query_string", b"")
    fields = {
        "request_id": request_id,
        "method": scope.get("method"),
        "route": route_template(scope),
        "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "upstream_calls": clock.upstream_calls,
        "upstream_ms": round(clock.upstream_seconds * 1000, 1),
        "client": clock.client or (_basic_client(scope) if scope.get("method") == "POST" else None),
        "params": [n if _NAME.match(n) else "?" for n in parameter_names(query, 100)]
        if query
        else [],
    }
    # the record made directly: Logger.info would also look up the caller's frame (~5 us)
    record = log.makeRecord(log.name, logging.INFO, __file__, 0, "request", (), None)
    record.fields = fields
    log.handle(record)
