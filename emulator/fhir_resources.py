"""Native athena FHIR read/search for Encounter, Condition, Provenance,
Practitioner, Organization (practice, department, insurance package), Location and
Appointment (API-NOTES sections 5.2-5.5); Coverage's search spec is here too
(handlers in :mod:`emulator.fhir_coverage`).

Every search is checked against athena's "required any" combinations
(:data:`SEARCHES`); anything else, unknown parameters included [G], gets the
400 OperationOutcome with string ``details`` "Invalid FHIR request".
``ah-practice`` is required unless a FHIR id in ``_id``/``patient``/
``encounter``/``target`` already carries the practice (MET reads by id
without it; applying the same to searches is [G]). Ids of another practice
than ``ah-practice`` simply match nothing. Paging: ``_count`` plus the same
opaque, query-bound ``cursor`` as the Patient search.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from emulator.catalog import ICD10_SYSTEM, SNOMED_SYSTEM
from emulator.errors import FhirError, invalid_fhir_request, json_response
from emulator.fhir_clinical import PREFIXES, clinical_provenance, read_clinical, search_store
from emulator.fhir_clinical import SPECS as CLINICAL_SPECS
from emulator.fhir_encounter import (
    CONDITION_ID,
    ENCOUNTER_ID,
    PROVENANCE_ID,
    condition_resource,
    encounter_resource,
    provenance_resource,
)
from emulator.fhir_patient import PATIENT_ID
from emulator.fhir_payer import PACKAGE_ID, package_lookup
from emulator.fhir_practice import (
    APPOINTMENT_ID,
    DEPARTMENT_ID,
    NPI_SYSTEM,
    PRACTICE_ID,
    PRACTITIONER_ID,
    appointment_resource,
    department_organization,
    location_resource,
    practice_organization,
    practitioner_resource,
    provider_system,
)
from emulator.fhir_search import compare_instant, date_interval, decode_cursor, fingerprint
from emulator.form import request_pairs
from emulator.rest_practice import world_of
from emulator.visits import DiagnosisRecord, EncounterRecord
from emulator.world import World

FHIR_JSON = "application/fhir+json"
COMMON = {"ah-practice", "_count", "cursor", "_format", "_pretty", "_security"}
_PRACTICE_PARAM = re.compile(r"^(?:Organization/)?a-1\.Practice-(?P<practice>\d+)$")
_CARRIES_PRACTICE = re.compile(r"^(?:[A-Za-z]+/)?a-(?P<practice>\d+)\.(?P<rest>.+)$")
T = TypeVar("T")
_KIND_ORDER = {"Patient": 0, "Encounter": 1, "Coverage": 2}
# the same as emulator.fhir_coverage.COVERAGE_ID (which imports this module)
_COVERAGE_ID = re.compile(r"^a-(?P<practice>\d+)\.Coverage-(?P<id>\d+)$")
_CLINICAL_ID = re.compile(r"^a-(?P<practice>\d+)\.(?P<prefix>[A-Za-z]+)-(?P<n>\d{1,12})$")


@dataclass(frozen=True)
class SearchSpec:
    """One resource's search surface (section 5.4)."""

    resource: str
    params: tuple[str, ...]
    required: tuple[frozenset[str], ...]  # any one set, all of its names present
    id_params: tuple[str, ...]  # parameters whose FHIR ids carry the practice


SEARCHES: dict[str, SearchSpec] = {
    s.resource: s
    for s in (
        SearchSpec(
            "Encounter",
            ("patient", "date", "_id", "location", "practitioner", "service-provider", "_lastUpdated"),
            (frozenset({"patient"}), frozenset({"_id"})),
            ("patient", "_id"),
        ),
        SearchSpec(
            "Condition",
            ("patient", "encounter", "_id", "category", "code", "_lastUpdated"),
            (frozenset({"patient"}), frozenset({"encounter"}), frozenset({"_id"})),
            ("patient", "encounter", "_id"),
        ),
        SearchSpec(
            "Provenance",
            ("target", "patient", "_id"),
            (frozenset({"target"}), frozenset({"patient"}), frozenset({"_id"})),
            ("target", "patient", "_id"),
        ),
        SearchSpec(
            "Practitioner",
            ("_id", "identifier"),
            (frozenset({"_id"}), frozenset({"identifier", "ah-practice"})),
            ("_id",),
        ),
        SearchSpec("Organization", ("_id",), (frozenset({"_id"}),), ("_id",)),
        SearchSpec("Coverage", ("patient", "_lastUpdated"), (frozenset({"patient"}),), ("patient",)),
        SearchSpec("Location", ("_id",), (frozenset({"_id"}),), ("_id",)),
        SearchSpec("Appointment", ("_id",), (frozenset({"_id"}),), ("_id",)),
    )
}  # fmt: skip


