"""Plain reads and searches answered in front of the router.

``GET /fhir/r4/{Type}/{id}`` and ``GET /fhir/r4/{Type}?...`` run the route's own code
(``reads.read_cached`` / ``reads.read``, ``searches.search``: token, scope, id,
practice, compartment, cache, upstream) without FastAPI's routing, dependency
resolution and response objects.

Measured (bench P1, 2 cores, uvicorn, 64 connections): a cached Patient read
through the FastAPI router served ~3,500 req/s against ~6,800 for a bare
FastAPI route returning the same bytes; answered here, ~11,000 req/s. A search
saves the same fixed cost: about 8 % of a one-week Appointment search's CPU
(py-spy of a worker under bench P6: router, dependencies and response objects).

Only the plain case comes here: a Bearer token, a JSON (or no) ``Accept``, no
conditional or ``Prefer`` headers (``handling=strict`` and ``return`` are the
router's); a read without a query string; a search of a mapped type whose query
has no ``_format`` / ``_pretty``. When authentication fails the request falls
through to the router, which renders the error as it always does; once
authenticated, errors are rendered by the same ``error_response`` the router's
handler uses (``tests/api/test_fastpath.py`` compares both paths).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.middleware.cors import CORSMiddleware

from facade.api import routes_fhir
from facade.api.errors import error_response
from facade.engine import reads, searches
from facade.engine.services import Services
from facade.errors import FacadeError
from facade.search import parse_query

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_READ = re.compile(r"^/fhir/r4/([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")
_SEARCH = re.compile(r"^/fhir/r4/([A-Z][A-Za-z]{1,63})$")
_JSON_ACCEPT = {b"*/*", b"application/fhir+json", b"application/json+fhir"}
_CONTENT_TYPE = b"application/fhir+json; charset=utf-8"
# the router's headers for reads and searches, as bytes
_CACHE_CONTROL = routes_fhir.PRIVATE.encode()
_VARY = routes_fhir.VARY.encode()
_NO_STORE = routes_fhir.NO_STORE.encode()
_ROUTER_PARAMS = ("_format", "_pretty")  # negotiated by the router


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class PlainFastPath:
    def __init__(self, app: ASGIApp, services: Callable[[], Services | None]) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not await self._answer(scope, send)
        ):
            await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send) -> bool:
        services = self.services()
        if services is None:
            return False
        query: bytes = scope.get("query_string", b"")
        match = (_SEARCH if query else _READ).match(scope["path"])
        if match is None:
            return False
        token = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = value
            elif name == b"accept":
                if value not in _JSON_ACCEPT:
                    return False
            elif name in (b"if-none-match", b"if-modified-since", b"prefer"):
                return False
        if token[:7].lower() != b"bearer ":
            return False
        resource_type = match.group(1)
        if query:
            return await self._search(services, scope, send, token, resource_type, query)
        rid = match.group(2)
        try:
            auth = services.authz.authenticate_bearer(token[7:].decode("latin-1").strip())
            cached = reads.read_cached(services, auth, resource_type, rid)
        except FacadeError:
            return False  # the router renders authorization and id errors
        if cached is None:
            try:
                cached = await reads.read(services, auth, resource_type, rid, cache_checked=True)
            except FacadeError as exc:
                await error_response(exc)(scope, _no_body, send)
                return True
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", _CONTENT_TYPE),
                    (b"content-length", str(len(cached.body)).encode()),
                    (b"etag", cached.etag.encode()),
                    (b"cache-control", _CACHE_CONTROL),
                    (b"vary", _VARY),
                ],
            }
        )
        await send({"type": "http.response.body", "body": cached.body})
        return True

    async def _search(
        self,
        services: Services,
        scope: Scope,
        send: Send,
        token: bytes,
        resource_type: str,
        query: bytes,
    ) -> bool:
        """``routes_fhir.search_get`` for the plain case (the same parsing and engine call)."""
        if services.mappings.table(resource_type) is None:
            return False  # Group, Subscription, ...: their own routes (or the router's 404)
        items = QueryParams(query).multi_items()  # as starlette's request.query_params
        if any(name in _ROUTER_PARAMS for name, _ in items):
            return False
        try:
            auth = services.authz.authenticate_bearer(token[7:].decode("latin-1").strip())
        except FacadeError:
            return False  # the router renders authentication errors
        try:
            req = parse_query(resource_type, items)
            bundle = await searches.search(services, auth, resource_type, req, strict=False)
        except FacadeError as exc:
            await error_response(exc)(scope, _no_body, send)
            return True
        body = orjson.dumps(bundle)  # FhirResponse.render, not pretty
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", _NO_STORE),
                    (b"content-type", _CONTENT_TYPE),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return True


class CorsWhenOrigin(CORSMiddleware):
    """starlette's CORS middleware, run only for requests that carry ``Origin``.

    Without ``Origin`` (every non-browser client) CORS has nothing to decide; starlette
    still parses the request headers and rewrites the response's on every request (with
    the fast path, about 4 % of a cached read). Such a response only gets the
    ``Vary: Origin`` starlette gives it, which the request envelope adds (it reads the
    request headers anyway: facade/api/timing.py).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return
        await self.app(scope, receive, send)
