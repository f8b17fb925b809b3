"""Encounter end to end (facade + emulator on loopback): read, every search, includes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.clinical_support import (
    ENCOUNTER_SYSTEM,
    PROFILES,
    SANDBOX,
    Json,
    ids,
    satisfies,
    search,
)
from tests.support.profiles import ProfileValidator

DONNA = SANDBOX[0]


@pytest.fixture(scope="module")
def sandbox_encounters(fhir: httpx.Client) -> dict[str, list[Json]]:
    return {p: search(fhir, "Encounter", {"patient": p})[0] for p in SANDBOX}


def _all(sandbox_encounters: dict[str, list[Json]]) -> list[Json]:
    return [e for found in sandbox_encounters.values() for e in found]


def test_patient_search_both_reference_forms_and_post_are_equal(
    fhir: httpx.Client, sandbox_encounters: dict[str, list[Json]]
) -> None:
    for patient, found in sandbox_encounters.items():
        assert found, patient
        assert {e["subject"]["reference"] for e in found} == {f"Patient/{patient}"}
        typed = search(fhir, "Encounter", {"patient": f"Patient/{patient}"})[0]
        posted = search(fhir, "Encounter", {"patient": patient}, method="POST")[0]
        modifier = search(fhir, "Encounter", {"patient:Patient": patient})[0]
        assert [e["id"] for e in typed] == [e["id"] for e in found]
        assert [e["id"] for e in posted] == [e["id"] for e in found]
        assert [e["id"] for e in modifier] == [e["id"] for e in found]


def test_read_has_the_chart_summary_narrative_appointment_and_validates(
    fhir: httpx.Client, sandbox_encounters: dict[str, list[Json]], validator: ProfileValidator
) -> None:
    encounter = sandbox_encounters[DONNA][0]
    response = fhir.get(f"Encounter/{encounter['id']}")
    assert response.status_code == 200
    read = response.json()
    assert read["id"] == encounter["id"]
    assert read["text"]["status"] == "generated"
    assert read["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert "Encounter Summary" in read["text"]["div"]
    merged = {"text", "appointment"}  # the chart's summary and the visit's appointment
    assert {k: v for k, v in read.items() if k not in merged} == encounter  # merged, not replaced
    assert read["appointment"][0]["reference"].startswith("Appointment/a-195900.Appointment-")
    validator.assert_valid(read, PROFILES["Encounter"])
    validator.assert_valid(read, PROFILES["Encounter"].replace("6.1.0", "3.1.1"))


def test_unknown_and_malformed_ids(fhir: httpx.Client) -> None:
    assert fhir.get("Encounter/a-195900.encounter-999999999").status_code == 404
    assert fhir.get("Encounter/nonsense").status_code == 400
    assert fhir.get("Encounter/a-195902.encounter-40277").status_code == 404  # practice not served


def test_id_and_identifier_in_both_forms(
    fhir: httpx.Client, sandbox_encounters: dict[str, list[Json]]
) -> None:
    encounter = sandbox_encounters[DONNA][-1]
    assert [e["id"] for e in search(fhir, "Encounter", {"_id": encounter["id"]})[0]] == [
        encounter["id"]
    ]
    value = encounter["identifier"][0]["value"]
    for token in (value, f"{ENCOUNTER_SYSTEM}|{value}"):
        assert [e["id"] for e in search(fhir, "Encounter", {"identifier": token})[0]] == [
            encounter["id"]
        ]
    assert search(fhir, "Encounter", {"identifier": f"urn:other|{value}"})[0] == []


@pytest.mark.parametrize(
    ("param", "path"),
    [
        ("class", "class"),
        ("type", "type"),
        ("discharge-disposition", "hospitalization.dischargeDisposition"),
    ],
)
def test_token_params_code_and_system_code(
    fhir: httpx.Client, sandbox_encounters: dict[str, list[Json]], param: str, path: str
) -> None:
    checked = 0
    for patient, found in sandbox_encounters.items():
        for encounter in found:
            node: Any = encounter
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                continue
            coding = node if "code" in node else (node[0] if isinstance(node, list) else node)
            coding = coding["coding"][0] if "coding" in coding else coding
            bare = search(fhir, "Encounter", {"patient": patient, param: coding["code"]})[0]
            full = search(
                fhir,
                "Encounter",
                {"patient": patient, param: f"{coding['system']}|{coding['code']}"},
            )[0]
            assert encounter["id"] in [e["id"] for e in bare]
            assert encounter["id"] in [e["id"] for e in full]
            checked += 1
            break
    assert checked >= 3


def test_status_takes_several_values(
    fhir: httpx.Client, sandbox_encounters: dict[str, list[Json]]
) -> None:
    for patient, found in sandbox_encounters.items():
        statuses = {e["status"] for e in found}
        for status in statuses:
            hits = search(fhir, "Encounter", {"patient": patient, "status": status})[0]
            assert {e["status"] for e in hits} == {status}
        both = search(fhir, "Encounter", {"patient": patient, "status": "finished,in-progress"})[0]
        assert {e["id"] for e in both} == {
            e["id"] for e in found if e["status"] in {"finished", "in-progress"}
        }
        system = search(
            fhir,
            "Encounter",
            {"patient": patient, "status": "http://hl7.org/fhir/encounter-status|finished"},
        )[0]
        assert {e["id"] for e in system} == {e["id"] for e in found if e["status"] == "finished"}


def test_location_and_practitioner(
    fhir: httpx.Client, sandbox_encounters: dict[str, list[Json]]
) -> None:
    encounter = sandbox_encounters[DONNA][0]
    location = encounter["location"][0]["location"]["reference"]
    for value in (location, location.split("/")[1]):
        hits = search(fhir, "Encounter", {"patient": DONNA, "location": value})[0]
        assert encounter["id"] in [e["id"] for e in hits]
        assert all(e["location"][0]["location"]["reference"] == location for e in hits)
    other = search(
        fhir, "Encounter", {"patient": DONNA, "location": "Location/a-195900.Department-999"}
    )[0]
    assert other == []
    practitioner = encounter["participant"][0]["individual"]["reference"]
    hits = search(fhir, "Encounter", {"patient": DONNA, "practitioner": practitioner})[0]
    assert encounter["id"] in [e["id"] for e in hits]


def test_date_comparators_with_seconds_and_offset(
    fhir: httpx.Client, sandbox_encounters: dict[str, list[Json]]
) -> None:
    for patient, found in sandbox_encounters.items():
        for encounter in found[:2]:
            start = encounter["period"]["start"]
            for prefix in ("gt", "ge", "lt", "le", "eq", "ne", "sa", "eb"):
                value = start if "T" in start else f"{start}T00:00:00+00:00"
                hits = search(fhir, "Encounter", {"patient": patient, "date": f"{prefix}{value}"})[
                    0
                ]
                expected = [e["id"] for e in found if satisfies(prefix, value, e["period"])]
                assert [e["id"] for e in hits] == expected, (prefix, value)


def test_repeated_date_is_a_range_and_ap_is_accepted(
    fhir: httpx.Client, sandbox_encounters: dict[str, list[Json]]
) -> None:
    found = sandbox_encounters[DONNA]
    day = found[0]["period"]["start"][:10]
    hits = search(
        fhir, "Encounter", [("patient", DONNA), ("date", f"ge{day}"), ("date", f"le{day}")]
    )[0]
    expected = [
        e["id"]
        for e in found
        if satisfies("ge", day, e["period"]) and satisfies("le", day, e["period"])
    ]
    assert [e["id"] for e in hits] == expected and expected
    near = search(fhir, "Encounter", {"patient": DONNA, "date": f"ap{day}"})[0]
    assert found[0]["id"] in [e["id"] for e in near]


def test_last_updated(fhir: httpx.Client, sandbox_encounters: dict[str, list[Json]]) -> None:
    encounter = sandbox_encounters[DONNA][0]
    stamp = encounter["meta"]["lastUpdated"]
    hits = search(fhir, "Encounter", {"patient": DONNA, "_lastUpdated": f"ge{stamp}"})[0]
    assert encounter["id"] in [e["id"] for e in hits]
    assert all(e["meta"]["lastUpdated"] >= stamp for e in hits)
    assert search(fhir, "Encounter", {"patient": DONNA, "_lastUpdated": "gt2999"})[0] == []


def test_search_without_patient_id_or_identifier_is_400(fhir: httpx.Client) -> None:
    response = fhir.get("Encounter", params={"status": "finished"})
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_includes_and_revinclude(fhir: httpx.Client, validator: ProfileValidator) -> None:
    response = fhir.get(
        "Encounter",
        params=[
            ("patient", DONNA),
            ("_include", "Encounter:patient"),
            ("_include", "Encounter:practitioner"),
            ("_include", "Encounter:location"),
            ("_revinclude", "Provenance:target"),
        ],
    )
    assert response.status_code == 200
    bundle = response.json()
    matches = ids(bundle)
    included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    kinds = {r["resourceType"] for r in included}
    assert kinds == {"Patient", "Practitioner", "Location", "Provenance"}
    assert bundle["total"] == len(matches)
    targets = {
        t["reference"] for r in included if r["resourceType"] == "Provenance" for t in r["target"]
    }
    assert targets == {f"Encounter/{i}" for i in matches}
    for resource in included:
        validator.assert_valid(resource, PROFILES[resource["resourceType"]])
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert "_revinclude=Provenance:target" in self_link


def test_unsupported_include_is_dropped_or_refused_when_strict(fhir: httpx.Client) -> None:
    response = fhir.get("Encounter", params={"patient": DONNA, "_include": "Encounter:subject"})
    assert response.status_code == 200
    assert all(e["search"]["mode"] == "match" for e in response.json()["entry"])
    strict = fhir.get(
        "Encounter",
        params={"patient": DONNA, "_include": "Encounter:subject"},
        headers={"Prefer": "handling=strict"},
    )
    assert strict.status_code == 400


def test_patient_revinclude_provenance(fhir: httpx.Client, validator: ProfileValidator) -> None:
    bundle = fhir.get("Patient", params={"_id": DONNA, "_revinclude": "Provenance:target"}).json()
    assert ids(bundle) == [DONNA]
    (provenance,) = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert provenance["target"] == [{"reference": f"Patient/{DONNA}"}]
    validator.assert_valid(provenance, PROFILES["Provenance"])
    assert fhir.get(f"Provenance/{provenance['id']}").json() == provenance


def test_metadata_advertises_includes_exactly(fhir: httpx.Client) -> None:
    statement = fhir.get("metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert by_type["Encounter"]["searchInclude"] == [
        "Encounter:location",
        "Encounter:patient",
        "Encounter:practitioner",
    ]
    assert by_type["Encounter"]["searchRevInclude"] == ["Provenance:target"]
    assert by_type["Patient"]["searchRevInclude"] == ["Provenance:target"]
    assert "searchInclude" not in by_type["Condition"]
    for rtype in PROFILES:
        assert rtype in by_type
    names = {p["name"] for p in by_type["Encounter"]["searchParam"]}
    assert {"_id", "patient", "date", "identifier", "class", "type", "status", "location"} <= names
    assert {"discharge-disposition", "_lastUpdated"} <= names
