"""``_include`` and ``_revinclude`` (FHIR R4 search.html#include), declared per table.

A table lists what it supports (``includes: {"Encounter:patient": {path, target}}``,
``revincludes: {"Provenance:target": {resource, param}}``); the CapabilityStatement
advertises exactly those (searchInclude / searchRevInclude). Anything else is
dropped from the search (and its ``self`` link), or refused with
``Prefer: handling=strict``.

Included resources go through the same authorization as a read: an ``_include``
target is read with :func:`facade.engine.reads.read` (scope, practice, compartment,
cache). A ``_revinclude`` needs the search permission on its type and only
keeps resources that point at a match the token already saw, which is what
puts them in the compartment. Targets that do not exist, or that the token may
not see, are left out (search §include: servers MAY omit); an upstream failure
fails the whole search, never an empty include.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from facade.auth.context import AuthContext
from facade.engine import paging, reads
from facade.engine.services import Services
from facade.errors import Forbidden, InvalidRequest, NotFound
from facade.mapping.paths import get_values, parse_path
from facade.mapping.table import Table
from facade.search import SearchParam, SearchRequest, reference_matches
from facade.search import parse_reference as parse_reference_param

Json = dict[str, Any]
MAX_INCLUDED = 1000  # revinclude results per page


def supported(
    table: Table, req: SearchRequest, strict: bool
) -> tuple[SearchRequest, tuple[tuple[str, ...], tuple[str, ...]]]:
    """The request without its include parameters, and the supported ones to apply."""
    unknown = [v for v in req.include if v not in table.includes]
    unknown += [v for v in req.revinclude if v not in table.revincludes]
    if unknown and strict:
        raise InvalidRequest(
            f"Unsupported _include/_revinclude for {table.resource}: {', '.join(unknown)}",
            expression=("_include",),
        )
    include = tuple(dict.fromkeys(v for v in req.include if v in table.includes))
    revinclude = tuple(dict.fromkeys(v for v in req.revinclude if v in table.revincludes))
    return replace(req, include=(), revinclude=()), (include, revinclude)


def _reference(value: Any) -> tuple[str, str] | None:
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        return None
    parts = value["reference"].rstrip("/").split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 else None


async def collect(
    services: Services,
    auth: AuthContext,
    table: Table,
    req: SearchRequest,
    practice: str,
    matches: list[Json],
) -> list[Json]:
    """The included resources for one page of matches (each once, none that is a match)."""
    if not matches or not (req.include or req.revinclude):
        return []
    seen = {(r["resourceType"], r["id"]) for r in matches}
    out: list[Json] = []
    for name in req.include:
        spec = table.includes[name]
        targets: list[tuple[str, str]] = []
        for resource in matches:
            for value in get_values(resource, parse_path(spec.path)):
                ref = _reference(value)
                if ref and ref[0] in spec.target and ref not in seen and ref not in targets:
                    targets.append(ref)
        for rtype, rid in targets:
            try:
                entry = await reads.read(services, auth, rtype, rid)
            except (NotFound, Forbidden, InvalidRequest):
                continue  # dangling, or outside what the token may read
            seen.add((rtype, rid))
            out.append(entry.resource)
    for name in req.revinclude:
        rev = table.revincludes[name]
        other = services.mappings.table(rev.resource)
        if other is None:
            continue
        try:
            auth.require(rev.resource, "s")
        except Forbidden:
            continue
        values = tuple(f"{r['resourceType']}/{r['id']}" for r in matches)
        search = SearchRequest(rev.resource, (SearchParam(rev.param, None, values),))
        wanted = [parse_reference_param(v) for v in values]
        definition = other.search_params[rev.param]
        for resource in await paging.collect_all(services, other, search, practice, MAX_INCLUDED):
            key = (resource["resourceType"], resource["id"])
            pointers = [
                v.get("reference")
                for path in definition.paths
                for v in get_values(resource, parse_path(path))
                if isinstance(v, dict)
            ]
            if key in seen or not any(
                reference_matches(w, p) for w in wanted for p in pointers if p
            ):
                continue
            seen.add(key)
            out.append(resource)
    return out
