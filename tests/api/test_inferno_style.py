"""An Inferno-style US Core 6.1 run (Patient and Encounter groups, US-CORE-NOTES §2) against
the embedded stack, with the sandbox patients as ``patient_ids``.

Each test mirrors one Inferno test and asserts what it asserts (§1.5, §2.2-2.4): GET/POST
parity, both reference forms, token ``system|code``, the four SHALL date comparators with
every result satisfying its comparator, read, Provenance revinclude, validation,
must-support coverage and reference resolution.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from facade.mapping.paths import get_values, parse_path
from tests.api.clinical_support import PROFILES, SANDBOX, Json, implicit_range, search
from tests.support.profiles import ProfileValidator

PATIENT_IDS = SANDBOX


@pytest.fixture(scope="module")
def run(fhir: httpx.Client) -> dict[str, list[Json]]:
    """Resources collected by the first searches, as Inferno keeps them for later tests."""
    collected: dict[str, list[Json]] = {"Patient": [], "Encounter": []}
    for pid in PATIENT_IDS:
        collected["Patient"] += search(fhir, "Patient", {"_id": pid})[0]
        collected["Encounter"] += search(fhir, "Encounter", {"patient": pid})[0]
    return collected


def test_capability_statement(fhir: httpx.Client) -> None:
    response = httpx.get(f"{fhir.base_url}metadata")  # no Authorization header
    assert response.status_code == 200
    statement = response.json()
    assert statement["fhirVersion"].startswith("4.0")
    assert "json" in statement["format"]
    profiles = {
        p.split("|")[0]
        for r in statement["rest"][0]["resource"]
        for p in r.get("supportedProfile", [])
    }
    assert {PROFILES["Patient"].split("|")[0], PROFILES["Encounter"].split("|")[0]} <= profiles
    assert any(i.startswith("http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server")
               for i in statement["instantiates"])  # fmt: skip


def test_patient_id_search_get_equals_post(fhir: httpx.Client) -> None:
    for pid in PATIENT_IDS:
        got = search(fhir, "Patient", {"_id": pid})[0]
        posted = search(fhir, "Patient", {"_id": pid}, method="POST")[0]
        assert [p["id"] for p in got] == [pid] == [p["id"] for p in posted]


def test_patient_revinclude_provenance(fhir: httpx.Client) -> None:
    for pid in PATIENT_IDS:
        _, included = search(fhir, "Patient", {"_id": pid, "_revinclude": "Provenance:target"})
        assert [p["target"][0]["reference"] for p in included] == [f"Patient/{pid}"]


def test_encounter_patient_search(fhir: httpx.Client, run: dict[str, list[Json]]) -> None:
    for pid in PATIENT_IDS:
        got = [e["id"] for e in search(fhir, "Encounter", {"patient": pid})[0]]
        posted = [e["id"] for e in search(fhir, "Encounter", {"patient": pid}, method="POST")[0]]
        typed = [e["id"] for e in search(fhir, "Encounter", {"patient": f"Patient/{pid}"})[0]]
        assert got and len(got) == len(posted) == len(typed)
    assert all(e["subject"]["reference"] == f"Patient/{e['subject']['reference'][8:]}"
               for e in run["Encounter"])  # fmt: skip


def test_encounter_id_search_and_read(fhir: httpx.Client, run: dict[str, list[Json]]) -> None:
    for encounter in run["Encounter"][:10]:
        assert [e["id"] for e in search(fhir, "Encounter", {"_id": encounter["id"]})[0]] == [
            encounter["id"]
        ]
        read = fhir.get(f"Encounter/{encounter['id']}")
        assert read.status_code == 200
        assert (read.json()["resourceType"], read.json()["id"]) == ("Encounter", encounter["id"])


def test_encounter_identifier_search(fhir: httpx.Client, run: dict[str, list[Json]]) -> None:
    identifier = run["Encounter"][0]["identifier"][0]
    assert search(fhir, "Encounter", {"identifier": identifier["value"]})[0]
    full = f"{identifier['system']}|{identifier['value']}"
    assert len(search(fhir, "Encounter", {"identifier": full})[0]) >= 1


def _in_range(prefix: str, value: str, period: Json) -> bool:
    """Inferno's date_search_validation: range comparison of the period with the value."""
    low, high = implicit_range(value)
    start = implicit_range(period["start"])[0] if period.get("start") else None
    end = implicit_range(period["end"])[1] if period.get("end") else None
    if prefix == "gt":
        return end is None or end > high
    if prefix == "ge":
        return end is None or end >= low
    if prefix == "lt":
        return start is None or start < low
    return start is None or start <= high  # le


