"""An Inferno-style US Core 6.1 run (Patient and Encounter groups, US-CORE-NOTES §2) against
the embedded stack, with the sandbox patients as ``patient_ids``.

The black-box part (CapabilityStatement, GET/POST parity, both reference forms, ``_id``,
read, the four SHALL date comparators, token ``system|code``, reference resolution,
paging, Bundles) is the ``conformance`` suite, run here once with each of its checks
reported as its own test. What follows it needs the test tree or goes further than the
suite: date-only values, the SHOULD searches, Provenance reads, validation with full
error listings, must-support coverage and the target profiles of references.
"""

from __future__ import annotations

import httpx
import pytest

from conformance import Result, Status, run_suite
from conformance.suite import CHECKS
from facade.mapping.paths import get_values, parse_path
from tests.api.clinical_support import PROFILES, SANDBOX, Json, search
from tests.conftest import dev_token
from tests.support.profiles import ProfileValidator

PATIENT_IDS = SANDBOX
CHECK_NAMES = [check.__name__ for check in CHECKS]


@pytest.fixture(scope="module")
def run(fhir: httpx.Client) -> dict[str, list[Json]]:
    """Resources collected by the first searches, as Inferno keeps them for later tests."""
    collected: dict[str, list[Json]] = {"Patient": [], "Encounter": []}
    for pid in PATIENT_IDS:
        collected["Patient"] += search(fhir, "Patient", {"_id": pid})[0]
        collected["Encounter"] += search(fhir, "Encounter", {"patient": pid})[0]
    return collected


@pytest.fixture(scope="module")
def suite(facade_url: str) -> dict[str, Result]:
    results = run_suite(f"{facade_url}/fhir/r4", dev_token(facade_url), PATIENT_IDS)
    return {check.__name__: result for check, result in zip(CHECKS, results, strict=True)}


@pytest.mark.parametrize("check", CHECK_NAMES)
def test_conformance_suite(suite: dict[str, Result], check: str) -> None:
    result = suite[check]
    assert result.status is Status.PASSED, f"{result.name}: {result.status}: {result.message}"


def test_encounter_date_only_value(fhir: httpx.Client, run: dict[str, list[Json]]) -> None:
    for pid in PATIENT_IDS:
        encounter = next(
            e for e in run["Encounter"] if e["subject"]["reference"] == f"Patient/{pid}"
        )
        day = encounter["period"]["start"][:10]  # 6.1: a date-only value too
        assert search(fhir, "Encounter", {"patient": pid, "date": f"gt{day}"})[0] is not None


def test_patient_revinclude_provenance(fhir: httpx.Client) -> None:
    for pid in PATIENT_IDS:
        _, included = search(fhir, "Patient", {"_id": pid, "_revinclude": "Provenance:target"})
        assert [p["target"][0]["reference"] for p in included] == [f"Patient/{pid}"]


def test_encounter_identifier_search(fhir: httpx.Client, run: dict[str, list[Json]]) -> None:
    identifier = run["Encounter"][0]["identifier"][0]
    assert search(fhir, "Encounter", {"identifier": identifier["value"]})[0]
    full = f"{identifier['system']}|{identifier['value']}"
    assert len(search(fhir, "Encounter", {"identifier": full})[0]) >= 1


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
