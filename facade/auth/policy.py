"""Per-interaction enforcement of SMART scopes and the patient compartment.

Called by :mod:`facade.engine.reads` and :mod:`facade.engine.searches` after the coarse ``AuthContext.require``
check (type + permission letter), for every resource type alike:

- **Granular scopes** (SMART v2 ``patient/Observation.rs?category=...``): when
  every scope that grants the interaction carries a query, a search must
  satisfy one of those queries (a single one is added to the search; several
  alternatives the request does not already satisfy are 403), and a read of a
  resource that matches none of them is 404.
- **Patient compartment**: a token whose grant for the type comes only from
  ``patient/`` scopes, or whose end user is a patient, reaches only the
  patient in context. The table's ``compartment`` entry (``param`` = the search
  parameter naming the patient, ``path`` = where the resource holds it) pins
  that parameter in front of the search, so the planner pushes it to athena and
  the local filter enforces it; reads and results are checked against ``path``
  as a safety net (another patient's resource: 404, no existence leak). A table
  without a ``compartment`` entry is closed to compartment-limited tokens (403),
  unless it is ``shared`` reference data (Practitioner, Location, Organization,
  PractitionerRole), which every token with the scope may read.

Writes are authorized on what they send upstream (:mod:`facade.engine.write_policy`):
every patient a write sends or names must be :func:`compartment_patient` when that is
set, and every existing record it changes must pass :func:`check_resource` for ``u``.
Includes and operations call :func:`check_resource` on every resource they touch or
return.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from facade.audit import context as audit
from facade.auth.context import AuthContext
from facade.errors import Forbidden, InvalidRequest, NotFound
from facade.mapping.filter import matches, validate_request
from facade.mapping.paths import get_values, parse_path
from facade.mapping.table import Table
from facade.search import SearchParam, SearchRequest, parse_query

Json = dict[str, Any]


def compartment_patient(auth: AuthContext, resource_type: str, permission: str) -> str | None:
    """The patient this interaction is confined to, or None when it is not confined."""
    if auth.patient_user:
        return auth.patient_user
    granting = auth.scopes.allowing(resource_type, permission)
    if any(s.context in ("user", "system") for s in granting):
        return None
    if auth.patient is None:
        raise Forbidden("patient/ scopes need a patient in the launch context")
    return auth.patient


def _constraints(auth: AuthContext, table: Table, permission: str) -> list[SearchRequest] | None:
    """The granular-scope queries that apply, or None when some scope grants without one."""
    granting = auth.scopes.allowing(table.resource, permission)
    if not granting or any(not s.query for s in granting):
        return None
    found: list[SearchRequest] = []
    for scope in granting:
        try:
            req = validate_request(table, parse_query(table.resource, scope.query), strict=True)
        except InvalidRequest as exc:
            raise Forbidden(
                f"The scope {scope.text} cannot be evaluated on {table.resource}"
            ) from exc
        found.append(req)
    return found


def _pin(table: Table, patient: str) -> SearchParam:
    compartment = table.compartment
    assert compartment is not None
    definition = table.search_params[compartment.param]
    value = f"Patient/{patient}" if definition.type == "reference" else patient
    return SearchParam(compartment.param, None, (value,))


def restrict_search(table: Table, auth: AuthContext, req: SearchRequest) -> SearchRequest:
    """The search narrowed to what the token may see (pinned parameters come first)."""
    pinned: list[SearchParam] = []
    constraints = _constraints(auth, table, "s")
    if constraints is not None:
        present = set(req.params)
        if not any(set(c.params) <= present for c in constraints):
            if len(constraints) != 1:
                raise Forbidden(
                    "The granted scopes only allow searches that include one of: "
                    + "; ".join(
                        " & ".join(f"{p.key}={','.join(p.values)}" for p in c.params)
                        for c in constraints
                    )
                )
            pinned.extend(constraints[0].params)
    patient = None if table.shared else compartment_patient(auth, table.resource, "s")
    if patient is not None:
        if table.compartment is None:
            raise Forbidden(f"{table.resource} is outside the patient compartment")
        pinned.insert(0, _pin(table, patient))
    if not pinned:
        return req
    rest = tuple(p for p in req.params if p not in pinned)
    return replace(req, params=(*pinned, *rest))


def names_patient(reference: str) -> bool:
    """Whether a reference points at a Patient (relative or absolute)."""
    return reference.startswith("Patient/") or "/Patient/" in reference


def is_patient(reference: str, patient: str) -> bool:
    """Whether a reference is exactly the patient ``patient`` (relative or absolute)."""
    return reference == f"Patient/{patient}" or reference.endswith(f"/Patient/{patient}")


def in_compartment(table: Table, resource: Json, patient: str) -> bool:
    if table.compartment is None:
        return False
    for value in get_values(resource, parse_path(table.compartment.path)):
        if isinstance(value, str) and value == patient:
            return True
        if isinstance(value, dict) and is_patient(str(value.get("reference", "")), patient):
            return True
    return False


def precheck_read(table: Table, auth: AuthContext, rid: str) -> None:
    """Before asking athena: a compartment keyed by ``id`` answers another id with 404."""
    patient = None if table.shared else compartment_patient(auth, table.resource, "r")
    if patient is None:
        return
    if table.compartment is None:
        raise Forbidden(f"{table.resource} is outside the patient compartment")
    if table.compartment.path == "id" and rid != patient:
        raise NotFound(f"{table.resource}/{rid} is not known")


def visible(table: Table, auth: AuthContext, resource: Json, permission: str) -> bool:
    return _within(table, resource, *_reach(table, auth, permission))


def _reach(
    table: Table, auth: AuthContext, permission: str
) -> tuple[str | None, list[SearchRequest] | None]:
    """What confines the token on this type: its patient (None: none), its scope queries."""
    patient = None if table.shared else compartment_patient(auth, table.resource, permission)
    return patient, _constraints(auth, table, permission)


def _within(
    table: Table, resource: Json, patient: str | None, constraints: list[SearchRequest] | None
) -> bool:
    if patient is not None and not in_compartment(table, resource, patient):
        return False
    return constraints is None or any(matches(resource, table, c) for c in constraints)


def check_resource(table: Table, auth: AuthContext, resource: Json, permission: str) -> None:
    """A resource the token may not see is answered as unknown (404, no existence leak)."""
    if not visible(table, auth, resource, permission):
        raise NotFound(f"{table.resource}/{resource.get('id', '')} is not known")
    _note_patients(table, (resource,))


def filter_results(
    table: Table, auth: AuthContext, resources: list[Json], permission: str = "s"
) -> list[Json]:
    """Safety net behind the pinned search: drop anything outside the token's reach.

    The token's reach is worked out once for the page (it depends on the token and the
    type, not on the resource), and only when there is something to check.
    """
    if not resources:
        return []
    patient, constraints = _reach(table, auth, permission)
    kept = [r for r in resources if _within(table, r, patient, constraints)]
    _note_patients(table, kept)
    return kept


def _note_patients(table: Table, resources: tuple[Json, ...] | list[Json]) -> None:
    """The audit trail's patients: whose records this request reached (README "Audit trail")."""
    note = audit.recording()
    if note is None or table.compartment is None:
        return
    path = parse_path(table.compartment.path)
    for resource in resources:
        for value in get_values(resource, path):
            if isinstance(value, dict):
                value = str(value.get("reference", ""))
                if not names_patient(value):
                    continue
                value = value.rsplit("/", 1)[-1]
            if isinstance(value, str) and value:
                audit.note_patient(note, value)
