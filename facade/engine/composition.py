"""Resources composed from more than one athena call, as the tables declare.

- ``merge`` (read routes): a second source fills what the primary rendering
  lacks, e.g. athena's FHIR Encounter has no narrative, so the /v1 chart
  summary (``GET /chart/encounters/{id}/summary``, API-NOTES §3.6) becomes
  ``Encounter.text``.
- ``locate`` (rest routes): the parent record a path needs, from athena's FHIR read of
  the same id, where the /v1 API has no read by id (``/patients/{patientid}/insurances``
  holds an insurance; ``GET /fhir/r4/Coverage/{id}`` says whose it is).
- ``explode`` / ``join`` (list routes): athena has no provider-in-department
  object, so a PractitionerRole record is one item of a department's
  ``providerlist`` (``GET /departments?providerlist=true``, §3.1) joined with
  that provider's row from ``GET /providers`` (§3.2).

The record shaping itself is pure (:func:`explode_rows`, :func:`join_rows`);
this module adds the upstream calls.
"""

from __future__ import annotations

from typing import Any

from facade.engine.records import add_context, fill_path, path_fields, with_path_fields
from facade.engine.services import Services
from facade.errors import NotFound, UpstreamError
from facade.mapping.convert import match_template, merge_fhir, to_fhir
from facade.mapping.paths import get_values, parse_path
from facade.mapping.table import Explode, Join, Route, Table
from facade.upstream.client import raise_for_bad_request

Json = dict[str, Any]
LIST_LIMIT = 1000  # athena's largest page; reference lists are far smaller


async def merge(
    services: Services,
    table: Table,
    route: Route,
    practice: str,
    local: str,
    rid: str,
    resource: Json,
) -> Json:
    """``resource`` with every ``merge`` source of ``route`` folded in."""
    for extra in route.merge:
        path = extra.path.replace("{id}", rid).replace("{local}", local)
        if extra.surface == "fhir":
            response = await services.athena.fhir(extra.method, path, practice=practice)
        else:
            response = await services.athena.rest(extra.method, practice, path)
        if response.status == 404 and extra.optional:
            continue
        raise_for_bad_request(response)
        body = response.body
        record = body[0] if isinstance(body, list) and len(body) == 1 else body
        if not isinstance(record, dict):
            raise UpstreamError("athena returned an unexpected shape for a merged source")
        resource = merge_fhir(
            resource, record, table, extra.source, practice, services.mappings.codes
        )
    return resource


def explode_rows(rows: list[Json], spec: Explode) -> list[Json]:
    """One record per item of ``spec.list_field``; ``_id`` from the ``spec.id`` template.

    >>> explode_rows([{"departmentid": "1", "providerlist": ["23", "71"]}],
    ...     Explode(list="providerlist", **{"as": "providerid"}, id="{providerid}-{departmentid}"))[1]
    {'departmentid': '1', 'providerid': '71', '_id': '71-1'}
    """
    out: list[Json] = []
    for row in rows:
        items = row.get(spec.list_field)
        if not isinstance(items, list):
            continue
        base = {k: v for k, v in row.items() if k != spec.list_field}
        for item in items:
            record = {**base, spec.as_field: item}
            record["_id"] = spec.id.format_map({k: str(v) for k, v in record.items()})
            out.append(record)
    return out


def join_rows(rows: list[Json], others: list[Json], spec: Join) -> list[Json]:
    """Rows with the matching ``others`` row's fields copied under ``spec.prefix``.

    Rows without a match are dropped: the joined data is part of the resource.
    """
    index = {str(o.get(spec.key)): o for o in others if isinstance(o, dict)}
    out: list[Json] = []
    for row in rows:
        other = index.get(str(row.get(spec.on)))
        if other is not None:
            out.append({**row, **{f"{spec.prefix}{k}": v for k, v in other.items()}})
    return out


async def _list(
    services: Services, practice: str, path: str, key: str, params: list[tuple[str, str]]
) -> list[Json]:
    rows = await _list_or_none(services, practice, path, key, params)
    if rows is None:
        raise NotFound("athena does not know the record the list belongs to")
    return rows


async def _list_or_none(
    services: Services, practice: str, path: str, key: str, params: list[tuple[str, str]]
) -> list[Json] | None:
    """An athena list (``limit`` = its largest page), or None when athena answers 404."""
    response = await services.athena.rest(
        "GET", practice, path, params=[*params, ("limit", str(LIST_LIMIT))]
    )
    if response.status == 404:
        return None
    raise_for_bad_request(response)
    body = response.body
    rows = body.get(key) if isinstance(body, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UpstreamError("athena returned an unexpected list shape")
    return rows


async def shape(services: Services, route: Route, practice: str, raw: Any) -> list[Json]:
    """athena's list rows as records: exploded and joined when the route says so."""
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise UpstreamError("athena returned an unexpected list shape")
    rows: list[Json] = raw
    if route.explode is not None:
        rows = explode_rows(rows, route.explode)
    if route.join is not None:
        others = await _list(services, practice, route.join.path, route.join.list_key, [])
        rows = join_rows(rows, others, route.join)
    return rows


async def locate(
    services: Services,
    route: Route,
    practice: str,
    params: list[tuple[str, str]],
    rid: str | None = None,
) -> list[tuple[str, str]] | None:
    """``params`` with the parent the route's ``locate`` finds, or None: nothing to find."""
    spec = route.locate
    if spec is None:
        return params
    rest = [(n, v) for n, v in params if n != spec.from_param]
    if any(n == spec.into for n, _ in params):
        return rest
    fhir_id = rid or next((v for n, v in params if n == spec.from_param), None)
    if not fhir_id:
        return None
    response = await services.athena.fhir(
        "GET", spec.path.replace("{id}", fhir_id), practice=practice
    )
    if response.status == 404:
        return None
    raise_for_bad_request(response)
    body = response.body
    if not isinstance(body, dict) or body.get("id") != fhir_id:
        raise UpstreamError("athena returned another resource than the one looked up")
    found = [
        match_template(spec.template, practice, v) for v in get_values(body, parse_path(spec.field))
    ]
    local = next((v for v in found if v), None)
    return None if local is None else [*rest, (spec.into, local)]


async def read_listed(
    services: Services, table: Table, practice: str, local: str, rid: str
) -> Json:
    """A read answered from an athena list (records athena cannot fetch by id)."""
    route = table.routes.read
    assert route.list_key is not None
    params = await locate(
        services,
        route,
        practice,
        [(k, v.replace("{practice}", practice)) for k, v in route.fixed.items()],
        rid,
    )
    if params is None:
        raise NotFound(f"{table.resource}/{rid} is not known")
    path, query = fill_path(route.path, params)
    listed = await _list_or_none(services, practice, path, route.list_key, query)
    if listed is None:  # the parent the path names is gone (a deleted patient)
        raise NotFound(f"{table.resource}/{rid} is not known")
    rows = await shape(services, route, practice, listed)
    rows = with_path_fields(rows, path_fields(route.path, params))
    key = table.sources[route.source].record_id or "_id"
    for record in rows:
        if str(record.get(key)) == local:
            (record,) = await add_context(services, table, route.source, practice, [record])
            return to_fhir(record, table, route.source, practice, services.mappings.codes)
    raise NotFound(f"{table.resource}/{rid} is not known")
