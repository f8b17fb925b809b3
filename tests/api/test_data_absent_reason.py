"""data-absent-reason across the sandbox patients (issue 19; US-CORE-NOTES §1.1).

Inferno's Missing Data test passes only when some served resource carries the
DataAbsentReason extension and some CodeableConcept a code from the data-absent-reason
code system. The emulator seeds the missing data that calls for them, as athena holds it:
60182 declined to give an email (``emailexists`` false: the extension on
``telecom.value``), 60184 declined to name a language (``declined``: the code in
``communication.language``) and has an encounter whose type athena does not know (the
code in ``Encounter.type``, mandatory with an extensible binding). Each use is checked
where US Core allows it, on both athena surfaces, and every resource carrying one
validates against its US Core 6.1 profile.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.clinical_support import PROFILES, SANDBOX, Json, search
from tests.conftest import dev_token
from tests.support.profiles import ProfileValidator

DAR_EXTENSION = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
DAR_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def extensions(resource: Json) -> list[str]:
    """Where a DataAbsentReason extension sits (the element it extends)."""
    return [
        path.rsplit(".extension", 1)[0]
        for path, node in _walk(resource, resource["resourceType"])
        if isinstance(node, dict) and node.get("url") == DAR_EXTENSION
    ]


def codes(resource: Json) -> list[str]:
    """CodeableConcepts (``coding`` lists) holding a data-absent-reason code."""
    return [
        path
        for path, node in _walk(resource, resource["resourceType"])
        if isinstance(node, dict)
        and isinstance(node.get("coding"), list)
        and any(isinstance(c, dict) and c.get("system") == DAR_SYSTEM for c in node["coding"])
    ]


@pytest.fixture(scope="module")
def sandbox(fhir: httpx.Client) -> list[Json]:
    """The sandbox patients (read, and the /v1 surface through a birthdate search), their
    encounters and encounter diagnoses."""
    served = [fhir.get(f"Patient/{p}").json() for p in SANDBOX]
    for patient in list(served):
        found = search(fhir, "Patient", {"birthdate": patient["birthDate"]})[0]
        served += [p for p in found if p["id"] == patient["id"]]
        served += search(fhir, "Encounter", {"patient": patient["id"]})[0]
        served += search(fhir, "Condition", {"patient": patient["id"]})[0]
    return served


def test_the_sandbox_patients_demonstrate_the_extension_and_the_code_system(
    sandbox: list[Json],
) -> None:
    assert any(extensions(r) for r in sandbox), "no DataAbsentReason extension"
    assert any(codes(r) for r in sandbox), "no data-absent-reason code in a CodeableConcept"


def test_each_use_is_where_us_core_allows_it_and_validates(
    sandbox: list[Json], validator: ProfileValidator
) -> None:
    uses: dict[str, set[str]] = {}
    for resource in sandbox:
        found = [*extensions(resource), *codes(resource)]
        if not found:
            continue
        validator.assert_valid(resource, PROFILES[resource["resourceType"]])
        for where in found:
            # list positions differ between resources; the element is what matters
            element = ".".join(part.split("[", 1)[0] for part in where.split("."))
            uses.setdefault(element, set()).add(resource["id"])
    assert uses == {
        "Patient.telecom._value": {"a-195900.E-60182"},
        "Patient.communication.language": {"a-195900.E-60184"},
        "Encounter.type": uses.get("Encounter.type", set()) or {"<missing>"},
    }
    assert all(e.startswith("a-195900.encounter-") for e in uses["Encounter.type"])


def test_both_patient_surfaces_say_why_the_values_are_missing(sandbox: list[Json]) -> None:
    """athena's FHIR read and its /v1 record (a birthdate search) give the same reasons."""
    for pid, element in (("60182", "Patient.telecom[3]._value"), ("60184", None)):
        copies = [r for r in sandbox if r["id"] == f"a-195900.E-{pid}"]
        assert len(copies) == 2
        if element is not None:
            assert all(extensions(c) == [element] for c in copies), copies
            reasons = [c["telecom"][3]["_value"]["extension"][0]["valueCode"] for c in copies]
            assert reasons == ["asked-declined"] * 2
            assert all(c["telecom"][3]["system"] == "email" for c in copies)
        else:
            for copy in copies:
                (coding,) = copy["communication"][0]["language"]["coding"]
                assert (coding["system"], coding["code"]) == (DAR_SYSTEM, "asked-declined")


def test_a_declined_email_is_not_cleared_or_invented_by_an_update(
    facade_url: str, emulator_world: Any
) -> None:
    """A PUT of the patient as read sends athena nothing: the reason stays as athena has it."""
    headers = {"Authorization": f"Bearer {dev_token(facade_url, 'system/Patient.cruds')}"}
    with httpx.Client(base_url=f"{facade_url}/fhir/r4", headers=headers, timeout=30) as client:
        dorrie = client.get("Patient/a-195900.E-60182").json()
        before = dict(emulator_world.patient("195900", 60182).fields)
        puts = emulator_world.calls("PUT", "/v1/{practiceid}/patients/{patientid}")
        same = client.put(
            "Patient/a-195900.E-60182",
            json=dorrie,
            headers={"Content-Type": "application/fhir+json"},
        )
        assert same.status_code == 200, same.text
        assert extensions(same.json()) == ["Patient.telecom[3]._value"]
    assert emulator_world.calls("PUT", "/v1/{practiceid}/patients/{patientid}") == puts
    assert dict(emulator_world.patient("195900", 60182).fields) == before
    assert "email" not in before and before["emailexists"] == "false"
