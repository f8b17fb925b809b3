"""The FHIR REST surface under ``/fhir/r4`` (FHIR R4 http.html), registered in one place."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from facade.api.deps import Auth, Negotiation, ServicesDep, get_negotiated, services_of
from facade.api.negotiation import Negotiated
from facade.api.response import FhirResponse
from facade.auth.context import AuthContext
from facade.engine import reads, searches
from facade.engine.services import Services
from facade.errors import UnsupportedMediaType
from facade.search import parse_query

router = APIRouter(prefix="/fhir/r4")
# PHI: the client may keep and revalidate it; shared caches must not store it.
PRIVATE = "private, no-cache"
NO_STORE = "private, no-store"
VARY = "Authorization, Accept"


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def _strict(request: Request) -> bool:
    """``Prefer: handling=strict`` (FHIR R4 search §3.1.1.4): unknown parameters are errors."""
    for value in request.headers.getlist("prefer"):
        for part in value.split(","):
            name, _, setting = part.strip().partition("=")
            if name.strip().lower() == "handling":
                return setting.strip().strip('"').lower() == "strict"
    return False


@router.get("/metadata")
async def metadata(services: ServicesDep, negotiated: Negotiation) -> Response:
    """capabilities interaction; needs no token (US-CORE-NOTES §1.6)."""
    return FhirResponse(
        services.capability, pretty=negotiated.pretty, media_type=negotiated.media_type
    )


@router.get("/.well-known/smart-configuration")
async def smart_configuration(services: ServicesDep) -> Response:
    """SMART discovery (SMART App Launch 2.0 §conformance); same URLs as /metadata's oauth-uris."""
    return JSONResponse(
        services.smart_configuration, headers={"Cache-Control": "public, max-age=300"}
    )


@router.get("/{resource_type}/{rid}")
async def read(resource_type: str, rid: str, request: Request, auth: Auth) -> Response:
    """read with a weak ETag; ``If-None-Match`` -> 304 (FHIR R4 http.html#cread).

    The hottest route: services and negotiation are taken inline rather than as
    dependencies (each dependency costs a resolution on every request).
    """
    services = services_of(request)
    negotiated = await get_negotiated(request)
    entry = await reads.read(services, auth, resource_type, rid)
    summary = request.query_params.get("_summary")
    elements = [v for raw in request.query_params.getlist("_elements") for v in raw.split(",")]
    if summary is not None or elements:
        entry = reads.shaped(
            services,
            resource_type,
            entry,
            summary=summary,
            elements=tuple(e.strip() for e in elements if e.strip()),
            strict=_strict(request),
        )
    headers = {"ETag": entry.etag, "Cache-Control": PRIVATE, "Vary": VARY}
    if _etag_matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    content = entry.resource if negotiated.pretty else entry.body
    return FhirResponse(
        content, headers=headers, pretty=negotiated.pretty, media_type=negotiated.media_type
    )


@router.get("/{resource_type}")
async def search_get(
    resource_type: str,
    request: Request,
    services: ServicesDep,
    auth: Auth,
    negotiated: Negotiation,
) -> Response:
    items = request.query_params.multi_items()
    return await _searchset(services, auth, negotiated, request, resource_type, items)


async def _searchset(
    services: Services,
    auth: AuthContext,
    negotiated: Negotiated,
    request: Request,
    resource_type: str,
    items: list[tuple[str, str]],
) -> Response:
    """The one search path behind GET and POST ``_search`` (so both return exactly the same)."""
    req = parse_query(resource_type, items)
    bundle = await searches.search(services, auth, resource_type, req, strict=_strict(request))
    return FhirResponse(
        bundle,
        headers={"Cache-Control": NO_STORE},
        pretty=negotiated.pretty,
        media_type=negotiated.media_type,
    )


@router.post("/{resource_type}/_search")
async def search_post(
    resource_type: str,
    request: Request,
    services: ServicesDep,
    auth: Auth,
    negotiated: Negotiation,
) -> Response:
    """POST search: form parameters plus any on the URL, exactly equal to GET (search §3.1.1.1.1)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if body and content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded")
    try:
        form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise UnsupportedMediaType("The form body must be UTF-8") from exc
    items = [*request.query_params.multi_items(), *form]
    return await _searchset(services, auth, negotiated, request, resource_type, items)