PROFILES: dict[str, list[str]] = {
    "Encounter": ["us-core-encounter"],
    "Condition": ["us-core-condition-encounter-diagnosis"],
    "Provenance": ["us-core-provenance"],
    "Practitioner": ["us-core-practitioner"],
    "Organization": ["us-core-organization"],
    "Coverage": ["us-core-coverage"],
    "Location": ["us-core-location"],
    "Appointment": [],
}


@dataclass(frozen=True)
class Query:
    practiceid: str
    params: dict[str, list[str]]
    count: int
    offset: int
    fingerprint: str
    echo: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        return self.params.get(name, [])


def _practice_from_id(text: str) -> str | None:
    text = text.strip()
    match = _PRACTICE_PARAM.match(text)
    if match:
        return match["practice"]
    match = _CARRIES_PRACTICE.match(text)
    return match["practice"] if match and match["practice"] != "1" else None


def parse_query(world: World, spec: SearchSpec, pairs: list[tuple[str, str]]) -> Query:
    """Validate athena's rules for ``spec``; raises the 400 OperationOutcome."""
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in COMMON and name not in spec.params:
            raise invalid_fhir_request()
        if value.strip():
            params.setdefault(name, []).append(value.strip())
    if not any(required <= params.keys() for required in spec.required):
        raise invalid_fhir_request()
    practiceid: str | None = None
    if "ah-practice" in params:
        match = _PRACTICE_PARAM.match(params["ah-practice"][-1])
        practiceid = match["practice"] if match else None
        if practiceid is None:
            raise invalid_fhir_request()
    else:
        for name in spec.id_params:
            for value in params.get(name, []):
                practiceid = practiceid or _practice_from_id(value.split(",")[0])
    if practiceid is None or practiceid not in world.practices:
        raise invalid_fhir_request()
    config = world.config
    count = config.fhir_default_count
    if params.get("_count"):
        try:
            count = int(params["_count"][-1])
        except ValueError:
            raise invalid_fhir_request() from None
        count = config.fhir_default_count if count < 1 else min(count, config.fhir_max_count)
    query_print = fingerprint(pairs)
    offset = decode_cursor(params["cursor"][-1], query_print) if params.get("cursor") else 0
    echo = tuple((k, v) for k, v in pairs if k != "cursor")
    return Query(practiceid, params, count, offset, query_print, echo)


def _ids(values: Iterable[str], pattern: re.Pattern[str], practiceid: str) -> set[int]:
    """Numeric ids of the FHIR ids (optionally ``Type/``-prefixed) in comma lists."""
    wanted: set[int] = set()
    for value in values:
        for item in value.split(","):
            item = item.strip()
            match = pattern.match(item.split("/", 1)[1] if "/" in item else item)
            if match is None:
                raise invalid_fhir_request()
            if match["practice"] == practiceid:
                wanted.add(int(match["id"] if "id" in pattern.groupindex else match["patient"]))
    return wanted


def _all(
    values: list[str], build: Callable[[str], Callable[[T], bool]]
) -> list[Callable[[T], bool]]:
    return [build(value) for value in values]


def _date_test(text: str, at: Callable[[T], datetime | None]) -> Callable[[T], bool]:
    prefix, start, end = date_interval(text)

    def test(item: T) -> bool:
        moment = at(item)
        return moment is not None and compare_instant(prefix, start, end, moment)

    return test


def _fhir(body: Any, status: int = 200) -> Response:
    return json_response(body, status, FHIR_JSON)


