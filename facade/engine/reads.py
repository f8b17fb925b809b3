"""The read interaction (FHIR R4 http.html#read): the table's read route, through the entity cache.

Authorization comes first (type, scope letter, id syntax, practice, patient
compartment), then the cache, then athena; the mapped resource is checked
against the token's compartment and granular scopes again before it is served.
"""

from __future__ import annotations

from typing import Any

from facade.auth import policy
from facade.auth.context import AuthContext
from facade.cache import SYSTEM_COMPARTMENT, Cached, render
from facade.engine import composition, registry
from facade.engine.paging import checked_records
from facade.engine.records import add_context, skipped
from facade.engine.services import Services
from facade.errors import InvalidRequest, NotFound, UpstreamError
from facade.fhir.subset import SUMMARY_MODES, Subset, check_elements
from facade.fhir.subset import apply as apply_subset
from facade.mapping.convert import to_fhir
from facade.mapping.ids import FhirId, parse_table_id
from facade.mapping.table import Table
from facade.upstream.client import raise_for_bad_request
from facade.upstream.deadline import current as current_clock

Json = dict[str, Any]


def table_of(services: Services, resource_type: str) -> Table:
    table = services.mappings.table(resource_type)
    if table is None:
        raise NotFound(f"Resource type {resource_type} is not supported by this server")
    return table


def compartment(auth: AuthContext) -> str:
    return auth.patient or SYSTEM_COMPARTMENT


def authorize_read(
    services: Services, auth: AuthContext, resource_type: str, rid: str
) -> tuple[Table, FhirId]:
    """Everything a read checks before data: type, scope, id syntax, practice."""
    table = table_of(services, resource_type)
    auth.require(resource_type, "r")
    policy.precheck_read(table, auth, rid)  # patient compartment: another id is 404
    fid = parse_table_id(rid, table.id)
    if fid.practice not in auth.practices:
        # Do not reveal whether the record exists in a practice the caller cannot reach.
        raise NotFound(f"{resource_type}/{rid} is not known")
    return table, fid


def read_cached(
    services: Services, auth: AuthContext, resource_type: str, rid: str
) -> Cached | None:
    """The cached copy of an authorized read, or None (the read then goes to athena)."""
    table, fid = authorize_read(services, auth, resource_type, rid)
    cached = services.cache.get(resource_type, fid.practice, rid, compartment(auth))
    if cached is None:
        return None
    policy.check_resource(table, auth, cached.resource, "r")  # compartment + granular scopes
    clock = current_clock()
    if clock is not None:
        clock.notes.append('cache;desc="hit"')
    return cached


async def read(
    services: Services,
    auth: AuthContext,
    resource_type: str,
    rid: str,
    *,
    cache_checked: bool = False,
) -> Cached:
    """read (FHIR R4 http.html#read), through the entity cache.

    ``cache_checked``: the caller already looked in the cache (and missed).
    """
    if not cache_checked:
        cached = read_cached(services, auth, resource_type, rid)
        if cached is not None:
            return cached
    table, fid = authorize_read(services, auth, resource_type, rid)
    clock = current_clock()
    if clock is not None:
        clock.notes.append('cache;desc="miss"')
    entry = render(await _fetch_one(services, table, fid.practice, fid.local, rid))
    services.cache.put(resource_type, fid.practice, rid, compartment(auth), entry)
    policy.check_resource(table, auth, entry.resource, "r")  # compartment + granular scopes
    return entry


async def _fetch_one(services: Services, table: Table, practice: str, local: str, rid: str) -> Json:
    resource_type = table.resource
    route = table.routes.read
    path = route.path.replace("{id}", rid).replace("{local}", local)
    if route.list_key is not None:  # records only athena lists hold (provider x department)
        return await composition.read_listed(services, table, practice, local, rid)
    if route.surface == "store":  # records the facade keeps (athena keeps none)
        kept = await registry.COLLECTIONS[route.path].get(services, practice, local)
        if kept is None:
            raise NotFound(f"{resource_type}/{rid} is not known")
        resource = to_fhir(kept, table, route.source, practice, services.mappings.codes)
        if resource.get("id") != rid:
            raise UpstreamError(f"the store returned a different {resource_type} than requested")
        return resource
    if route.surface == "fhir":
        response = await services.athena.fhir(route.method, path, practice=practice)
    else:
        response = await services.athena.rest(route.method, practice, path)
    if response.status == 404:
        raise NotFound(f"{resource_type}/{rid} is not known")
    raise_for_bad_request(response)
    body = response.body
    record = body[0] if isinstance(body, list) and len(body) == 1 else body
    (record,) = checked_records([record], table.sources[route.source].record_id or "id")
    if skipped(route, record):
        raise NotFound(f"{resource_type}/{rid} is not known")
    (record,) = await add_context(services, table, route.source, practice, [record])
    resource = to_fhir(record, table, route.source, practice, services.mappings.codes)
    resource = await composition.merge(services, table, route, practice, local, rid, resource)
    if resource.get("id") != rid:
        raise UpstreamError(f"athena returned a different {resource_type} than requested")
    return resource


def shaped(
    services: Services,
    resource_type: str,
    entry: Cached,
    *,
    summary: str | None,
    elements: tuple[str, ...],
    strict: bool,
) -> Cached:
    """A read's resource with ``_summary`` / ``_elements`` applied (FHIR R4 search.html#summary)."""
    if summary is not None and (summary == "count" or summary not in SUMMARY_MODES):
        raise InvalidRequest(
            f"Invalid _summary {summary!r} on a read: expected true, text, data or false",
            expression=("_summary",),
        )
    definitions = services.mappings.elements.get(resource_type)
    wanted = Subset(summary, check_elements(definitions, resource_type, elements, strict))
    if not wanted.active:
        return entry
    return render(apply_subset(entry.resource, definitions, wanted))
