"""Across the sandbox and generated patients: every served clinical and practice resource is
valid US Core 6.1, must-support elements are all covered (US-CORE-NOTES §1.3, §2.3), and
every reference the facade emits resolves through the facade to a valid resource."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conformance.context import profile_of
from facade.mapping.paths import get_values, parse_path
from tests.api.clinical_support import PROFILES, SANDBOX, Json, references, search
from tests.support.profiles import ProfileValidator, _base_errors


@pytest.fixture(scope="module")
def served(fhir: httpx.Client) -> dict[str, list[Json]]:
    """Sandbox patients plus 40 generated ones, with their encounters, diagnoses, provenance."""
    patients = [fhir.get(f"Patient/{p}").json() for p in SANDBOX]
    patients += search(fhir, "Patient", {"gender": "female,male", "_count": "40"})[0][:40]
    out: dict[str, list[Json]] = {"Patient": patients, "Encounter": [], "Condition": []}
    out["Provenance"] = []
    for patient in patients:
        encounters, provenance = search(
            fhir, "Encounter", {"patient": patient["id"], "_revinclude": "Provenance:target"}
        )
        out["Encounter"] += encounters
        out["Provenance"] += provenance
        out["Condition"] += search(fhir, "Condition", {"patient": patient["id"]})[0]
    out["Encounter"] += [fhir.get(f"Encounter/{e['id']}").json() for e in out["Encounter"][:5]]
    out["PractitionerRole"] = search(fhir, "PractitionerRole", {})[0]
    out["Practitioner"] = search(fhir, "Practitioner", {"name": "a,e,i,o,u"})[0]
    out["Location"] = search(fhir, "Location", {})[0]
    out["Organization"] = search(fhir, "Organization", {})[0]
    return out


def test_every_served_resource_is_valid_us_core(
    served: dict[str, list[Json]], validator: ProfileValidator
) -> None:
    assert len(served["Encounter"]) > 40 and len(served["Condition"]) > 40
    failures: dict[str, list[Any]] = {}
    for rtype, resources in served.items():
        assert resources, rtype
        for resource in resources:
            errors = validator.validate(resource, profile_of(resource) or PROFILES[rtype])
            if errors:
                failures[f"{rtype}/{resource['id']}"] = errors
    assert failures == {}


ENCOUNTER_MUST_SUPPORT: dict[str, tuple[str, ...]] = {
    "identifier.system": ("identifier.system",),
    "identifier.value": ("identifier.value",),
    "status": ("status",),
    "class": ("class",),
    "type": ("type",),
    "subject": ("subject",),
    "participant.type": ("participant.type",),
    "participant.period": ("participant.period",),
    "participant.individual": ("participant.individual",),
    "period": ("period",),
    "reasonCode or reasonReference": ("reasonCode", "reasonReference"),
    "hospitalization.dischargeDisposition": ("hospitalization.dischargeDisposition",),
    "location.location or serviceProvider": ("location.location", "serviceProvider"),
    "location.location": ("location.location",),
    "serviceProvider": ("serviceProvider",),
    "reasonReference": ("reasonReference",),
    "meta.lastUpdated": ("meta.lastUpdated",),
}


def _covered(resources: list[Json], paths: tuple[str, ...]) -> bool:
    return any(get_values(r, parse_path(p)) for r in resources for p in paths)


def test_encounter_must_support_is_covered_by_the_sandbox_patients(
    served: dict[str, list[Json]],
) -> None:
    sandbox = [e for e in served["Encounter"] if e["subject"]["reference"][8:] in SANDBOX]
    missing = [k for k, paths in ENCOUNTER_MUST_SUPPORT.items() if not _covered(sandbox, paths)]
    assert missing == []


def test_missing_data_is_marked_with_data_absent_reason(served: dict[str, list[Json]]) -> None:
    """Inferno's Missing Data group needs a DAR `unknown` code somewhere (US-CORE-NOTES §1.1)."""
    codes = [
        c
        for e in served["Encounter"]
        for t in e["type"]
        for c in t.get("coding", [])
        if c["system"] == "http://terminology.hl7.org/CodeSystem/data-absent-reason"
    ]
    assert any(c["code"] == "unknown" for c in codes)


def test_condition_and_provenance_must_support(served: dict[str, list[Json]]) -> None:
    for path in ("category", "clinicalStatus", "verificationStatus", "code", "subject", "encounter",
                 "onsetDateTime", "recordedDate", "meta.lastUpdated"):  # fmt: skip
        assert _covered(served["Condition"], (path,)), path
    for path in ("target", "recorded", "agent.type", "agent.who"):
        assert _covered(served["Provenance"], (path,)), path
    kinds = {p["target"][0]["reference"].split("/")[0] for p in served["Provenance"]}
    assert kinds == {"Encounter"}


def test_every_emitted_reference_resolves_to_a_valid_resource(
    fhir: httpx.Client, served: dict[str, list[Json]], validator: ProfileValidator
) -> None:
    wanted: set[str] = set()
    for resources in served.values():
        for resource in resources:
            wanted.update(references(resource))
    kinds = {ref.split("/")[0] for ref in wanted}
    assert kinds >= {
        "Patient",
        "Practitioner",
        "Location",
        "Organization",
        "Condition",
        "Encounter",
        "Appointment",
    }  # fmt: skip  (Appointment: Encounter reads)
    resolved: dict[str, Json] = {}
    for ref in sorted(wanted):
        response = fhir.get(ref)
        assert response.status_code == 200, (ref, response.text)
        target = response.json()
        rtype, rid = ref.split("/")
        assert (target["resourceType"], target["id"]) == (rtype, rid)
        resolved[ref] = target
    # the references of what was resolved resolve too (Organization.partOf, managingOrganization)
    for ref in sorted({r for t in resolved.values() for r in references(t)} - set(resolved)):
        assert fhir.get(ref).status_code == 200, ref
    failures = {  # US Core types against their profile; Appointment (base R4) as R4
        ref: validator.validate(t, PROFILES[t["resourceType"]])
        if t["resourceType"] in PROFILES
        else _base_errors(t)
        for ref, t in resolved.items()
    }
    assert {k: v for k, v in failures.items() if v} == {}
    practice = "Organization/a-1.Practice-195900"
    assert practice in wanted  # Patient's ah-practice extension and Encounter.serviceProvider
