"""US Core 6.1 clinical types end to end through the facade (emulator -> tables -> FHIR):
every profile served with meta.profile and valid, advertised exactly in /metadata,
searched in the forms Inferno uses, includes and revincludes, Binary content, $docref,
every emitted reference resolving through the facade (the reference walker), and
must-support coverage across the sandbox patients."""

from __future__ import annotations

import base64

import httpx
import pytest

from conformance.must_support import MUST_SUPPORT
from conformance.uscore import at, references_in
from conformance.uscore_spec import GROUPS
from facade.mapping.loader import load_mappings
from tests.api.clinical_support import SANDBOX, satisfies, search
from tests.api.uscore.support import PATIENT_TYPES, US_CORE, Json, gather
from tests.support.profiles import ProfileValidator, _base_errors

DONNA = SANDBOX[0]
MAPPINGS = load_mappings()


@pytest.fixture(scope="module")
def served(fhir: httpx.Client) -> dict[str, list[Json]]:
    return gather(fhir)


@pytest.mark.parametrize("rtype", [*PATIENT_TYPES, "Medication"])
def test_every_type_is_served_valid_with_its_profile(
    rtype: str, served: dict[str, list[Json]], validator: ProfileValidator
) -> None:
    resources = served[rtype]
    assert resources, rtype
    table = MAPPINGS.tables[rtype]
    supported = {table.profile, *table.profiles} - {None}
    failures = {}
    for resource in resources:
        declared = resource.get("meta", {}).get("profile", [])
        if supported:
            assert len(declared) == 1 and declared[0] in supported, resource["id"]
            errors = validator.validate(resource, f"{declared[0]}|6.1.0")
        else:  # Media: a base resource, valid R4
            assert not declared
            errors = _base_errors(resource)
        if errors:
            failures[resource["id"]] = errors
    assert failures == {}


def test_every_profile_of_us_core_6_1_is_served(served: dict[str, list[Json]]) -> None:
    seen = {
        p.removeprefix(US_CORE)
        for resources in served.values()
        for r in resources
        for p in r.get("meta", {}).get("profile", [])
    }
    assert {g.profile for g in GROUPS} | {"us-core-medication"} <= seen


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.profile)
def test_must_support_is_covered_by_the_sandbox_patients(
    group: object, served: dict[str, list[Json]]
) -> None:
    from conformance.uscore_spec import Group

    assert isinstance(group, Group)
    found = [
        r
        for r in served[group.resource]
        if f"{US_CORE}{group.profile}" in r.get("meta", {}).get("profile", [])
    ]
    assert found
    missing = [p for p in MUST_SUPPORT[group.profile] if not any(at(r, p) for r in found)]
    assert missing == []


def test_data_absent_reason_marks_what_is_missing(served: dict[str, list[Json]]) -> None:
    observations = served["Observation"]
    absent = [o for o in observations if "dataAbsentReason" in o]
    assert absent and all("valueQuantity" not in o for o in absent)
    codes = {o["dataAbsentReason"]["coding"][0]["code"] for o in absent}
    assert {"unknown", "not-performed", "asked-declined"} <= codes
    extension = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
    unknown_dates = [
        p for p in served["Procedure"] if at(p, f"performedPeriod.extension({extension})")
    ]
    assert unknown_dates and all("start" not in p["performedPeriod"] for p in unknown_dates)


