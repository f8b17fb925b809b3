"""Condition, Provenance, Practitioner, PractitionerRole, Location and Organization end to end."""

from __future__ import annotations

import httpx
import pytest

from tests.api.clinical_support import PROFILES, SANDBOX, search
from tests.support.profiles import ProfileValidator

DONNA = SANDBOX[0]
NPI = "http://hl7.org/fhir/sid/us-npi"


def test_condition_searches(fhir: httpx.Client, validator: ProfileValidator) -> None:
    # the encounter diagnoses (problems and health concerns: tests/api/uscore/)
    conditions = search(fhir, "Condition", {"patient": DONNA, "category": "encounter-diagnosis"})[0]
    assert conditions
    assert {c["subject"]["reference"] for c in conditions} == {f"Patient/{DONNA}"}
    typed = search(
        fhir, "Condition", {"patient": f"Patient/{DONNA}", "category": "encounter-diagnosis"}
    )[0]
    assert typed == conditions
    for condition in conditions:
        validator.assert_valid(condition, PROFILES["Condition"])
        assert fhir.get(f"Condition/{condition['id']}").json() == condition
    first = conditions[0]
    encounter = first["encounter"]["reference"]
    by_encounter = search(fhir, "Condition", {"encounter": encounter})[0]
    assert first["id"] in [c["id"] for c in by_encounter]
    assert {c["encounter"]["reference"] for c in by_encounter} == {encounter}
    for category in (
        "encounter-diagnosis",
        "http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis",
    ):
        hits = search(fhir, "Condition", {"patient": DONNA, "category": category})[0]
        assert [c["id"] for c in hits] == [c["id"] for c in conditions]
    problems = search(fhir, "Condition", {"patient": DONNA, "category": "problem-list-item"})[0]
    assert not {c["id"] for c in problems} & {c["id"] for c in conditions}
    for coding in first["code"]["coding"]:
        for token in (coding["code"], f"{coding['system']}|{coding['code']}"):
            hits = search(fhir, "Condition", {"patient": DONNA, "code": token})[0]
            hits = [c for c in hits if c["id"].split(".")[1].startswith("ENCDX")]
            assert first["id"] in [c["id"] for c in hits]
            assert all(
                any(c2["code"] == coding["code"] for c2 in c["code"]["coding"]) for c in hits
            )


def test_encounter_reason_references_resolve_to_its_conditions(fhir: httpx.Client) -> None:
    encounters = search(fhir, "Encounter", {"patient": DONNA})[0]
    with_dx = [e for e in encounters if e.get("reasonReference")]
    assert with_dx
    for encounter in with_dx:
        for ref in encounter["reasonReference"]:
            condition = fhir.get(ref["reference"]).json()
            assert condition["encounter"]["reference"] == f"Encounter/{encounter['id']}"


def test_provenance_read_and_search(fhir: httpx.Client, validator: ProfileValidator) -> None:
    encounter = search(fhir, "Encounter", {"patient": DONNA})[0][0]
    found = search(fhir, "Provenance", {"target": f"Encounter/{encounter['id']}"})[0]
    assert [p["target"] for p in found] == [[{"reference": f"Encounter/{encounter['id']}"}]]
    validator.assert_valid(found[0], PROFILES["Provenance"])
    assert fhir.get(f"Provenance/{found[0]['id']}").json() == found[0]
    everything = search(fhir, "Provenance", {"patient": DONNA})[0]
    assert found[0]["id"] in [p["id"] for p in everything]
    assert fhir.get("Provenance/a-195900.Provenance-Encounter-1").status_code == 404


def test_practitioner_searches(fhir: httpx.Client, validator: ProfileValidator) -> None:
    doe = fhir.get("Practitioner/a-195900.Provider-23").json()
    validator.assert_valid(doe, PROFILES["Practitioner"])
    npi = next(i["value"] for i in doe["identifier"] if i["system"] == NPI)
    for params in (
        {"_id": doe["id"]},
        {"identifier": npi},
        {"identifier": f"{NPI}|{npi}"},
        {"identifier": "urn:athenahealth:athenanet:provider:195900|23"},
        {"name": "doe"},
        {"name": "Jane"},
    ):
        hits = search(fhir, "Practitioner", params)[0]
        assert [p["id"] for p in hits] == [doe["id"]], params
    everyone = search(fhir, "Practitioner", {"name": "a"})[0]
    for practitioner in everyone:
        validator.assert_valid(practitioner, PROFILES["Practitioner"])
    assert search(fhir, "Practitioner", {"identifier": f"{NPI}|0000000000"})[0] == []


def test_practitioner_roles(fhir: httpx.Client, validator: ProfileValidator) -> None:
    roles = search(fhir, "PractitionerRole", {"practitioner": "Practitioner/a-195900.Provider-23"})[
        0
    ]
    assert len(roles) == 5
    for role in roles:
        validator.assert_valid(role, PROFILES["PractitionerRole"])
        assert fhir.get(f"PractitionerRole/{role['id']}").json() == role
    same = search(fhir, "PractitionerRole", {"practitioner": "a-195900.Provider-23"})[0]
    assert same == roles
    specialty = "http://nucc.org/provider-taxonomy|208000000X"
    pediatric = search(fhir, "PractitionerRole", {"specialty": specialty})[0]
    assert pediatric and {r["practitioner"]["reference"] for r in pediatric} == {
        "Practitioner/a-195900.Provider-71"
    }
    bundle = fhir.get(
        "PractitionerRole",
        params={"_id": roles[0]["id"], "_include": "PractitionerRole:practitioner"},
    ).json()
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["match", "include"]
    assert fhir.get("PractitionerRole/a-195900.PractitionerRole-23-999").status_code == 404


def test_locations_and_organizations(fhir: httpx.Client, validator: ProfileValidator) -> None:
    location = fhir.get("Location/a-195900.Department-1").json()
    validator.assert_valid(location, PROFILES["Location"])
    city = location["address"]["city"]
    for params in (
        {"_id": location["id"]},
        {"name": location["name"][:4]},
        {"address": city},
        {"address-city": city},
        {"address-state": location["address"]["state"]},
        {"address-postalcode": location["address"]["postalCode"]},
    ):
        hits = search(fhir, "Location", params)[0]
        assert location["id"] in [h["id"] for h in hits], params
        for hit in hits:
            validator.assert_valid(hit, PROFILES["Location"])
    practice = fhir.get("Organization/a-1.Practice-195900").json()
    validator.assert_valid(practice, PROFILES["Organization"])
    assert search(fhir, "Organization", {"_id": practice["id"]})[0] == [practice]
    department = fhir.get(location["managingOrganization"]["reference"]).json()
    validator.assert_valid(department, PROFILES["Organization"])
    assert department["partOf"]["reference"] == "Organization/a-1.Practice-195900"
    named = search(fhir, "Organization", {"name": department["name"]})[0]
    assert department["id"] in [o["id"] for o in named]
    assert fhir.get("Organization/a-1.Practice-195999").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "Location/a-195900.Department-1",
        "Organization/a-1.Practice-195900",
        "Practitioner/a-195900.Provider-23",
    ],
)
def test_reference_data_is_readable_by_patient_limited_tokens_only_with_scope(
    fhir: httpx.Client, path: str
) -> None:
    assert fhir.get(path).status_code == 200
