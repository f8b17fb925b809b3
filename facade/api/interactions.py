"""FHIR interactions on top of the planner, the mapping functions and AthenaClient.

read:   FHIR R4 http.html#read    -> the table's read route
search: FHIR R4 search.html       -> planner -> upstream pages -> to_fhir -> local filter
        -> searchset Bundle with signed, stateless paging links.

Paging over athena: the facade's cursor records where in athena's stable order
the next page starts (an offset for the proprietary API, athena's own cursor
plus a skip count for its FHIR API). Local filtering can make pages short, so a
page keeps reading athena until it has ``_count`` matches, athena runs out, or
the per-request upstream page budget is spent (then the page is short and the
``next`` link continues where it stopped: no gaps, no duplicates).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from facade.api import composition, includes
from facade.api.records import add_context, expand_defaults, fill_path, skipped
from facade.api.services import Services
from facade.auth import policy
from facade.auth.context import AuthContext
from facade.cache import SYSTEM_COMPARTMENT, Cached, render
from facade.errors import Forbidden, InvalidCursor, InvalidRequest, NotFound, UpstreamError
from facade.fhir.bundle import searchset
from facade.mapping.convert import to_fhir
from facade.mapping.filter import matches, validate_request
from facade.mapping.ids import FhirId, parse_practice_reference, parse_table_id
from facade.mapping.planner import UpstreamPlan, plan_search
from facade.mapping.table import Table
from facade.search import SearchRequest, format_query, query_fingerprint, to_query_string
from facade.upstream.client import raise_for_bad_request
from facade.upstream.deadline import current as current_clock

Json = dict[str, Any]
MAX_HISTORY = 25  # previous-page positions carried in a cursor


@dataclass(frozen=True)
class Position:
    upstream: int | str | None  # offset (proprietary) or athena cursor (FHIR); None = first page
    skip: int = 0  # records of that upstream page already consumed

    def dump(self) -> list[Any]:
        return [self.upstream, self.skip]

    @classmethod
    def load(cls, raw: Any) -> Position:
        if not isinstance(raw, list) or len(raw) != 2 or not isinstance(raw[1], int):
            raise InvalidRequest("The paging link is invalid")
        return cls(raw[0], raw[1])


@dataclass(frozen=True)
class UpstreamPage:
    records: list[Json]
    next_upstream: int | str | None
    total: int | None


def _table(services: Services, resource_type: str) -> Table:
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
    table = _table(services, resource_type)
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
    if route.surface == "fhir":
        response = await services.athena.fhir(route.method, path, practice=practice)
    else:
        response = await services.athena.rest(route.method, practice, path)
    if response.status == 404:
        raise NotFound(f"{resource_type}/{rid} is not known")
    raise_for_bad_request(response)
    body = response.body
    record = body[0] if isinstance(body, list) and len(body) == 1 else body
    (record,) = _records([record], table.sources[route.source].record_id or "id")
    if skipped(route, record):
        raise NotFound(f"{resource_type}/{rid} is not known")
    (record,) = await add_context(services, table, route.source, practice, [record])
    resource = to_fhir(record, table, route.source, practice, services.mappings.codes)
    resource = await composition.merge(services, table, route, practice, local, rid, resource)
    if resource.get("id") != rid:
        raise UpstreamError(f"athena returned a different {resource_type} than requested")
    return resource


def search_practice(services: Services, auth: AuthContext, req: SearchRequest) -> str:
    """The one practice a search runs in: token context, narrowed by ah-practice, else default."""
    requested = {parse_practice_reference(v) for p in req.get("ah-practice") for v in p.values}
    if len(requested) > 1:
        raise InvalidRequest("A search runs in one practice; give one ah-practice")
    if requested:
        practice = requested.pop()
        if practice not in auth.practices:
            raise Forbidden(f"The access token does not grant practice {practice}")
        return practice
    if len(auth.practices) == 1:
        return auth.practices[0]
    default = services.settings.default_practice
    if default not in auth.practices:
        raise InvalidRequest("Give ah-practice: the access token spans several practices")
    return default


async def search(
    services: Services,
    auth: AuthContext,
    resource_type: str,
    req: SearchRequest,
    *,
    strict: bool,
) -> Json:
    table = _table(services, resource_type)
    auth.require(resource_type, "s")
    settings = services.settings
    req, wanted = includes.supported(table, validate_request(table, req, strict=strict), strict)
    req = replace(_apply_control(req, strict=strict), include=wanted[0], revinclude=wanted[1])
    req = policy.restrict_search(table, auth, req)  # pins the compartment, granular scopes
    practice = search_practice(services, auth, req)
    count = min(settings.max_count, req.count if req.count is not None else settings.default_count)
    req = replace(req, count=count)
    fingerprint = query_fingerprint(replace(req, cursor=None))
    now = time.time()

    if req.cursor:
        state = services.cursors.decode(req.cursor, now=now)
        if state.get("q") != fingerprint or state.get("p") != practice:
            raise InvalidRequest("The paging link does not belong to this search")
        plan = plan_search(
            table, replace(req, cursor=None), practice, allow_scan=settings.allow_scan
        )
        if plan.route.name != state.get("r"):
            raise InvalidCursor("The paging link is stale; repeat the search")
        start = Position.load(state.get("o"))
        history = [Position.load(h) for h in state.get("h", [])]
    else:
        plan = plan_search(table, req, practice, allow_scan=settings.allow_scan)
        start, history = Position(None), []

    found: list[Json]
    next_pos: Position | None
    if count == 0:  # _count=0: only the total, when athena can tell it (search §3.1.1.5.3)
        _, _, total = await _collect(services, table, plan, req, start, 1, compartment(auth))
        found, next_pos = [], None
    else:
        found, next_pos, total = await _collect(
            services, table, plan, req, start, count, compartment(auth)
        )
    found = policy.filter_results(table, auth, found)  # safety net behind the pinned search
    base = settings.fhir_base

    def link(position: Position | None, prior: list[Position]) -> str:
        items = format_query(replace(req, cursor=None))
        if position is not None:
            token = services.cursors.encode(
                {
                    "q": fingerprint,
                    "p": practice,
                    "r": plan.route.name,
                    "o": position.dump(),
                    "h": [h.dump() for h in prior[-MAX_HISTORY:]],
                },
                now=now,
            )
            items = [*items, ("_cursor", token)]
        return f"{base}/{resource_type}?{to_query_string(items)}"

    self_url = link(start, history) if req.cursor else link(None, [])
    next_url = link(next_pos, [*history, start]) if next_pos is not None else None
    previous_url = None
    if req.cursor and history:
        prior = history[-1]
        first = prior.upstream is None and prior.skip == 0
        previous_url = link(None, []) if first else link(prior, history[:-1])
    return searchset(
        base=base,
        matches=found,
        self_url=self_url,
        next_url=next_url,
        previous_url=previous_url,
        total=total,
        includes=await includes.collect(services, auth, table, req, practice, found),
    )


def _apply_control(req: SearchRequest, *, strict: bool) -> SearchRequest:
    """Result parameters this server does not implement: 400 when strict, dropped otherwise."""
    unsupported = {
        "_sort": req.sort,
        "_include": req.include,
        "_revinclude": req.revinclude,
        "_elements": req.elements,
        "_summary": req.summary,
        "_total": req.total,
    }
    present = [name for name, value in unsupported.items() if value]
    if present and strict:
        raise InvalidRequest(
            f"Unsupported result parameter(s): {', '.join(present)}", expression=tuple(present)
        )
    return replace(req, sort=(), include=(), revinclude=(), elements=(), summary=None, total=None)


async def _collect(
    services: Services,
    table: Table,
    plan: UpstreamPlan,
    req: SearchRequest,
    start: Position,
    count: int,
    compartment: str,
) -> tuple[list[Json], Position | None, int | None]:
    """Read athena from ``start`` until ``count`` matches; return them, the next position, total."""
    if plan.empty:
        return [], None, 0
    route = plan.route
    exact = plan.exact_total
    # Exploded lists page by athena offset plus a skip into the exploded records.
    offset_paging = route.surface == "rest" and route.explode is None
    page_size = max(count, 1) if exact else route.page_size
    found: list[Json] = []
    position = start
    first_page = start.upstream is None and start.skip == 0
    upstream_total: int | None = None
    for _ in range(services.settings.max_upstream_pages_per_request):
        page = await _fetch(services, table, plan, position, page_size)
        upstream_total = page.total
        records = await add_context(services, table, route.source, plan.practice, page.records)
        for index in range(position.skip, len(records)):
            record = records[index]
            if skipped(route, record):
                continue
            resource = to_fhir(record, table, route.source, plan.practice, services.mappings.codes)
            if not matches(resource, table, req):
                continue
            found.append(resource)
            if not table.routes.read.merge:  # a read adds merged sources a search lacks
                services.cache.put(
                    table.resource, plan.practice, resource["id"], compartment, render(resource)
                )
            if len(found) >= count:
                nxt = _after(position, index + 1, page, offset_paging)
                return found, nxt, (upstream_total if exact else None)
        if page.next_upstream is None:
            # Everything was read: on a first page the number of matches is the total.
            total = upstream_total if exact else (len(found) if first_page else None)
            return found, None, total
        position = Position(page.next_upstream)
    # Upstream page budget spent: return a short page; ``next`` continues from here.
    return found, position, (upstream_total if exact else None)


def _after(
    position: Position, consumed: int, page: UpstreamPage, offset_paging: bool
) -> Position | None:
    """The position just after the ``consumed``-th record of the current upstream page."""
    if consumed >= len(page.records):
        return None if page.next_upstream is None else Position(page.next_upstream)
    if offset_paging:
        return Position(int(position.upstream or 0) + consumed)
    return Position(position.upstream, consumed)


def _records(items: Any, key: str) -> list[Json]:
    """athena's records, checked for the one field mapping relies on (never a 500 later)."""
    if not isinstance(items, list) or not all(
        isinstance(r, dict) and isinstance(r.get(key), (str, int)) for r in items
    ):
        raise UpstreamError("athena returned records of an unexpected shape")
    return items


