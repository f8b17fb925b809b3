"""The search interaction (FHIR R4 search.html): planner -> upstream pages -> to_fhir -> local filter.

The answer is a searchset Bundle with signed, stateless paging links
(:mod:`facade.engine.paging` reads athena; :mod:`facade.engine.includes` adds
``_include`` / ``_revinclude`` resources).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from facade.auth import policy
from facade.auth.context import AuthContext
from facade.engine import includes
from facade.engine.paging import Position, collect, count_all, planned
from facade.engine.reads import compartment, table_of
from facade.engine.services import Services
from facade.errors import Forbidden, InvalidCursor, InvalidRequest
from facade.fhir import subset
from facade.fhir.bundle import searchset
from facade.fhir.subset import Subset
from facade.mapping.filter import validate_request
from facade.mapping.ids import parse_practice_reference
from facade.search import SearchRequest, format_query, query_fingerprint, to_query_string

Json = dict[str, Any]
MAX_HISTORY = 25  # previous-page positions carried in a cursor


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
    allow_scan: bool | None = None,
) -> Json:
    """``allow_scan`` overrides ``FACADE_ALLOW_SCAN`` (bulk exports list whole practices)."""
    table = table_of(services, resource_type)
    auth.require(resource_type, "s")
    settings = services.settings
    scan = settings.allow_scan if allow_scan is None else allow_scan
    req, wanted = includes.supported(table, validate_request(table, req, strict=strict), strict)
    req = replace(
        _apply_control(services, req, strict=strict), include=wanted[0], revinclude=wanted[1]
    )
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
        plan = await planned(services, table, replace(req, cursor=None), practice, allow_scan=scan)
        if plan.route.name != state.get("r"):
            raise InvalidCursor("The paging link is stale; repeat the search")
        start = Position.load(state.get("o"))
        history = [Position.load(h) for h in state.get("h", [])]
    else:
        plan = await planned(services, table, req, practice, allow_scan=scan)
        start, history = Position(None), []

    found: list[Json]
    next_pos: Position | None
    here = compartment(auth)
    if count == 0 or req.summary == "count":  # only the total (search §3.1.1.5.3, summary)
        found, next_pos = [], None
        total: int | None = await count_all(services, table, plan, req, here)
    else:
        found, next_pos, total = await collect(services, table, plan, req, start, count, here)
        if total is None and req.total == "accurate":
            total = await count_all(services, table, plan, req, here)
    if req.total == "none":
        total = None
    found = policy.filter_results(table, auth, found)  # safety net behind the pinned search
    base = settings.fhir_base

    query = format_query(replace(req, cursor=None))  # the same in every link

    def link(position: Position | None, prior: list[Position]) -> str:
        items = query
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
    included = await includes.collect(services, auth, table, req, practice, found)
    shape = Subset(req.summary, req.elements)
    if shape.active:  # after includes: _elements may drop the references they follow
        definitions = services.mappings.elements.get(resource_type)
        found = [subset.apply(r, definitions, shape) for r in found]
    return searchset(
        base=base,
        matches=found,
        self_url=self_url,
        next_url=next_url,
        previous_url=previous_url,
        total=total,
        includes=included,
    )


def _apply_control(services: Services, req: SearchRequest, *, strict: bool) -> SearchRequest:
    """Result parameters: ``_sort`` is not implemented (400 when strict, dropped otherwise);
    ``_elements`` names must exist on the type (same rule)."""
    if req.sort and strict:
        raise InvalidRequest("Unsupported result parameter(s): _sort", expression=("_sort",))
    definitions = services.mappings.elements.get(req.resource_type)
    elements = subset.check_elements(definitions, req.resource_type, req.elements, strict)
    return replace(req, sort=(), elements=elements)
