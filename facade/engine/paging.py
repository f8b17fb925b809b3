"""Paging over athena: reading upstream pages until a FHIR page is full (FHIR R4 search.html#paging).

The facade's cursor records where in athena's stable order the next page
starts (an offset for the proprietary API, athena's own cursor plus a skip
count for its FHIR API). Local filtering can make pages short, so a page keeps
reading athena until it has ``_count`` matches, athena runs out, or the
per-request upstream page budget is spent (then the page is short and the
``next`` link continues where it stopped: no gaps, no duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from facade.cache import render
from facade.engine import composition, registry
from facade.engine.records import (
    add_context,
    expand_defaults,
    fill_path,
    path_fields,
    skipped,
    with_path_fields,
)
from facade.engine.services import Services
from facade.errors import InvalidRequest, TooCostly, UpstreamError
from facade.mapping.convert import to_fhir
from facade.mapping.filter import matches
from facade.mapping.planner import UpstreamPlan, plan_search
from facade.mapping.table import Table
from facade.search import SearchRequest
from facade.upstream.client import raise_for_bad_request

Json = dict[str, Any]


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


async def collect(
    services: Services,
    table: Table,
    plan: UpstreamPlan,
    req: SearchRequest,
    start: Position,
    count: int,
    compartment: str,
    *,
    max_pages: int | None = None,
) -> tuple[list[Json], Position | None, int | None]:
    """Read athena from ``start`` until ``count`` matches; return them, the next position, total.

    At most ``max_pages`` upstream pages (default: the per-request page budget).
    """
    if plan.empty:
        return [], None, 0
    route = plan.route
    exact = plan.exact_total
    # Exploded lists page by athena offset plus a skip into the exploded records.
    offset_paging = route.surface == "rest" and route.explode is None
    page_size = max(count, 1) if exact else route.page_size
    found: list[Json] = []
    # A match is what a read would answer only when it comes from the read's own source
    # and the read merges nothing else in (Location's search maps /v1 departments, its
    # read athena's FHIR Location; Patient's /v1 searches lack previous names).
    read = table.routes.read
    cacheable = route.source == read.source and route.surface == read.surface and not read.merge
    position = start
    first_page = start.upstream is None and start.skip == 0
    upstream_total: int | None = None
    for _ in range(max_pages or services.settings.max_upstream_pages_per_request):
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
            if cacheable:
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


def checked_records(items: Any, key: str) -> list[Json]:
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
    if route.surface == "store":  # records the facade keeps, paged by offset
        offset = int(position.upstream or 0)
        collection = registry.COLLECTIONS[route.path]
        kept, more = await collection.page(services, plan.practice, params, offset, size)
        return UpstreamPage(checked_records(kept, key), offset + len(kept) if more else None, None)
    if route.surface == "rest":
        located = await composition.locate(services, route, plan.practice, params)
        if located is None:
            return UpstreamPage([], None, 0)  # the parent the path needs does not exist
        params = located
        offset = int(position.upstream or 0)
        if route.paging == "offset":
            params += [("limit", str(size)), ("offset", str(offset))]
        named = path_fields(route.path, params)
        path, params = fill_path(route.path, params)
        response = await services.athena.rest(route.method, plan.practice, path, params=params)
        if response.status == 404 and path != route.path:
            return UpstreamPage([], None, 0)  # the record named in the path does not exist
        raise_for_bad_request(response)
        body = response.body
        if isinstance(body, list):  # athena quirk: some searches answer a bare array
            rows = with_path_fields(checked_records(body, key), named)
            return UpstreamPage(rows, None, len(body))
        if not isinstance(body, dict):
            raise UpstreamError("athena returned an unexpected list shape")
        raw = body.get(route.list_key or "", [])
        records = checked_records(await composition.shape(services, route, plan.practice, raw), key)
        records = with_path_fields(records, named)
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
    records = checked_records(
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


async def count_all(
    services: Services, table: Table, plan: UpstreamPlan, req: SearchRequest, compartment: str
) -> int:
    """The number of matches of a whole search (``_summary=count``, ``_total=accurate``).

    athena's own total when every applied parameter was pushed down exactly;
    otherwise the matches are counted over at most ``max_upstream_pages_per_count``
    upstream pages, and a search that needs more is refused as too costly (a
    wrong total is never answered).
    """
    if plan.empty:
        return 0
    if plan.exact_total:
        _, _, total = await collect(services, table, plan, req, Position(None), 1, compartment)
        if total is not None:
            return total
        plan = replace(plan, exact_total=False)
    pages = services.settings.max_upstream_pages_per_count
    found, rest, _ = await collect(
        services, table, plan, req, Position(None), 10**9, compartment, max_pages=pages
    )
    if rest is not None:
        raise TooCostly(
            f"Counting this search needs more than {pages} athena pages; narrow the search",
            expression=("_total",),
        )
    return len(found)


async def collect_all(
    services: Services, table: Table, req: SearchRequest, practice: str, limit: int
) -> list[Json]:
    """Up to ``limit`` matches of a search planned in ``practice`` (for _revinclude).

    No authorization here: the caller decides what the token may see.
    """
    plan = plan_search(table, req, practice, allow_scan=services.settings.allow_scan)
    found, _, _ = await collect(services, table, plan, req, Position(None), limit, "includes")
    return found