async def _fetch(
    services: Services, table: Table, plan: UpstreamPlan, position: Position, size: int
) -> UpstreamPage:
    route = plan.route
    params = await expand_defaults(services, plan.practice, plan.params)
    key = table.sources[route.source].record_id or "id"
    if route.surface == "rest":
        offset = int(position.upstream or 0)
        if route.paging == "offset":
            params += [("limit", str(size)), ("offset", str(offset))]
        path, params = fill_path(route.path, params)
        response = await services.athena.rest(route.method, plan.practice, path, params=params)
        if response.status == 404 and path != route.path:
            return UpstreamPage([], None, 0)  # the record named in the path does not exist
        raise_for_bad_request(response)
        body = response.body
        if isinstance(body, list):  # athena quirk: some searches answer a bare array
            return UpstreamPage(_records(body, key), None, len(body))
        if not isinstance(body, dict):
            raise UpstreamError("athena returned an unexpected list shape")
        raw = body.get(route.list_key or "", [])
        records = _records(await composition.shape(services, route, plan.practice, raw), key)
        total = body.get("totalcount")
        total = int(total) if isinstance(total, (int, str)) and str(total).isdigit() else None
        if route.explode is not None:
            total = None  # athena counts the unexploded rows
        nxt = offset + len(raw) if body.get("next") and raw else None
        return UpstreamPage(list(records), nxt, total)
    params.append(("_count", str(size)))
    if isinstance(position.upstream, str):
        params.append(("cursor", position.upstream))
    response = await services.athena.fhir(
        route.method, route.path, practice=plan.practice, params=params
    )
    raise_for_bad_request(response)
    body = response.body
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise UpstreamError("athena returned something other than a Bundle")
    entries = body.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UpstreamError("athena returned a malformed Bundle")
    records = _records(
        [e.get("resource") for e in entries if e.get("search", {}).get("mode", "match") == "match"],
        key,
    )
    next_cursor: str | None = None
    for link in body.get("link", []):
        if link.get("relation") == "next":
            query = dict(parse_qsl(urlsplit(str(link.get("url", ""))).query))
            next_cursor = query.get("cursor")
    total = body.get("total") if isinstance(body.get("total"), int) else None
    return UpstreamPage(records, next_cursor, total)


async def collect_all(
    services: Services, table: Table, req: SearchRequest, practice: str, limit: int
) -> list[Json]:
    """Up to ``limit`` matches of a search planned in ``practice`` (for _revinclude).

    No authorization here: the caller decides what the token may see.
    """
    plan = plan_search(table, req, practice, allow_scan=services.settings.allow_scan)
    found, _, _ = await _collect(services, table, plan, req, Position(None), limit, "includes")
    return found