def _not_found(kind: str, ident: str) -> FhirError:
    # [G] athena's exact not-found text is unknown; same string-details quirk.
    return FhirError(404, "not-found", f"Resource {kind}/{ident} not found")


def bundle(
    request: Request,
    kind: str,
    query: Query,
    pairs: list[tuple[str, str]],
    hits: list[T],
    render: Callable[[T], dict[str, Any]],
) -> Response:
    base = str(request.base_url).rstrip("/") + "/fhir/r4"
    page = hits[query.offset : query.offset + query.count]
    links = [{"relation": "self", "url": f"{base}/{kind}?{urlencode(pairs)}"}]
    if query.offset + query.count < len(hits):
        raw = f"{query.offset + query.count}.{query.fingerprint}".encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        links.append(
            {
                "relation": "next",
                "url": f"{base}/{kind}?{urlencode([*query.echo, ('cursor', cursor)])}",
            }
        )
    resources = [render(item) for item in page]
    return _fhir(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(hits),
            "link": links,
            "entry": [
                {
                    "fullUrl": f"{base}/{kind}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in resources
            ],
        }
    )


# -- Encounter ------------------------------------------------------------------------------


def render_encounter(world: World, record: EncounterRecord) -> dict[str, Any]:
    appointment = (
        world.schedule.appointment(record.practiceid, record.appointmentid)
        if record.appointmentid is not None
        else None
    )
    provider = world.provider(record.practiceid, record.providerid)
    department = world.department(record.practiceid, record.departmentid)
    return encounter_resource(
        record,
        appointment_status=appointment.status if appointment else None,
        provider_name=provider["displayname"] if provider else None,
        department_name=department["patientdepartmentname"] if department else None,
    )


def _encounter_day(record: EncounterRecord) -> datetime:
    if record.start is not None:
        return record.start.astimezone(UTC)
    day = record.encounterdate
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def read_encounter(request: Request) -> Response:
    """``GET /fhir/r4/Encounter/{id}``."""
    world, ident = world_of(request), str(request.path_params["id"])
    match = ENCOUNTER_ID.match(ident)
    if match is None:
        raise invalid_fhir_request()
    record = world.schedule.encounter(match["practice"], int(match["id"]))
    if record is None:
        raise _not_found("Encounter", ident)
    return _fhir(render_encounter(world, record))


async def search_encounters(request: Request) -> Response:
    """``GET /fhir/r4/Encounter`` (required any: ``patient`` or ``_id``)."""
    world, pairs = world_of(request), await request_pairs(request)
    query = parse_query(world, SEARCHES["Encounter"], pairs)
    pid = query.practiceid
    tests: list[Callable[[EncounterRecord], bool]] = []
    for value in query.values("patient"):
        patients = _ids([value], PATIENT_ID, pid)
        tests.append(lambda e, p=patients: e.patientid in p)  # type: ignore[misc]
    for value in query.values("_id"):
        wanted = _ids([value], ENCOUNTER_ID, pid)
        tests.append(lambda e, w=wanted: e.encounterid in w)  # type: ignore[misc]
    for value in query.values("location"):
        depts = {str(i) for i in _ids([value], DEPARTMENT_ID, pid)}
        tests.append(lambda e, d=depts: e.departmentid in d)  # type: ignore[misc]
    for value in query.values("practitioner"):
        providers = _ids([value], PRACTITIONER_ID, pid)
        tests.append(lambda e, p=providers: e.providerid in p)  # type: ignore[misc]
    for value in query.values("service-provider"):
        tests.append(_service_provider_test(value, pid))
    tests += _all(query.values("date"), lambda v: _date_test(v, _encounter_day))
    tests += _all(
        query.values("_lastUpdated"),
        lambda v: _date_test(v, lambda e: e.last_updated.astimezone(UTC)),
    )
    hits = sorted(
        (e for e in world.schedule.all_encounters(pid) if all(t(e) for t in tests)),
        key=lambda e: (e.encounterdate, e.encounterid),
    )
    return bundle(request, "Encounter", query, pairs, hits, lambda e: render_encounter(world, e))


