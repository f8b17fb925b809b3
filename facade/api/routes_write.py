"""FHIR writes and operations under ``/fhir/r4`` (FHIR R4 http.html, operations.html).

Registered before :mod:`facade.api.routes_fhir` so that ``GET Appointment/$find``
is an operation, not a read. Every handler here parses HTTP into a call of the
write engine (:mod:`facade.engine.writes`, :mod:`facade.engine.idempotency`) or
of :mod:`facade.engine.operations` (the workflows the tables name) and renders
the outcome.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from facade.api.deps import Auth, Negotiation, ServicesDep
from facade.api.response import FhirResponse
from facade.engine import idempotency, operations, writes
from facade.engine.operations import OperationCall
from facade.engine.writes import WriteOutcome
from facade.errors import InvalidRequest, NotFound, UnsupportedMediaType

router = APIRouter(prefix="/fhir/r4")
JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
PATCH_TYPES = {"application/json-patch+json"}
MERGE_PATCH_TYPES = {"application/merge-patch+json", "application/fhir+merge-patch+json"}


class OperationConvertor(Convertor[str]):
    regex = r"\$[a-z][a-z\-]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("fhirop", OperationConvertor())


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _json_body(request: Request, allowed: set[str]) -> Any:
    content_type = _media_type(request)
    if content_type not in allowed:
        raise UnsupportedMediaType(f"The body must be one of: {', '.join(sorted(allowed))}")
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("The body is not valid JSON") from exc


def _respond(outcome: WriteOutcome, pretty: bool, media_type: str) -> Response:
    headers = {**outcome.headers, "Cache-Control": "private, no-store"}
    return FhirResponse(
        outcome.body, outcome.status, headers=headers, pretty=pretty, media_type=media_type
    )


def _key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key.strip()) <= 255:
        raise InvalidRequest("Idempotency-Key must be 1 to 255 characters")
    return key.strip() if key else None


@router.post("/{resource_type}")
async def create(
    resource_type: str,
    request: Request,
    services: ServicesDep,
    auth: Auth,
    negotiated: Negotiation,
) -> Response:
    """create (http.html#create); ``If-None-Exist`` makes it conditional (#ccreate)."""
    body = await _json_body(request, JSON_TYPES)
    outcome = await idempotency.create(
        services,
        auth,
        resource_type,
        body,
        key=_key(request),
        condition=request.headers.get("if-none-exist") or _query_condition(request),
    )
    return _respond(outcome, negotiated.pretty, negotiated.media_type)


def _query_condition(request: Request) -> str | None:
    """Search parameters on a create's URL, as fhirpy's ``get_or_create`` sends them, are its
    ``If-None-Exist`` condition (the header wins when both are given)."""
    items = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("_format", "_pretty")
    ]
    return urlencode(items) if items else None


@router.put("/{resource_type}/{rid}")
async def update(
    resource_type: str,
    rid: str,
    request: Request,
    services: ServicesDep,
    auth: Auth,
    negotiated: Negotiation,
) -> Response:
    """update (http.html#update): the state changes the table declares."""
    body = await _json_body(request, JSON_TYPES)
    outcome = await writes.update(services, auth, resource_type, rid, body)
    return _respond(outcome, negotiated.pretty, negotiated.media_type)


@router.patch("/{resource_type}/{rid}")
async def patch(
    resource_type: str,
    rid: str,
    request: Request,
    services: ServicesDep,
    auth: Auth,
    negotiated: Negotiation,
) -> Response:
    """patch (http.html#patch): JSON Patch (``application/json-patch+json``) or JSON Merge
    Patch (``application/merge-patch+json``); plain JSON by the shape of the body."""
    document = await _json_body(request, PATCH_TYPES | MERGE_PATCH_TYPES | JSON_TYPES)
    # Plain JSON (what fhirpy and many HTTP clients send): an array is a JSON Patch, an
    # object a merge patch; the specific media types say which outright.
    kind = _media_type(request)
    merge = kind in MERGE_PATCH_TYPES or (kind in JSON_TYPES and isinstance(document, dict))
    outcome = await writes.patch(services, auth, resource_type, rid, document, merge=merge)
    return _respond(outcome, negotiated.pretty, negotiated.media_type)


@router.delete("/{resource_type}")
@router.delete("/{resource_type}/{rid}")
async def delete(resource_type: str, services: ServicesDep, auth: Auth) -> Response:
    """delete and conditional delete (http.html#delete): always 405 with an
    OperationOutcome saying what to do instead (athena deletes none of these records)."""
    writes.delete(services, auth, resource_type)
    raise AssertionError("unreachable: delete always raises")


@router.api_route("/{resource_type}/{op:fhirop}", methods=["GET", "POST"])
async def operation(
    resource_type: str,
    op: str,
    request: Request,
    services: ServicesDep,
    auth: Auth,
    negotiated: Negotiation,
) -> Response:
    """Type-level operations the tables declare ($find, $book), run by their workflows."""
    name = op.removeprefix("$")
    operations.handler(services, resource_type, name, request.method)  # 404 before the body
    call = OperationCall(
        resource_type,
        name,
        request.method,
        params=list(request.query_params.multi_items()),
        body=await _json_body(request, JSON_TYPES) if request.method == "POST" else None,
        key=_key(request),
        condition=request.headers.get("if-none-exist") or None,
    )
    outcome = await operations.invoke(services, auth, call)
    return _respond(outcome, negotiated.pretty, negotiated.media_type)


@router.get("/OperationDefinition/{rid}")
async def operation_definition(
    rid: str, services: ServicesDep, auth: Auth, negotiated: Negotiation
) -> Response:
    """The OperationDefinitions /metadata names (generated from the tables)."""
    definition = services.operation_definitions.get(rid)
    if definition is None:
        raise NotFound(f"OperationDefinition/{rid} is not known")
    return FhirResponse(definition, pretty=negotiated.pretty, media_type=negotiated.media_type)
