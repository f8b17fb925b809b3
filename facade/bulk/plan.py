"""How each resource type is exported, decided from its mapping table (never a list of types).

Pure: tables and search requests in, decisions out (no I/O).

- **list**: a search of the whole practice that athena can answer (a table route
  without required parameters: Patient's patient list, Location's departments,
  Slot's open slots), paged through its ``next`` links;
- **per patient**: for types in the patient compartment whose searches need a
  patient (Encounter, Condition, Provenance, Appointment): one search per member of
  the group, on the compartment's parameter (``patient=Patient/{id}``);
- **native**: types athena's own FHIR API serves (a table search route on the
  ``fhir`` surface) can come from athena's Group ``$export`` instead, mapped by the
  same source as that search route, when every parameter the export applies can be
  checked on the mapped resource (``local``).

A type with none of these cannot be exported. Which types a level exports: the
system level every exportable type; the Patient and Group levels the types in the
patient compartment and the shared reference data they point at (Practitioner,
Location, Organization, ...), not practice-wide data such as free Slots.
"""

from __future__ import annotations

from typing import Literal

from facade.errors import InvalidRequest
from facade.mapping.loader import Mappings
from facade.mapping.planner import plan_search
from facade.mapping.table import Route, Table
from facade.search import SearchParam, SearchRequest

Level = Literal["system", "patient", "group"]
Strategy = Literal["list", "patient"]
PLANNING_PRACTICE = "0"  # any practice: routes are chosen by parameters, not by practice


def can_list(table: Table, req: SearchRequest, practice: str = PLANNING_PRACTICE) -> bool:
    """athena can answer this search without naming a patient (or anything else)."""
    try:
        plan_search(table, req, practice, allow_scan=True)
    except InvalidRequest:
        return False
    return True


def patient_value(table: Table, patient: str) -> str:
    """The compartment parameter's value naming ``patient`` (``Patient/{id}`` or the id)."""
    assert table.compartment is not None
    definition = table.search_params[table.compartment.param]
    return f"Patient/{patient}" if definition.type == "reference" else patient


def with_patient(table: Table, req: SearchRequest, patient: str) -> SearchRequest:
    assert table.compartment is not None
    pinned = SearchParam(table.compartment.param, None, (patient_value(table, patient),))
    return SearchRequest(req.resource_type, (pinned, *req.params))


def can_page_by_patient(
    table: Table, req: SearchRequest, practice: str = PLANNING_PRACTICE
) -> bool:
    if table.compartment is None:
        return False
    return can_list(table, with_patient(table, req, f"a-{practice}.E-1"), practice)


def strategy(
    table: Table, req: SearchRequest, *, by_patient: bool = False, practice: str = PLANNING_PRACTICE
) -> Strategy | None:
    """How ``req`` is exported: a practice-wide list, or one search per patient.

    ``by_patient``: the export names its patients (``patient`` parameter), so types in
    the compartment are searched per patient even where a practice-wide list exists.
    """
    if by_patient and table.compartment is not None and can_page_by_patient(table, req, practice):
        return "patient"
    if can_list(table, req, practice):
        return "list"
    if can_page_by_patient(table, req, practice):
        return "patient"
    return None


def native_route(table: Table) -> Route | None:
    """The search route whose mapping athena's own FHIR resources go through, if any."""
    for route in table.routes.search:
        if route.surface == "fhir" and table.sources[route.source].surface == "fhir":
            return route
    return None


def checkable(table: Table, req: SearchRequest) -> bool:
    """Every parameter of ``req`` can be evaluated on a mapped resource (native exports)."""
    return all(
        p.name == "ah-practice" or table.search_params[p.name].local
        for p in req.params
        if p.name in table.search_params or p.name == "ah-practice"
    )


def level_types(mappings: Mappings, level: Level) -> list[str]:
    """The types exported at ``level`` when ``_type`` is not given (table order)."""
    found = []
    for rtype, table in sorted(mappings.tables.items()):
        base = SearchRequest(rtype, ())
        if strategy(table, base) is None:
            continue
        if level != "system" and table.compartment is None and not table.shared:
            continue
        found.append(rtype)
    return found
