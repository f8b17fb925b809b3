"""FHIR writes and operations under ``/fhir/r4`` (FHIR R4 http.html, operations.html).

Registered before :mod:`facade.api.routes_fhir` so that ``GET Appointment/$find``
is an operation, not a read. Every handler here delegates to the write engine
(:mod:`facade.api.writes`, :mod:`facade.api.idempotency`) or to the handlers
the tables' operations name (:mod:`facade.api.scheduling`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from facade.api import idempotency, interactions, scheduling, writes
from facade.api.deps import Auth, Negotiation, ServicesDep
from facade.api.response import FhirResponse
from facade.api.services import Services
from facade.api.writes import WriteOutcome
from facade.auth.context import AuthContext
from facade.errors import InvalidRequest, NotFound, UnsupportedMediaType
from facade.search import parse_query

router = APIRouter(prefix="/fhir/r4")
JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
PATCH_TYPES = {"application/json-patch+json"}


class OperationConvertor(Convertor[str]):
    regex = r"\$[a-z][a-z\-]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("fhirop", OperationConvertor())


async def _json_body(request: Request, allowed: set[str]) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
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
    key = _key(request)
    condition = request.headers.get("if-none-exist")
    if condition:
        existing = await _if_none_exist(services, auth, resource_type, condition)
        if existing is not None:
            return _respond(existing, negotiated.pretty, negotiated.media_type)
        key = key or f"if-none-exist:{resource_type}?{condition}"
    outcome = await idempotency.create(services, auth, resource_type, body, key=key)
    return _respond(outcome, negotiated.pretty, negotiated.media_type)


async def _if_none_exist(
    services: Services, auth: AuthContext, resource_type: str, condition: str
) -> WriteOutcome | None:
    """Conditional create (http.html#ccreate): the one match of ``If-None-Exist`` (200), or None.

    Several matches are an error; none means the write goes ahead, keyed by the condition.
    """
    req = parse_query(resource_type, parse_qsl(condition, keep_blank_values=True))
    found = await interactions.search(services, auth, resource_type, req, strict=True)
    matches = [e["resource"] for e in found.get("entry", [])]
    if len(matches) > 1:
        raise InvalidRequest(f"If-None-Exist matches {len(matches)} resources")
    if not matches:
        return None
    existing = await interactions.read(services, auth, resource_type, matches[0]["id"])
    return WriteOutcome(200, existing.resource, {"ETag": existing.etag})


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
    """patch (http.html#patch) with JSON Patch (``application/json-patch+json``)."""
    operations = await _json_body(request, PATCH_TYPES)
    outcome = await writes.patch(services, auth, resource_type, rid, operations)
    return _respond(outcome, negotiated.pretty, negotiated.media_type)


def _operation(services: Any, resource_type: str, op: str, method: str) -> None:
    table = services.mappings.table(resource_type)
    ops = table.writes.operations if table is not None and table.writes else []
    if not any(o.name == op.removeprefix("$") and method in o.methods for o in ops):
        raise NotFound(f"Operation {resource_type}/{op} ({method}) is not supported")


@router.api_route("/{resource_type}/{op:fhirop}", methods=["GET", "POST"])
async def operation(
    resource_type: str,
    op: str,
    request: Request,
    services: ServicesDep,
    auth: Auth,
    negotiated: Negotiation,
) -> Response:
    """Type-level operations the tables declare ($find, $book)."""
    _operation(services, resource_type, op, request.method)
    if (resource_type, op) == ("Appointment", "$find"):
        items = list(request.query_params.multi_items())
        if request.method == "POST":
            items += _parameters(await _json_body(request, JSON_TYPES))
        bundle = await scheduling.find(services, auth, items)
        return _respond(WriteOutcome(200, bundle, {}), negotiated.pretty, negotiated.media_type)
    if (resource_type, op) == ("Appointment", "$book"):
        body = await _json_body(request, JSON_TYPES)
        key = _key(request)
        condition = request.headers.get("if-none-exist")
        if condition:  # as for create: a matching Appointment is the answer, nothing is booked
            auth.require(resource_type, "c")
            existing = await _if_none_exist(services, auth, resource_type, condition)
            if existing is not None:
                bundle = scheduling.book_result(services, existing.body)
                return _respond(
                    WriteOutcome(200, bundle, {}), negotiated.pretty, negotiated.media_type
                )
            key = key or f"if-none-exist:{resource_type}/$book?{condition}"
        outcome = await scheduling.book(services, auth, body, key=key)
        return _respond(outcome, negotiated.pretty, negotiated.media_type)
    raise NotFound(f"Operation {resource_type}/{op} is not supported")


def _parameters(body: Any) -> list[tuple[str, str]]:
    """A Parameters resource of primitive values as (name, value) pairs."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidRequest("The body must be a Parameters resource", expression=("Parameters",))
    items = []
    for parameter in body.get("parameter") or []:
        value = next(
            (v for k, v in parameter.items() if k.startswith("value") and k != "valueCoding"),
            None,
        )
        coding = parameter.get("valueCoding")
        if isinstance(coding, dict):
            value = f"{coding.get('system', '')}|{coding.get('code', '')}"
        if isinstance(value, dict):
            value = value.get("reference")
        if value is not None:
            items.append((str(parameter.get("name")), str(value)))
    return items


@router.get("/OperationDefinition/{rid}")
async def operation_definition(
    rid: str, services: ServicesDep, auth: Auth, negotiated: Negotiation
) -> Response:
    """The OperationDefinitions /metadata names (generated from the tables)."""
    definition = services.operation_definitions.get(rid)
    if definition is None:
        raise NotFound(f"OperationDefinition/{rid} is not known")
    return FhirResponse(definition, pretty=negotiated.pretty, media_type=negotiated.media_type)
