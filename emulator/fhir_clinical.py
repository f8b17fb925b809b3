"""athena's FHIR R4 clinical resources beyond encounters (API-NOTES §5.4 "Also read and
search-type"): one generic store keyed by resource type, with each type's search surface
declared in :data:`SPECS`, read and searched by the same two handlers.

The records are athena's own FHIR renderings (``emulator.clinical_seed`` builds them
deterministically from the seeded patients and encounters), so a handler only finds and
pages them. Searches follow the rules of :mod:`emulator.fhir_resources`: athena's
"required any" combinations, unknown parameters are the 400 "Invalid FHIR request",
``ah-practice`` (or a practice-carrying id), ``_count`` + ``cursor`` paging.

[G] athena's id prefixes for these types are not published; ids are
``a-{practiceid}.{Prefix}-{n}`` with the prefix from :data:`SPECS` (Conditions from the
problem list ``Problem``, health concerns ``HealthConcern``; encounter diagnoses stay
``ENCDX`` in :mod:`emulator.fhir_resources`). [G] Which parameters athena filters on
besides ``patient`` and ``_id`` is unknown; the ones declared here are filtered exactly
(tokens on code or system|code, references on id or Type/id).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.errors import FhirError, invalid_fhir_request, json_response
from emulator.form import request_pairs
from emulator.rest_practice import world_of

Json = dict[str, Any]
FHIR_JSON = "application/fhir+json"
_ID = re.compile(r"^a-(?P<practice>\d+)\.(?P<prefix>[A-Za-z]+)-(?P<n>\d{1,12})$")


@dataclass(frozen=True)
class Param:
    """One search parameter athena filters on: ``token``, ``reference`` or ``date``
    (``_lastUpdated``: an instant compared as athena does, section 5.4)."""

    kind: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class TypeSpec:
    resource: str
    prefixes: tuple[str, ...]
    params: dict[str, Param]
    required: tuple[frozenset[str], ...]  # any one set, all of its names present
    patient_path: str | None = "subject"  # None: reference data outside every patient


def _spec(
    resource: str,
    patient: str | None = "subject",
    *,
    prefixes: tuple[str, ...] = (),
    tokens: dict[str, str] | None = None,
    refs: dict[str, str] | None = None,
    required: tuple[frozenset[str], ...] | None = None,
) -> TypeSpec:
    params: dict[str, Param] = {"_id": Param("id", ("id",))}
    if patient is not None:
        params["patient"] = Param("reference", (patient,))
        params["_lastUpdated"] = Param("date", ("meta.lastUpdated",))
    for name, path in (tokens or {}).items():
        params[name] = Param("token", tuple(path.split("|")))
    for name, path in (refs or {}).items():
        params[name] = Param("reference", (path,))
    if required is None:
        required = (frozenset({"_id"}),) + ((frozenset({"patient"}),) if patient else ())
    return TypeSpec(resource, prefixes or (resource,), params, required, patient)


SPECS: dict[str, TypeSpec] = {
    s.resource: s
    for s in (
        _spec("AllergyIntolerance", "patient", tokens={"clinical-status": "clinicalStatus"}),
        _spec("CarePlan", tokens={"category": "category", "status": "status"}),
        _spec("CareTeam", tokens={"status": "status", "role": "participant.role"}),
        _spec(
            "Condition",
            prefixes=("Problem", "HealthConcern"),
            tokens={"category": "category", "code": "code", "clinical-status": "clinicalStatus"},
            refs={"encounter": "encounter"},
        ),
        _spec("Device", "patient", tokens={"type": "type", "status": "status"}),
        _spec(
            "DiagnosticReport",
            tokens={"category": "category", "code": "code", "status": "status"},
            refs={"encounter": "encounter"},
        ),
        _spec(
            "DocumentReference",
            tokens={"category": "category", "type": "type", "status": "status"},
            refs={"encounter": "context.encounter"},
        ),
        _spec("Goal", tokens={"lifecycle-status": "lifecycleStatus", "description": "description"}),
        _spec("Immunization", "patient", tokens={"status": "status"}),
        _spec("Medication", None, tokens={"code": "code"}),
        _spec("Media", tokens={"status": "status"}),
        _spec(
            "MedicationRequest",
            tokens={"intent": "intent", "status": "status"},
            refs={"encounter": "encounter"},
            # [C1, MET] athena wants intent on every MedicationRequest search
            required=(frozenset({"_id"}), frozenset({"patient", "intent"})),
        ),
        _spec("MedicationDispense", tokens={"status": "status", "type": "type"}),
        _spec(
            "Observation",
            tokens={"category": "category", "code": "code", "status": "status"},
            refs={"encounter": "encounter"},
        ),
        _spec("Procedure", tokens={"code": "code", "status": "status"}),
        _spec("QuestionnaireResponse", tokens={"status": "status"}),
        _spec("RelatedPerson", "patient"),
        _spec(
            "ServiceRequest",
            tokens={"category": "category", "code": "code", "status": "status"},
        ),
        _spec("Specimen", tokens={"type": "type"}),
    )
}  # fmt: skip
PREFIXES: dict[str, str] = {p: s.resource for s in SPECS.values() for p in s.prefixes}


@dataclass
class ClinicalStore:
    """Every clinical resource by type and practice (seed order), plus Binary content."""

    lock: threading.RLock
    by_type: dict[str, dict[str, list[Json]]] = field(default_factory=dict)
    by_id: dict[str, Json] = field(default_factory=dict)
    binaries: dict[str, Json] = field(default_factory=dict)

    def add(self, practiceid: str, resource: Json) -> None:
        with self.lock:
            if resource["resourceType"] == "Binary":
                self.binaries[resource["id"]] = resource
                return
            rows = self.by_type.setdefault(resource["resourceType"], {})
            rows.setdefault(practiceid, []).append(resource)
            self.by_id[f"{resource['resourceType']}/{resource['id']}"] = resource

    def get(self, rtype: str, ident: str) -> Json | None:
        with self.lock:
            return self.by_id.get(f"{rtype}/{ident}")

    def all(self, rtype: str, practiceid: str) -> list[Json]:
        with self.lock:
            return list(self.by_type.get(rtype, {}).get(practiceid, []))

    def by_local(self, prefix: str, practiceid: str, n: int) -> Json | None:
        """The resource ``a-{practiceid}.{prefix}-{n}`` (Provenance targets)."""
        rtype = PREFIXES.get(prefix)
        return None if rtype is None else self.get(rtype, f"a-{practiceid}.{prefix}-{n}")


# -- matching --------------------------------------------------------------------------------


def values_at(node: Any, path: str) -> list[Any]:
    current: list[Any] = [node]
    for part in path.split("."):
        following: list[Any] = []
        for item in current:
            value = item.get(part) if isinstance(item, dict) else None
            if isinstance(value, list):
                following.extend(value)
            elif value is not None:
                following.append(value)
        current = following
    return current


def _codes(found: Iterable[Any]) -> set[tuple[str, str]]:
    codes: set[tuple[str, str]] = set()
    for value in found:
        if isinstance(value, str):
            codes.add(("", value))
        elif isinstance(value, dict):
            coding = value.get("coding")
            items: list[Any] = coding if isinstance(coding, list) else [value]
            for c in items:
                code = c.get("code", c.get("value"))
                if code is not None:
                    codes.add((str(c.get("system", "")), str(code)))
    return codes


def _token_test(param: Param, text: str) -> Callable[[Json], bool]:
    wanted = []
    for item in text.split(","):
        system, bar, code = item.strip().rpartition("|")
        wanted.append((system if bar else None, code))

    def test(resource: Json) -> bool:
        have = _codes(v for p in param.paths for v in values_at(resource, p))
        return any(
            (s is None and code in {c for _, c in have}) or (s is not None and (s, code) in have)
            for s, code in wanted
        )

    return test


def _reference_test(param: Param, text: str, practiceid: str) -> Callable[[Json], bool]:
    wanted: set[str] = set()
    for item in text.split(","):
        ident = item.strip().rsplit("/", 1)[-1]
        if not _ID.match(ident):
            raise invalid_fhir_request()
        wanted.add(ident)

    def test(resource: Json) -> bool:
        refs = [v.get("reference", "") for p in param.paths for v in values_at(resource, p)]
        return any(isinstance(r, str) and r.rsplit("/", 1)[-1] in wanted for r in refs)

    return test


def _updated_test(text: str) -> Callable[[Json], bool]:
    from emulator.fhir_search import compare_instant, date_interval

    prefix, start, end = date_interval(text)

    def test(resource: Json) -> bool:
        stamp = resource.get("meta", {}).get("lastUpdated")
        if not stamp:
            return False
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
        return compare_instant(prefix, start, end, at)

    return test


def matching(
    spec: TypeSpec, practiceid: str, params: dict[str, list[str]]
) -> list[Callable[[Json], bool]]:
    """One test per (AND) parameter value, each an OR over its comma list."""
    tests: list[Callable[[Json], bool]] = []
    for name, texts in params.items():
        param = spec.params.get(name)
        if param is None:
            continue
        for text in texts:
            if param.kind == "id":
                wanted = {item.strip().rsplit("/", 1)[-1] for item in text.split(",")}
                tests.append(lambda r, w=wanted: r["id"] in w)  # type: ignore[misc]
            elif param.kind == "token":
                tests.append(_token_test(param, text))
            elif param.kind == "reference":
                tests.append(_reference_test(param, text, practiceid))
            else:
                tests.append(_updated_test(text))
    return tests


def search_store(
    world: Any, rtype: str, practiceid: str, params: dict[str, list[str]]
) -> list[Json]:
    tests = matching(SPECS[rtype], practiceid, params)
    return [r for r in world.clinical.all(rtype, practiceid) if all(t(r) for t in tests)]


# -- handlers --------------------------------------------------------------------------------


def _not_found(kind: str, ident: str) -> FhirError:
    return FhirError(404, "not-found", f"Resource {kind}/{ident} not found")


def _type_of(request: Request) -> str:
    return request.url.path.split("/fhir/r4/", 1)[1].split("/", 1)[0]


async def read_clinical(request: Request) -> Response:
    """``GET /fhir/r4/{Type}/{id}`` for every type of :data:`SPECS`."""
    rtype, ident = _type_of(request), str(request.path_params["id"])
    match = _ID.match(ident)
    if match is None or match["prefix"] not in SPECS[rtype].prefixes:
        raise invalid_fhir_request()
    resource = world_of(request).clinical.get(rtype, ident)
    if resource is None:
        raise _not_found(rtype, ident)
    return json_response(resource, 200, FHIR_JSON)


async def search_clinical(request: Request) -> Response:
    """``GET /fhir/r4/{Type}`` and ``POST /fhir/r4/{Type}/_search``."""
    from emulator.fhir_resources import SearchSpec, bundle, parse_query

    rtype = _type_of(request)
    spec = SPECS[rtype]
    world, pairs = world_of(request), await request_pairs(request)
    id_params = tuple(n for n, p in spec.params.items() if p.kind in ("id", "reference"))
    query = parse_query(
        world, SearchSpec(rtype, tuple(spec.params), spec.required, id_params), pairs
    )
    hits = search_store(world, rtype, query.practiceid, query.params)
    return bundle(request, rtype, query, pairs, hits, lambda r: r)


async def read_binary(request: Request) -> Response:
    """``GET /fhir/r4/Binary/{id}`` (read only, section 5.4): a FHIR Binary in JSON."""
    ident = str(request.path_params["id"])
    match = _ID.match(ident)
    if match is None or match["prefix"] != "Binary":
        raise invalid_fhir_request()
    world = world_of(request)
    with world.clinical.lock:
        resource = world.clinical.binaries.get(ident)
    if resource is None:
        raise _not_found("Binary", ident)
    return json_response(resource, 200, FHIR_JSON)


def routes(need: Callable[[str, str], Any]) -> list[tuple[str, str, Any, Any]]:
    """The emulator route rows for every type of :data:`SPECS`, and Binary."""
    out: list[tuple[str, str, Any, Any]] = []
    for rtype in SPECS:
        if rtype != "Condition":  # served with the encounter diagnoses (fhir_resources)
            out += [
                ("GET", f"/fhir/r4/{rtype}", need(rtype, "search"), search_clinical),
                ("POST", f"/fhir/r4/{rtype}/_search", need(rtype, "search"), search_clinical),
                ("GET", f"/fhir/r4/{rtype}/{{id}}", need(rtype, "read"), read_clinical),
            ]
    out.append(("GET", "/fhir/r4/Binary/{id}", need("Binary", "read"), read_binary))
    return out


def clinical_provenance(world: Any, practiceid: str, prefix: str, n: int) -> Json | None:
    """athena's Provenance of a clinical record ``a-{pid}.Provenance-{Prefix}-{n}``: the
    practice authored it when it was last updated [G] (as for Encounters)."""
    from emulator.fhir_encounter import provenance_resource

    target = world.clinical.by_local(prefix, practiceid, n)
    if target is None or "meta" not in target:
        return None
    recorded = datetime.fromisoformat(target["meta"]["lastUpdated"].replace("Z", "+00:00"))
    resource = provenance_resource(practiceid, prefix, n, recorded)
    resource["target"] = [{"reference": f"{target['resourceType']}/{target['id']}"}]
    return resource
