"""Paging over athena: reading upstream pages until a FHIR page is full (FHIR R4 search.html#paging).

The facade's cursor records where in athena's stable order the next page
starts (an offset for the proprietary API, athena's own cursor plus a skip
count for its FHIR API). Local filtering can make pages short, so a page keeps
reading athena until it has ``_count`` matches, athena runs out, or the
per-request upstream page budget is spent (then the page is short and the
``next`` link continues where it stopped: no gaps, no duplicates).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from facade.cache import render
from facade.engine import composition, registry
from facade.engine.records import (
    context_at,
    expand_defaults,
    fill_path,
    path_fields,
    skipped,
    with_path_fields,
)
from facade.engine.services import Services
from facade.errors import InvalidRequest, TooCostly, UpstreamError
from facade.mapping.convert import to_fhir_remembered
from facade.mapping.filter import search_filters
from facade.mapping.planner import UpstreamPlan, plan_search
from facade.mapping.table import Table
from facade.search import SearchRequest
from facade.upstream.client import raise_for_bad_request

Json = dict[str, Any]


@dataclass(frozen=True)
class Position:
    upstream: int | str | None  # offset (proprietary) or athena cursor (FHIR); None = first page
    skip: int = 0  # records of that upstream page already consumed
    # athena cursor pages: the page size ``skip`` counts in (the same page is read again)
    size: int | None = None

    def dump(self) -> list[Any]:
        if self.size is None:
            return [self.upstream, self.skip]
        return [self.upstream, self.skip, self.size]

    @classmethod
    def load(cls, raw: Any) -> Position:
        if not isinstance(raw, list) or len(raw) not in (2, 3) or not isinstance(raw[1], int):
            raise InvalidRequest("The paging link is invalid")
        size = raw[2] if len(raw) == 3 else None
        if size is not None and (not isinstance(size, int) or size < 1):
            raise InvalidRequest("The paging link is invalid")
        return cls(raw[0], raw[1], size)


@dataclass(frozen=True)
class UpstreamPage:
    """An athena list page. A kept one (``_keep``) holds only the records from ``start`` on:
    the ones before were consumed by the FHIR page that stopped inside it."""

    records: list[Json]
    next_upstream: int | str | None
    total: int | None
    start: int = 0  # the index in athena's page of ``records[0]``

    @property
    def end(self) -> int:
        """How many records athena's page had."""
        return self.start + len(self.records)


# Records matched between two yields to the event loop: a 1000-record athena page (a
# bulk export pages through whole pages) would otherwise hold every other request on this
# worker for the whole page (bench P5: interactive reads during an export).
YIELD_EVERY = 200

# An upstream page asked for this many times the matches it should yield (the rest of
# a FHIR page then rarely needs a second athena call; see page_size). The recent worst
# records-per-match is already a high quantile, so no margin beyond ``count + 1``: on the
# one-week Appointment search (bench P6, one run each way) 1.0 reads 17 % fewer athena
# bytes per result than 1.2 (4.2 vs 5.0 KB) at one call per search in the sample; the
# odd search it leaves short continues with a page as large again (``collect``), not
# athena's maximum. (1.2 had read a fifth fewer records than 1.5.)
SIZE_MARGIN = 1.0


