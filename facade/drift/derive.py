"""What the mapping tables need from athena, per upstream route (pure; no I/O).

An upstream route is ``{surface} {method} {path}`` with every path placeholder written
``{id}``, the same template :func:`facade.upstream.client.path_template` gives a real
call (``rest GET /patients/{id}/insurances``, ``fhir GET /Patient/{id}``). For each the
tables yield the athena fields they **read** (a source's fields and copied elements, the
record id, an explode's list, a join's key; never what the facade adds itself: the
``context`` facts, the exploded id, path fields) and the form fields they **write**; and,
per athena FHIR type, the interactions and search parameters the routes use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from facade.drift.shapes import RecordsAt
from facade.mapping.loader import Mappings
from facade.mapping.table import Field_, Route, Source, Table

# facts facade/engine/records.py adds to records before mapping (Source.context)
CONTEXT_FIELDS = {
    "department": {"departmenttimezone"},
    "schedule": {"departmenttimezone", "reasonids", "planningstart", "planningend"},
    "today": {"today"},
}
FHIR_PAGING = ("_count", "cursor")


def route_key(surface: str, method: str, path: str) -> str:
    return f"{surface} {method} {template(path)}"


def template(path: str) -> str:
    """``/appointments/{local}`` -> ``/appointments/{id}`` (any placeholder name)."""
    return re.sub(r"\{[^{}]+\}", "{id}", path)


@dataclass
class RouteUse:
    surface: str
    method: str
    path: str
    records: RecordsAt
    used_by: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    required_writes: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return route_key(self.surface, self.method, self.path)


@dataclass
class FhirTypeUse:
    interactions: set[str] = field(default_factory=set)
    search_params: set[str] = field(default_factory=set)


@dataclass
class Needs:
    routes: dict[str, RouteUse]
    fhir_types: dict[str, FhirTypeUse]


def _names(f: Field_) -> list[str]:
    return [f.athena] if isinstance(f.athena, str) else list(f.athena)


def _read_fields(source: Source) -> set[str]:
    names = {n for f in source.fields if f.direction != "write" for n in _names(f)}
    if source.surface == "fhir":
        names |= set(source.copy_elements) | {"id"}
    elif source.record_id:
        names.add(source.record_id)
    for kind in source.context:
        names -= CONTEXT_FIELDS[kind]
    return names


def _use(needs: dict[str, RouteUse], surface: str, method: str, path: str, at: str) -> RouteUse:
    key = route_key(surface, method, path)
    if key not in needs:
        needs[key] = RouteUse(surface, method, template(path), at)
    return needs[key]


def _table_route(needs: Needs, table: Table, route: Route) -> None:
    source = table.sources[route.source]
    if route.surface == "fhir":
        at = "bundle" if "{" not in route.path else "resource"
    else:
        at = f"list:{route.list_key}" if route.list_key else "item"
    use = _use(needs.routes, route.surface, route.method, route.path, at)
    use.used_by.add(f"{table.resource}.{route.name}")
    reads = _read_fields(source)
    if route.explode is not None:
        reads -= {route.explode.as_field, "_id"}
        reads.add(route.explode.list_field)
    if route.join is not None:
        join = route.join
        joined = {n for n in reads if n.startswith(join.prefix)}
        reads -= joined
        if route.explode is None or join.on != route.explode.as_field:
            reads.add(join.on)
        other = _use(needs.routes, "rest", "GET", join.path, f"list:{join.list_key}")
        other.used_by.add(f"{table.resource}.{route.name} (join)")
        other.reads |= {n[len(join.prefix) :] for n in joined} | {join.key}
    use.reads |= reads
    for merge in route.merge:
        merged = _use(needs.routes, merge.surface, merge.method, merge.path, "item")
        merged.used_by.add(f"{table.resource}.{route.name} (merge)")
        merged.reads |= _read_fields(table.sources[merge.source])
    if route.locate is not None:
        located = _use(needs.routes, "fhir", "GET", route.locate.path, "resource")
        located.used_by.add(f"{table.resource}.{route.name} (locate)")
        located.reads |= {"id", route.locate.field.split(".")[0]}
        needs.fhir_types.setdefault(
            route.locate.path.split("/")[1], FhirTypeUse()
        ).interactions.add("read")
    if route.surface == "fhir":
        kind = route.path.split("/")[1]
        usage = needs.fhir_types.setdefault(kind, FhirTypeUse())
        if at == "resource":
            usage.interactions.add("read")
        else:
            usage.interactions.add("search-type")
            usage.search_params |= {p.param for p in route.push.values()}
            usage.search_params |= set(route.fixed)


def derive(mappings: Mappings) -> Needs:
    """Every upstream route the tables use, with what they read and write there."""
    needs = Needs({}, {})
    for table in mappings.tables.values():
        for route in [table.routes.read, *table.routes.search]:
            if route.surface != "store":
                _table_route(needs, table, route)
        writes = table.writes
        if writes is None:
            continue
        for step in [writes.create, *writes.update, *writes.steps]:
            if step is None:
                continue
            use = _use(needs.routes, "rest", step.method, step.path, "item")
            use.used_by.add(f"{table.resource}.{step.name}")
            use.writes |= set(step.form)
            use.required_writes |= set(step.required)
    needs.routes = dict(sorted(needs.routes.items()))
    needs.fhir_types = dict(sorted(needs.fhir_types.items()))
    return needs