def _service_provider_test(value: str, pid: str) -> Callable[[EncounterRecord], bool]:
    practices: set[str] = set()
    departments: set[str] = set()
    for item in value.split(","):
        item = item.strip().removeprefix("Organization/")
        practice = PRACTICE_ID.match(item)
        department = DEPARTMENT_ID.match(item)
        if practice:
            practices.add(practice["practice"])
        elif department:
            if department["practice"] == pid:
                departments.add(department["id"])
        else:
            raise invalid_fhir_request()
    return lambda e: e.practiceid in practices or e.departmentid in departments


# -- Condition ------------------------------------------------------------------------------


def _render_condition(world: World, diagnosis: DiagnosisRecord) -> dict[str, Any]:
    encounter = world.schedule.encounter(diagnosis.practiceid, diagnosis.encounterid)
    assert encounter is not None
    return condition_resource(diagnosis, encounter)


async def read_condition(request: Request) -> Response:
    """``GET /fhir/r4/Condition/{id}`` (encounter diagnoses)."""
    world, ident = world_of(request), str(request.path_params["id"])
    match = CONDITION_ID.match(ident)
    if match is None:  # a problem or health concern (emulator/fhir_clinical.py)
        return await read_clinical(request)
    diagnosis = world.schedule.diagnosis(match["practice"], int(match["id"]))
    if diagnosis is None:
        raise _not_found("Condition", ident)
    return _fhir(_render_condition(world, diagnosis))


def _code_test(value: str) -> Callable[[DiagnosisRecord], bool]:
    wanted: list[tuple[str, str]] = []
    for item in value.split(","):
        system, bar, code = item.strip().rpartition("|")
        wanted.append((system if bar else "", code))

    def test(d: DiagnosisRecord) -> bool:
        codes = {(SNOMED_SYSTEM, d.snomed)} | {(ICD10_SYSTEM, c) for c, _ in d.icd10}
        return any((s, c) in codes or (not s and c in {x for _, x in codes}) for s, c in wanted)

    return test


def _category_test(value: str) -> Callable[[DiagnosisRecord], bool]:
    ok = any(item.strip().rpartition("|")[2] == "encounter-diagnosis" for item in value.split(","))
    return lambda d: ok


async def search_conditions(request: Request) -> Response:
    """``GET /fhir/r4/Condition`` (required any: ``patient``, ``encounter`` or ``_id``)."""
    world, pairs = world_of(request), await request_pairs(request)
    query = parse_query(world, SEARCHES["Condition"], pairs)
    pid = query.practiceid
    tests: list[Callable[[DiagnosisRecord], bool]] = []
    for value in query.values("patient"):
        patients = _ids([value], PATIENT_ID, pid)
        tests.append(lambda d, p=patients: d.patientid in p)  # type: ignore[misc]
    for value in query.values("encounter"):
        encounters = _ids([value], ENCOUNTER_ID, pid)
        tests.append(lambda d, e=encounters: d.encounterid in e)  # type: ignore[misc]
    for value in query.values("_id"):
        items = [i.strip() for i in value.split(",")]
        wanted = _ids(
            [i for i in items if CONDITION_ID.match(i)] or ["a-0.ENCDX-0"], CONDITION_ID, pid
        )
        tests.append(lambda d, w=wanted: d.diagnosisid in w)  # type: ignore[misc]
    tests += _all(query.values("code"), _code_test)
    tests += _all(query.values("category"), _category_test)
    tests += _all(
        query.values("_lastUpdated"), lambda v: _date_test(v, lambda d: d.recorded.astimezone(UTC))
    )
    hits = sorted(
        (d for d in world.schedule.all_diagnoses(pid) if all(t(d) for t in tests)),
        key=lambda d: d.diagnosisid,
    )
    # then the problem list and health concerns (emulator/fhir_clinical.py)
    found = [_render_condition(world, d) for d in hits]
    found += search_store(world, "Condition", pid, query.params)
    return bundle(request, "Condition", query, pairs, found, lambda r: r)


# -- Provenance -----------------------------------------------------------------------------


