"""Bulk Data Access 2.0.0 under ``/fhir/r4``: Group, the three kick-offs, status and files.

HTTP only: each handler turns the request into a call of :class:`facade.bulk.Bulk`
and renders the answer (IG "Bulk Data Kick-off Request", "Bulk Data Status
Request", "File Request"). Registered before the other FHIR routers so that
``Patient/$export`` is not a type-level operation and ``Group`` not a table type.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from facade.api.deps import Auth, Negotiation
from facade.api.response import FhirResponse
from facade.bulk import Bulk
from facade.bulk.groups import group, groups
from facade.bulk.ndjson import NDJSON
from facade.bulk.plan import Level
from facade.engine.operations import parameters
from facade.errors import InvalidRequest, NotFound, UnsupportedMediaType
from facade.fhir.bundle import searchset
from facade.fhir.outcome import outcome

router = APIRouter(prefix="/fhir/r4")
NO_STORE = {"Cache-Control": "no-store"}
JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}


def bulk_of(request: Request) -> Bulk:
    bulk: Bulk | None = getattr(request.app.state, "bulk", None)
    if bulk is None:
        raise NotFound("Bulk Data export is not enabled on this server")
    return bulk


def _prefer(request: Request) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in request.headers.getlist("prefer"):
        for part in value.split(","):
            name, _, setting = part.strip().partition("=")
            found[name.strip().lower()] = setting.strip().strip('"').lower()
    return found


async def _items(request: Request) -> list[tuple[str, str]]:
    items = list(request.query_params.multi_items())
    if request.method != "POST":
        return items
    raw = await request.body()
    if not raw:
        return items
    if request.headers.get("content-type", "").split(";")[0].strip().lower() not in JSON_TYPES:
        raise UnsupportedMediaType("A POST kick-off takes a Parameters resource (FHIR JSON)")
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("The body is not valid JSON") from exc
    return [*items, *parameters(body)]


async def _kick_off(request: Request, auth: Auth, level: Level, group: str | None) -> Response:
    bulk = bulk_of(request)
    prefer = _prefer(request)
    query = request.url.query
    started = await bulk.kick_off(
        auth,
        level=level,
        group=group,
        items=await _items(request),
        post=request.method == "POST",
        lenient=prefer.get("handling") == "lenient",
        request_url=f"{bulk.settings.base_url}{request.url.path}" + (f"?{query}" if query else ""),
    )
    body = outcome(
        "informational", "Export accepted; poll Content-Location", severity="information"
    )
    body["issue"] += [issue for note in started.notes for issue in note["issue"]]
    headers = {**NO_STORE, "Content-Location": started.status_url}
    return FhirResponse(body, 202, headers)


@router.api_route("/$export", methods=["GET", "POST"])
async def export_system(request: Request, auth: Auth) -> Response:
    """System-level export (``[base]/$export``): every type the token may read."""
    return await _kick_off(request, auth, "system", None)


@router.api_route("/Patient/$export", methods=["GET", "POST"])
async def export_patients(request: Request, auth: Auth) -> Response:
    """Patient-level export: all patients of every practice the token reaches."""
    return await _kick_off(request, auth, "patient", None)


@router.api_route("/Group/{group_id}/$export", methods=["GET", "POST"])
async def export_group(group_id: str, request: Request, auth: Auth) -> Response:
    """Group-level export: the patients of one practice (``a-1.c-{practiceid}``)."""
    return await _kick_off(request, auth, "group", group_id)


@router.get("/Group")
async def search_groups(request: Request, auth: Auth, negotiated: Negotiation) -> Response:
    bulk = bulk_of(request)
    wanted = {v for raw in request.query_params.getlist("_id") for v in raw.split(",") if v}
    found = [g for g in groups(auth) if not wanted or g["id"] in wanted]
    base = bulk.settings.fhir_base
    query = request.url.query
    bundle = searchset(
        base=base,
        matches=found,
        self_url=f"{base}/Group" + (f"?{query}" if query else ""),
        next_url=None,
        previous_url=None,
        total=len(found),
        includes=[],
    )
    return FhirResponse(
        bundle,
        headers={"Cache-Control": "private, no-store"},
        pretty=negotiated.pretty,
        media_type=negotiated.media_type,
    )


@router.get("/Group/{group_id}")
async def read_group(
    group_id: str, request: Request, auth: Auth, negotiated: Negotiation
) -> Response:
    bulk_of(request)
    return FhirResponse(
        group(auth, group_id),
        headers={"Cache-Control": "private, no-cache"},
        pretty=negotiated.pretty,
        media_type=negotiated.media_type,
    )


@router.get("/bulk/status/{job_id}")
async def export_status(job_id: str, request: Request, auth: Auth) -> Response:
    """202 + ``X-Progress`` + ``Retry-After`` while running; 200 + manifest; 500 if failed."""
    bulk = bulk_of(request)
    status = await bulk.status(auth, job_id)
    if status.state == "completed":
        headers = dict(NO_STORE)
        if status.expires_at is not None:
            headers["Expires"] = formatdate(status.expires_at, usegmt=True)
        return FhirResponse(status.manifest, 200, headers, media_type="application/json")
    if status.state == "failed":
        body = outcome("exception", status.error or "The export failed")
        return FhirResponse(body, 500, dict(NO_STORE))
    headers = {
        **NO_STORE,
        "X-Progress": status.progress[:99] or "in progress",
        "Retry-After": str(bulk.settings.bulk_retry_after_seconds),
    }
    return Response(status_code=202, headers=headers)


@router.delete("/bulk/status/{job_id}")
async def export_delete(job_id: str, request: Request, auth: Auth) -> Response:
    """Cancel a running export or delete a finished one's files; later polls are 404."""
    await bulk_of(request).cancel(auth, job_id)
    body = outcome("informational", "Export deleted", severity="information")
    return FhirResponse(body, 202, dict(NO_STORE))


@router.get("/bulk/files/{job_id}/{name}")
async def export_file(job_id: str, name: str, request: Request, auth: Auth) -> Response:
    """One NDJSON file, streamed; only for tokens of the client that started the export."""
    path = await bulk_of(request).file(auth, job_id, name)
    return FileResponse(path, media_type=NDJSON, headers={"Cache-Control": "private, no-store"})