def page_size(services: Services, plan: UpstreamPlan, count: int) -> int:
    """How many athena records to ask for: from ``_count`` and what this route yields.

    Exact plans (athena's matches are ours) ask for ``count``. Otherwise ``count + 1``
    times the route's recent records per match (how many athena records a match took
    lately: local filters, widened windows), with a margin, within the route's
    ``page_size`` (athena's maximum for it); a route not seen yet asks for its maximum.
    """
    route = plan.route
    if plan.exact_total:
        return max(count, 1)
    if route.surface == "store" or route.explode is not None or route.join is not None:
        return route.page_size
    per = services.search_pages.records_per_match(plan.practice, route.name)
    if per is None:
        return route.page_size
    return max(1, min(route.page_size, math.ceil((count + 1) * per * SIZE_MARGIN)))


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

    At most ``max_pages`` upstream pages (default: the per-request page budget). Records
    the route prefilters are matched on their raw fields first and mapped only when
    they pass; mapping stops at the ``count``-th match, and the next position is the
    record after it (the page it sits in is kept for the ``next`` request).
    """
    if plan.empty:
        return [], None, 0
    route = plan.route
    exact = plan.exact_total
    codes = services.mappings.codes
    # Exploded lists page by athena offset plus a skip into the exploded records.
    offset_paging = route.surface == "rest" and route.explode is None
    size = page_size(services, plan, count)
    # what the prefilter decides is not checked again (the same fields, the same answer)
    pre, check = search_filters(table, route, req, plan.practice, codes)
    found: list[Json] = []
    # A match is what a read would answer only when it comes from the read's own source
    # and the read merges nothing else in (Location's search maps /v1 departments, its
    # read athena's FHIR Location; Patient's /v1 searches lack previous names).
    read = table.routes.read
    cacheable = route.source == read.source and route.surface == read.surface and not read.merge
    # (and only rendered for a cache that keeps this type: no JSON work for nothing)
    cacheable = cacheable and services.cache.enabled and table.ttl_seconds > 0
    position = start
    first_page = start.upstream is None and start.skip == 0
    upstream_total: int | None = None
    consumed = 0
    for number in range(max_pages or services.settings.max_upstream_pages_per_request):
        # only a continuation's first page may be the one its previous page stopped in
        position, page = await _page_at(
            services, table, plan, position, size, offset_paging, reuse=number == 0
        )
        upstream_total = page.total
        record_at = await context_at(services, table, route.source, plan.practice, page.records)
        first = page.start
        for index in range(position.skip, page.end):
            record = record_at(index - first)
            consumed += 1
            if not consumed % YIELD_EVERY:
                await asyncio.sleep(0)  # a long page: let the loop's other requests run
            if skipped(route, record) or (pre is not None and not pre.passes(record)):
                continue
            resource = to_fhir_remembered(record, table, route.source, plan.practice, codes)
            if not check(resource):
                continue
            found.append(resource)
            if cacheable:
                services.cache.put(
                    table.resource, plan.practice, resource["id"], compartment, render(resource)
                )
            if len(found) >= count:
                services.search_pages.observe(plan.practice, route.name, consumed, len(found))
                if index + 1 < page.end:  # the next page starts inside this one
                    _keep(services, plan, position, page, index + 1, offset_paging)
                nxt = _after(position, index + 1, page, offset_paging)
                return found, nxt, (upstream_total if exact else None)
        if page.next_upstream is None:
            # Everything was read: on a first page the number of matches is the total.
            total = upstream_total if exact else (len(found) if first_page else None)
            return found, None, total
        position = Position(page.next_upstream)
        # the estimate did not fill this page: each further page twice the last, up to
        # the route's maximum (a search the estimate just missed reads a few records more,
        # not athena's 1,000; a sparse one reaches full pages within a few calls)
        size = min(route.page_size, size * 2) if not exact else size
    # Upstream page budget spent: return a short page; ``next`` continues from here.
    return found, position, (upstream_total if exact else None)


def _after(
    position: Position, consumed: int, page: UpstreamPage, offset_paging: bool
) -> Position | None:
    """The position just after the ``consumed``-th record of the current upstream page.

    Inside the page: the page's own start and the records consumed (the page is kept
    for a while; without it an offset page is read again from that record, an athena
    cursor page again with the same size).
    """
    if consumed >= page.end:
        return None if page.next_upstream is None else Position(page.next_upstream)
    if offset_paging:
        return Position(int(position.upstream or 0), consumed)
    return Position(
        position.upstream, consumed, page.end if position.size is None else position.size
    )


def _reuse_key(plan: UpstreamPlan, position: Position, offset_paging: bool) -> tuple[Any, ...]:
    upstream = int(position.upstream or 0) if offset_paging else position.upstream
    return (plan.practice, plan.route.name, plan.params, upstream, position.size)


def _keep(
    services: Services,
    plan: UpstreamPlan,
    position: Position,
    page: UpstreamPage,
    consumed: int,
    offset_paging: bool,
) -> None:
    """Keep the page a FHIR page stopped inside, for the ``next`` request (short TTL).

    Only its records from ``consumed`` on: the ones this request read are freed when it
    ends, while they are still in the CPU's caches, instead of when the kept page is
    evicted (freeing evicted 125-record pages was ~7 % of bench P6's one-week Appointment
    search, which keeps every page it stops in and is never continued).
    """
    ttl = services.settings.search_page_reuse_seconds
    key = _reuse_key(plan, replace(position, skip=0), offset_paging)
    tail = page.records[consumed - page.start :]
    kept = UpstreamPage(tail, page.next_upstream, page.total, consumed)
    services.search_pages.put(key, kept, len(tail), ttl)


async def _page_at(
    services: Services,
    table: Table,
    plan: UpstreamPlan,
    position: Position,
    size: int,
    offset_paging: bool,
    *,
    reuse: bool,
) -> tuple[Position, UpstreamPage]:
    """The upstream page holding ``position`` and the position within it.

    A kept page of the same upstream request is used while it lasts; otherwise an
    offset route is read from the record itself, an athena cursor page again with the
    size it was read with (so ``skip`` counts the same records).
    """
    continuing = position.upstream is not None or position.skip > 0
    if reuse and continuing:
        kept = services.search_pages.get(_reuse_key(plan, replace(position, skip=0), offset_paging))
        if isinstance(kept, UpstreamPage) and kept.start <= position.skip < kept.end:
            return position, kept
    if offset_paging and position.skip:
        position = Position(int(position.upstream or 0) + position.skip)
    fetch_size = position.size or size
    if not offset_paging and position.skip and position.size is None:
        # a link from before sizes were recorded: athena pages were the route's size
        fetch_size = size if plan.exact_total else plan.route.page_size
    page = await _fetch(services, table, plan, position, fetch_size)
    if not offset_paging and position.size is None and position.skip == 0:
        position = replace(position, size=fetch_size)
    return position, page


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


async def planned(
    services: Services, table: Table, req: SearchRequest, practice: str, *, allow_scan: bool
) -> UpstreamPlan:
    """``plan_search`` with the practice's department offsets when the chosen route pushes
    department-local days (``zone: department``): only then is the department list read,
    so a search that can match nothing still makes no athena call.

    Offsets change only the windows of such pushes, so when the directory already holds
    them (no athena call) the search is planned once, with them.
    """
    held = services.directory.held_offsets(practice)
    if held is not None:
        return plan_search(table, req, practice, allow_scan=allow_scan, zones=held.range)
    plan = plan_search(table, req, practice, allow_scan=allow_scan)
    if plan.empty or not any(p.zone == "department" for p in plan.route.push.values()):
        return plan
    # A department without a known offset maps no appointment time (``local_start``), so
    # its records match no date and need no room in the window.
    zones = (await services.directory.offsets(practice)).range
    if zones is None:
        return plan
    return plan_search(table, req, practice, allow_scan=allow_scan, zones=zones)


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
    plan = await planned(services, table, req, practice, allow_scan=services.settings.allow_scan)
    found, _, _ = await collect(services, table, plan, req, Position(None), limit, "includes")
    return found