def test_encounter_date_patient_search_all_four_comparators(
    fhir: httpx.Client, run: dict[str, list[Json]]
) -> None:
    checked = 0
    for pid in PATIENT_IDS:
        encounters = [e for e in run["Encounter"] if e["subject"]["reference"] == f"Patient/{pid}"]
        start = implicit_range(encounters[0]["period"]["start"])[0]
        for prefix, shift in (("gt", -1), ("ge", -1), ("lt", 1), ("le", 1)):
            value = (start + timedelta(days=shift)).isoformat(timespec="seconds")
            found = search(fhir, "Encounter", {"patient": pid, "date": f"{prefix}{value}"})[0]
            assert found, (pid, prefix, value)
            for encounter in found:
                assert _in_range(prefix, value, encounter["period"]), (prefix, value)
            checked += 1
        day = encounters[0]["period"]["start"][:10]  # 6.1: a date-only value too
        assert search(fhir, "Encounter", {"patient": pid, "date": f"gt{day}"})[0] is not None
    assert checked == 4 * len(PATIENT_IDS)


@pytest.mark.parametrize(
    ("param", "path"),
    [
        ("class", "class"),
        ("type", "type.coding"),
        ("discharge-disposition", "hospitalization.dischargeDisposition.coding"),
    ],
)
def test_encounter_token_searches_with_system(
    fhir: httpx.Client, run: dict[str, list[Json]], param: str, path: str
) -> None:
    encounter = next(e for e in run["Encounter"] if get_values(e, parse_path(path)))
    coding = get_values(encounter, parse_path(path))[0]
    pid = encounter["subject"]["reference"].split("/")[1]
    bare = search(fhir, "Encounter", {"patient": pid, param: coding["code"]})[0]
    full = search(
        fhir, "Encounter", {"patient": pid, param: f"{coding['system']}|{coding['code']}"}
    )[0]
    assert bare and len(full) >= 1
    for found in full:
        assert any(c.get("code") == coding["code"] and c.get("system") == coding["system"]
                   for c in get_values(found, parse_path(path)))  # fmt: skip


def test_encounter_status_and_location_searches(
    fhir: httpx.Client, run: dict[str, list[Json]]
) -> None:
    encounter = run["Encounter"][0]
    pid = encounter["subject"]["reference"].split("/")[1]
    hits = search(fhir, "Encounter", {"patient": pid, "status": encounter["status"]})[0]
    assert hits and all(e["status"] == encounter["status"] for e in hits)
    location = encounter["location"][0]["location"]["reference"]
    hits = search(fhir, "Encounter", {"patient": pid, "location": location})[0]
    assert hits and all(e["location"][0]["location"]["reference"] == location for e in hits)


def test_encounter_provenance_revinclude(fhir: httpx.Client) -> None:
    provenance: list[Json] = []
    for pid in PATIENT_IDS:
        matches, included = search(
            fhir, "Encounter", {"patient": pid, "_revinclude": "Provenance:target"}
        )
        assert {p["target"][0]["reference"] for p in included} == {
            f"Encounter/{e['id']}" for e in matches
        }
        provenance += included
    for resource in provenance[:5]:
        assert fhir.get(f"Provenance/{resource['id']}").json() == resource


def test_validation(run: dict[str, list[Json]], validator: ProfileValidator) -> None:
    for rtype, resources in run.items():
        for resource in resources:
            validator.assert_valid(resource, PROFILES[rtype])


def test_encounter_must_support(run: dict[str, list[Json]]) -> None:
    required: list[tuple[str, ...]] = [
        ("class",), ("hospitalization",), ("hospitalization.dischargeDisposition",),
        ("identifier",), ("identifier.system",), ("identifier.value",), ("location",),
        ("location.location", "serviceProvider"), ("participant",), ("participant.individual",),
        ("participant.period",), ("participant.type",), ("period",),
        ("reasonCode", "reasonReference"), ("status",), ("subject",), ("type",),
    ]  # fmt: skip
    for paths in required:
        assert any(get_values(e, parse_path(p)) for e in run["Encounter"] for p in paths), paths


def test_encounter_reference_resolution(
    fhir: httpx.Client, run: dict[str, list[Json]], validator: ProfileValidator
) -> None:
    paths = {
        "subject": "Patient",
        "participant.individual": "Practitioner",
        "serviceProvider": "Organization",
        "location.location": "Location",
        "reasonReference": "Condition",
    }
    for path, rtype in paths.items():
        refs = {v["reference"] for e in run["Encounter"] for v in get_values(e, parse_path(path))}
        assert refs, path
        for ref in sorted(refs)[:3]:
            response = fhir.get(ref)
            assert response.status_code == 200, ref
            target = response.json()
            assert f"{target['resourceType']}/{target['id']}" == ref
            assert target["resourceType"] == rtype
            validator.assert_valid(target, PROFILES[rtype])