def _provenance(world: World, pid: str, kind: str, ident: int) -> dict[str, Any] | None:
    if kind == "Encounter":
        encounter = world.schedule.encounter(pid, ident)
        return provenance_resource(pid, kind, ident, encounter.last_updated) if encounter else None
    if kind == "Coverage":
        insurance = world.insurances.get(pid, ident)
        if (
            insurance is None
            or not insurance.is_coverage
            or not world.patient(pid, insurance.patientid)
        ):
            return None
        recorded = datetime.fromisoformat(insurance.last_updated.replace("Z", "+00:00"))
        return provenance_resource(pid, kind, ident, recorded)
    if kind in PREFIXES:  # a clinical record (emulator/fhir_clinical.py)
        return clinical_provenance(world, pid, kind, ident)
    if kind != "Patient":
        return None
    patient = world.patient(pid, ident)
    if patient is None:
        return None
    recorded = datetime.fromisoformat(patient.last_updated.replace("Z", "+00:00"))
    return provenance_resource(pid, kind, ident, recorded)


async def read_provenance(request: Request) -> Response:
    """``GET /fhir/r4/Provenance/{id}``."""
    world, ident = world_of(request), str(request.path_params["id"])
    match = PROVENANCE_ID.match(ident)
    if match is None:
        raise invalid_fhir_request()
    resource = _provenance(world, match["practice"], match["kind"], int(match["id"]))
    if resource is None:
        raise _not_found("Provenance", ident)
    return _fhir(resource)


async def search_provenance(request: Request) -> Response:
    """``GET /fhir/r4/Provenance`` by ``target`` (Patient/Encounter/Coverage), ``patient`` or
    ``_id``; a patient's Provenance covers the patient, its encounters and its coverages."""
    world, pairs = world_of(request), await request_pairs(request)
    query = parse_query(world, SEARCHES["Provenance"], pairs)
    pid = query.practiceid
    keys: set[tuple[str, int]] | None = None

    def narrow(found: set[tuple[str, int]]) -> None:
        nonlocal keys
        keys = found if keys is None else keys & found

    for value in query.values("target"):
        found: set[tuple[str, int]] = set()
        for item in value.split(","):
            kind, _, ident = item.strip().partition("/")
            if kind == "Encounter":
                found |= {("Encounter", i) for i in _ids([ident], ENCOUNTER_ID, pid)}
            elif kind == "Patient":
                found |= {("Patient", i) for i in _ids([ident], PATIENT_ID, pid)}
            elif kind == "Coverage":
                found |= {("Coverage", i) for i in _ids([ident], _COVERAGE_ID, pid)}
            elif kind in CLINICAL_SPECS and (target := _CLINICAL_ID.match(ident)):
                if target["practice"] == pid and target["prefix"] in PREFIXES:
                    found.add((target["prefix"], int(target["n"])))
            else:
                raise invalid_fhir_request()
        narrow(found)
    for value in query.values("patient"):
        patients = _ids([value], PATIENT_ID, pid)
        found = {("Patient", p) for p in patients}
        found |= {
            ("Encounter", e.encounterid)
            for e in world.schedule.all_encounters(pid)
            if e.patientid in patients
        }
        found |= {
            ("Coverage", r.insuranceid)
            for r in world.insurances.all(pid)
            if r.patientid in patients and r.is_coverage
        }
        narrow(found)
    for value in query.values("_id"):
        found = set()
        for item in value.split(","):
            match = PROVENANCE_ID.match(item.strip())
            if match is None:
                raise invalid_fhir_request()
            if match["practice"] == pid:
                found.add((match["kind"], int(match["id"])))
        narrow(found)
    resources = [
        r
        for kind, ident in sorted(keys or set(), key=lambda k: (_KIND_ORDER.get(k[0], 3), k[1]))
        if (r := _provenance(world, pid, kind, ident)) is not None
    ]
    return bundle(request, "Provenance", query, pairs, resources, lambda r: r)


# -- Practitioner, Organization, Location, Appointment ---------------------------------------


