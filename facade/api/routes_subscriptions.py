"""``Subscription`` (Subscriptions R5 Backport IG 1.1.0 on R4), its ``$status`` and
``$events``, and the inbound endpoint of athena's push platform. Registered before the
table routes, so ``/fhir/r4/Subscription`` is never taken for a mapping table. Every
handler parses HTTP into a call of :mod:`facade.events.subscriptions` and renders it.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from facade.api.deps import Auth, Negotiation
from facade.api.response import FhirResponse
from facade.api.routes_write import JSON_TYPES, _json_body
from facade.engine.operations import parameters
from facade.errors import InvalidRequest, NotFound
from facade.events import push, subscriptions
from facade.events.runtime import EventEngine

router = APIRouter()
BASE = "/fhir/r4/Subscription"
NO_STORE = {"Cache-Control": "private, no-store"}


def _engine(request: Request) -> EventEngine:
    engine: EventEngine | None = getattr(request.app.state, "events", None)
    if engine is None:
        raise NotFound("Subscriptions are not enabled on this server")
    return engine


def _fhir(body: Any, negotiated: Any, status: int = 200, **headers: str) -> Response:
    return FhirResponse(
        body,
        status,
        headers={**NO_STORE, **headers},
        pretty=negotiated.pretty,
        media_type=negotiated.media_type,
    )


async def _items(request: Request) -> list[tuple[str, str]]:
    items = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("_format", "_pretty")
    ]
    if request.method == "POST" and await request.body():
        items += parameters(await _json_body(request, JSON_TYPES))
    return items


@router.post(BASE)
async def create(request: Request, auth: Auth, negotiated: Negotiation) -> Response:
    engine = _engine(request)
    created = await subscriptions.create(engine, auth, await _json_body(request, JSON_TYPES))
    location = f"{engine.settings.fhir_base}/Subscription/{created['id']}"
    return _fhir(created, negotiated, 201, Location=location)


@router.get(BASE)
async def search(request: Request, auth: Auth, negotiated: Negotiation) -> Response:
    return _fhir(
        await subscriptions.search(_engine(request), auth, await _items(request)), negotiated
    )


@router.api_route(BASE + "/$status", methods=["GET", "POST"])
async def type_status(request: Request, auth: Auth, negotiated: Negotiation) -> Response:
    body = await subscriptions.status(_engine(request), auth, None, await _items(request))
    return _fhir(body, negotiated)


@router.get(BASE + "/{sid}")
async def read(sid: str, request: Request, auth: Auth, negotiated: Negotiation) -> Response:
    return _fhir(await subscriptions.read(_engine(request), auth, sid), negotiated)


@router.put(BASE + "/{sid}")
async def update(sid: str, request: Request, auth: Auth, negotiated: Negotiation) -> Response:
    body = await _json_body(request, JSON_TYPES)
    return _fhir(await subscriptions.update(_engine(request), auth, sid, body), negotiated)


@router.delete(BASE + "/{sid}")
async def delete(sid: str, request: Request, auth: Auth) -> Response:
    await subscriptions.delete(_engine(request), auth, sid)
    return Response(status_code=204, headers=NO_STORE)


@router.api_route(BASE + "/{sid}/$status", methods=["GET", "POST"])
async def status(sid: str, request: Request, auth: Auth, negotiated: Negotiation) -> Response:
    body = await subscriptions.status(_engine(request), auth, sid, [])
    return _fhir(body, negotiated)


@router.api_route(BASE + "/{sid}/$events", methods=["GET", "POST"])
async def events(sid: str, request: Request, auth: Auth, negotiated: Negotiation) -> Response:
    body = await subscriptions.events(_engine(request), auth, sid, await _items(request))
    return _fhir(body, negotiated)


@router.post("/events/athena")
async def athena_push(request: Request) -> Response:
    """athena's Event Subscription Platform delivers here (X-Hub-Signature, not a token)."""
    engine = _engine(request)
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("The body is not valid JSON") from exc
    queued = await push.receive(engine, raw, request.headers.get("x-hub-signature"), body)
    return JSONResponse({"queued": queued})