def test_metadata_advertises_exactly_the_tables(fhir: httpx.Client) -> None:
    statement = fhir.get("metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for rtype in [*PATIENT_TYPES, "Medication", "Binary"]:
        table = MAPPINGS.tables[rtype]
        entry = resources[rtype]
        advertised = {p["name"] for p in entry.get("searchParam", [])}
        assert advertised == {n for n, d in table.search_params.items() if d.definition}, rtype
        if table.profile:
            assert {p.split("|")[0] for p in entry["supportedProfile"]} == {
                table.profile,
                *table.profiles,
            }
        assert set(entry.get("searchRevInclude", [])) == set(table.revincludes)
        assert set(entry.get("searchInclude", [])) == set(table.includes)
    assert resources["Binary"]["interaction"] == [{"code": "read"}]
    assert "MedicationRequest:medication" in resources["MedicationRequest"]["searchInclude"]
    assert len(resources["Observation"]["supportedProfile"]) == 22
    (docref,) = resources["DocumentReference"]["operation"]
    assert docref == {
        "name": "docref",
        "definition": "http://hl7.org/fhir/us/core/OperationDefinition/docref",
        "documentation": docref["documentation"],
    }
    combos = [
        sorted(x["valueString"] for x in e["extension"] if x["url"] == "required")
        for e in resources["Observation"]["extension"]
    ]
    assert sorted(["patient", "category", "date"]) in combos


def test_observation_searches_match_inferno_forms(fhir: httpx.Client) -> None:
    every = search(fhir, "Observation", {"patient": DONNA})[0]
    assert search(fhir, "Observation", {"patient": f"Patient/{DONNA}"})[0] == every
    posted = search(fhir, "Observation", {"patient": DONNA}, method="POST")[0]
    assert [o["id"] for o in posted] == [o["id"] for o in every]
    vitals = search(fhir, "Observation", {"patient": DONNA, "category": "vital-signs"})[0]
    system = "http://terminology.hl7.org/CodeSystem/observation-category"
    assert (
        vitals
        == search(fhir, "Observation", {"patient": DONNA, "category": f"{system}|vital-signs"})[0]
    )
    assert vitals and all(
        any(c["code"] == "vital-signs" for cat in o["category"] for c in cat["coding"])
        for o in vitals
    )
    weights = search(fhir, "Observation", {"patient": DONNA, "code": "http://loinc.org|29463-7"})[0]
    assert weights and {o["code"]["coding"][0]["code"] for o in weights} == {"29463-7"}
    assert all(o["valueQuantity"]["code"] == "kg" for o in weights)
    latest = max(weights, key=lambda o: o["effectiveDateTime"])
    day = latest["effectiveDateTime"][:10]
    for prefix, expect_latest in (("ge", True), ("gt", False), ("le", True), ("lt", False)):
        hits = search(
            fhir, "Observation", {"patient": DONNA, "code": "29463-7", "date": f"{prefix}{day}"}
        )[0]
        assert (latest["id"] in [o["id"] for o in hits]) is expect_latest, prefix
        for hit in hits:  # FHIR range semantics
            moment = hit["effectiveDateTime"]
            assert satisfies(prefix, day, {"start": moment, "end": moment}), (prefix, moment)
    assert (
        search(fhir, "Observation", {"patient": DONNA, "code": "29463-7", "date": "2000-01-01"})[0]
        == []
    )


def test_condition_serves_problems_and_health_concerns_beside_diagnoses(
    fhir: httpx.Client, validator: ProfileValidator
) -> None:
    every = search(fhir, "Condition", {"patient": DONNA})[0]
    kinds = {c["category"][0]["coding"][0]["code"] for c in every}
    assert kinds == {"encounter-diagnosis", "problem-list-item", "health-concern"}
    problems = search(
        fhir, "Condition", {"patient": DONNA, "category": "problem-list-item,health-concern"}
    )[0]
    assert problems and all(".ENCDX-" not in c["id"] for c in problems)
    for condition in problems:
        assert condition["meta"]["profile"] == [
            f"{US_CORE}us-core-condition-problems-health-concerns"
        ]
        assert fhir.get(f"Condition/{condition['id']}").json() == condition
    asserted = problems[0]["extension"][0]["valueDateTime"]
    hits = search(fhir, "Condition", {"patient": DONNA, "asserted-date": asserted})[0]
    assert problems[0]["id"] in [c["id"] for c in hits]


def test_medication_request_without_intent_and_with_include(fhir: httpx.Client) -> None:
    every = search(fhir, "MedicationRequest", {"patient": DONNA})[0]  # athena gets every intent
    assert {m["intent"] for m in every} == {"order", "plan"}
    orders, included = search(
        fhir,
        "MedicationRequest",
        {
            "patient": DONNA,
            "intent": "order",
            "status": "active",
            "_include": "MedicationRequest:medication",
        },
    )
    assert orders and {m["intent"] for m in orders} == {"order"}
    assert {f"Medication/{m['id']}" for m in included} == {
        m["medicationReference"]["reference"] for m in orders
    }
    assert all(m["resourceType"] == "Medication" for m in included)


def test_revinclude_provenance_of_clinical_records(
    fhir: httpx.Client, validator: ProfileValidator
) -> None:
    for rtype in ("AllergyIntolerance", "Observation", "Condition", "DocumentReference"):
        matches, included = search(
            fhir, rtype, {"patient": DONNA, "_revinclude": "Provenance:target"}
        )
        ids = {f"{rtype}/{m['id']}" for m in matches}
        assert included and {p["resourceType"] for p in included} == {"Provenance"}
        assert {p["target"][0]["reference"] for p in included} <= ids
        validator.assert_valid(included[0], f"{US_CORE}us-core-provenance|6.1.0")
        if rtype != "Condition":  # encounter diagnoses have no clinical Provenance
            assert len(included) == len(matches)


def test_document_reference_binary_and_docref(fhir: httpx.Client) -> None:
    notes = search(fhir, "DocumentReference", {"patient": DONNA})[0]
    urls = [c["attachment"]["url"] for n in notes for c in n["content"] if "url" in c["attachment"]]
    assert urls and all(u.startswith("Binary/a-195900.Binary-") for u in urls)
    binary = fhir.get(urls[0]).json()
    assert binary["resourceType"] == "Binary" and binary["contentType"] == "text/plain"
    assert "Assessment and plan" in base64.b64decode(binary["data"]).decode()
    assert fhir.get("Binary/a-195900.Binary-1").status_code == 404
    assert fhir.get("Binary/not-an-id").status_code == 400
    assert fhir.get("Binary", params={"patient": DONNA}).status_code in (400, 405)
    # $docref: the patient's notes, by care dates and type, GET and POST
    bundle = fhir.get("DocumentReference/$docref", params={"patient": DONNA}).json()
    assert bundle["type"] == "searchset"
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == sorted(n["id"] for n in notes)
    recent = max(notes, key=lambda n: n["context"]["period"]["start"])
    start = recent["context"]["period"]["start"][:10]
    posted = fhir.post(
        "DocumentReference/$docref",
        json={"resourceType": "Parameters", "parameter": [
            {"name": "patient", "valueId": DONNA}, {"name": "start", "valueDateTime": start},
            {"name": "type", "valueCoding": recent["type"]["coding"][0]}]},
    )  # fmt: skip
    assert posted.status_code == 200, posted.text
    assert [e["resource"]["id"] for e in posted.json()["entry"]] == [recent["id"]]
    refused = fhir.get("DocumentReference/$docref", params={"patient": DONNA, "on-demand": "true"})
    assert refused.status_code == 400 and refused.json()["resourceType"] == "OperationOutcome"
    assert fhir.get("DocumentReference/$docref").status_code == 400


def test_every_emitted_reference_resolves_through_the_facade(
    fhir: httpx.Client, served: dict[str, list[Json]], validator: ProfileValidator
) -> None:
    """The reference walker over every new type: each relative reference reads back (200,
    same type and id) and the target is valid against the profile it declares."""
    wanted = sorted(
        {ref for resources in served.values() for r in resources for ref in references_in(r)}
    )
    kinds = {ref.split("/")[0] for ref in wanted}
    assert kinds >= {
        "Patient", "Encounter", "Practitioner", "Organization", "Observation", "Specimen",
        "ServiceRequest", "Medication", "MedicationRequest", "QuestionnaireResponse",
        "RelatedPerson", "Media",
    }  # fmt: skip
    failures: dict[str, object] = {}
    for ref in wanted:
        response = fhir.get(ref)
        if response.status_code != 200:
            failures[ref] = response.status_code
            continue
        target = response.json()
        if f"{target['resourceType']}/{target['id']}" != ref:
            failures[ref] = "another resource"
        declared = target.get("meta", {}).get("profile", [])
        if declared and declared[0].startswith(US_CORE):
            errors = validator.validate(target, f"{declared[0]}|6.1.0")
            if errors:
                failures[ref] = errors
    assert failures == {}