async def read_practitioner(request: Request) -> Response:
    world, ident = world_of(request), str(request.path_params["id"])
    match = PRACTITIONER_ID.match(ident)
    if match is None:
        raise invalid_fhir_request()
    provider = world.provider(match["practice"], int(match["id"]))
    if provider is None:
        raise _not_found("Practitioner", ident)
    return _fhir(practitioner_resource(match["practice"], provider))


async def search_practitioners(request: Request) -> Response:
    """``GET /fhir/r4/Practitioner``: ``_id``, or ``identifier`` + ``ah-practice``."""
    world, pairs = world_of(request), await request_pairs(request)
    query = parse_query(world, SEARCHES["Practitioner"], pairs)
    pid = query.practiceid
    rows = list(world.providers.get(pid, []))
    for value in query.values("_id"):
        wanted = _ids([value], PRACTITIONER_ID, pid)
        rows = [p for p in rows if p["providerid"] in wanted]
    for value in query.values("identifier"):
        pairs_wanted = [item.strip().rpartition("|") for item in value.split(",")]

        def hit(p: dict[str, Any], wanted: list[tuple[str, str, str]] = pairs_wanted) -> bool:
            mine = {(NPI_SYSTEM, str(p["npi"])), (provider_system(pid), str(p["providerid"]))}
            return any((s, v) in mine if bar else v in {x for _, x in mine} for s, bar, v in wanted)

        rows = [p for p in rows if hit(p)]
    return bundle(
        request, "Practitioner", query, pairs, rows, lambda p: practitioner_resource(pid, p)
    )


def _organization(world: World, ident: str) -> dict[str, Any] | None:
    practice = PRACTICE_ID.match(ident)
    if practice:
        info = world.practices.get(practice["practice"])
        return practice_organization(info) if info else None
    if PACKAGE_ID.match(ident):
        return package_lookup(world, ident)
    department = DEPARTMENT_ID.match(ident)
    if department is None:
        raise invalid_fhir_request()
    row = world.department(department["practice"], department["id"])
    return department_organization(department["practice"], row) if row else None


def _location(world: World, ident: str) -> dict[str, Any] | None:
    match = DEPARTMENT_ID.match(ident)
    if match is None:
        raise invalid_fhir_request()
    row = world.department(match["practice"], match["id"])
    return location_resource(match["practice"], row) if row else None


def _appointment(world: World, ident: str) -> dict[str, Any] | None:
    match = APPOINTMENT_ID.match(ident)
    if match is None:
        raise invalid_fhir_request()
    record = world.schedule.appointment(match["practice"], int(match["id"]))
    if record is None or record.status == "o":
        # [G] open slots are not Appointments on athena's FHIR surface.
        return None
    return appointment_resource(record, world.department_tz(record.practiceid, record.departmentid))


def _by_id_handlers(
    kind: str, lookup: Callable[[World, str], dict[str, Any] | None]
) -> tuple[Callable[[Request], Any], Callable[[Request], Any]]:
    async def read(request: Request) -> Response:
        ident = str(request.path_params["id"])
        resource = lookup(world_of(request), ident)
        if resource is None:
            raise _not_found(kind, ident)
        return _fhir(resource)

    async def search(request: Request) -> Response:
        world, pairs = world_of(request), await request_pairs(request)
        query = parse_query(world, SEARCHES[kind], pairs)
        found: list[dict[str, Any]] = []
        for value in query.values("_id"):
            for item in value.split(","):
                ident = item.strip().removeprefix(f"{kind}/")
                resource = lookup(world, ident)
                # The practice Organization a-1.Practice-{pid} belongs to practice {pid}.
                own = PRACTICE_ID.match(ident)
                practice = own["practice"] if own else _practice_from_id(ident)
                if (
                    resource is not None
                    and practice == query.practiceid
                    and resource["id"] not in {r["id"] for r in found}
                ):
                    found.append(resource)
        return bundle(request, kind, query, pairs, found, lambda r: r)

    read.__name__, search.__name__ = f"read_{kind.lower()}", f"search_{kind.lower()}"
    return read, search


read_organization, search_organizations = _by_id_handlers("Organization", _organization)
read_location, search_locations = _by_id_handlers("Location", _location)
read_appointment, search_appointments = _by_id_handlers("Appointment", _appointment)
