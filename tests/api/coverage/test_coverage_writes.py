"""Coverage writes over real HTTP: create (POST /insurances), edits (PUT), cancel (DELETE),
athena's rules as 422 at the element, idempotent creates, and the patient compartment.

The emulator's own records are the witness: each refused write leaves every insurance of
the patients involved exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.coverage.support import (
    DONNA,
    ELEANA,
    FHIR_JSON,
    FRANKIE,
    GARY,
    INSURANCES,
    PID,
    US_CORE_COVERAGE,
    Json,
    Stack,
    coverage_id,
    ids,
    issue,
    search,
    stack,
)
from tests.support.profiles import ProfileValidator

RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
AETNA = f"Organization/a-{PID}.InsurancePackage-900101"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("coverage-writes")) as running:
        yield running


@pytest.fixture(scope="module")
def fhir(site: Stack) -> Iterator[httpx.Client]:
    with site.system() as client:
        yield client


@pytest.fixture(scope="module")
def donna(site: Stack) -> Iterator[httpx.Client]:
    """patient.demo's own token (the real code flow): her compartment only."""
    with site.user("patient.demo", "openid fhirUser patient/*.cruds") as client:
        yield client


def new_coverage(patient: str, payor: str = AETNA, **extra: Any) -> Json:
    return {
        "resourceType": "Coverage",
        "status": "active",
        "subscriberId": "W99887766",
        "beneficiary": {"reference": f"Patient/{patient}"},
        "relationship": {"coding": [{"system": RELATIONSHIP, "code": "self"}]},
        "payor": [{"reference": payor}],
        "period": {"start": "2025-01-01"},
        **extra,
    }


def put(client: httpx.Client, resource: Json) -> httpx.Response:
    return client.put(f"Coverage/{resource['id']}", json=resource, headers=FHIR_JSON)


def local(rid: str) -> int:
    return int(rid.rsplit("-", 1)[1])


def test_create_edit_and_cancel(
    site: Stack, fhir: httpx.Client, validator: ProfileValidator
) -> None:
    created = fhir.post("Coverage", json=new_coverage(DONNA), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    coverage = created.json()
    validator.assert_valid(coverage, US_CORE_COVERAGE)
    assert created.headers["location"].endswith(f"/Coverage/{coverage['id']}")
    assert coverage["order"] == 2  # Donna's first free sequence number
    assert coverage["subscriber"] == {"reference": f"Patient/{DONNA}"}  # she holds it
    athena = site.world.insurances.get(PID, local(coverage["id"]))
    assert athena.text("insurancepolicyholderlastname") == "SANDBOXTEST"  # from her record
    assert fhir.get(f"Coverage/{coverage['id']}").json() == coverage
    assert ids(search(fhir, "Coverage", patient=DONNA)) == [coverage_id(7001), coverage["id"]]

    # her husband's plan now: a new member id, group, end date and the holder he is
    holder = {
        "resourceType": "RelatedPerson",
        "id": "holder",
        "patient": {"reference": f"Patient/{DONNA}"},
        "name": [{"family": "Sandboxtest", "given": ["Paul", "J"]}],
        "gender": "male",
        "birthDate": "1970-03-02",
    }
    edited = {
        **coverage,
        "subscriberId": "W55554444",
        "identifier": [i for i in coverage["identifier"] if "type" not in i],
        "period": {"start": "2025-01-01", "end": "2026-12-31"},
        "class": [{"type": {"coding": [{"code": "group"}]}, "value": "GRP-77"}],
        "relationship": {"coding": [{"system": RELATIONSHIP, "code": "spouse"}]},
        "subscriber": {"reference": "#holder"},
        "contained": [holder],
    }
    response = put(fhir, edited)
    assert response.status_code == 200, response.text
    after = response.json()
    validator.assert_valid(after, US_CORE_COVERAGE)
    assert after["subscriberId"] == "W55554444" and after["period"]["end"] == "2026-12-31"
    assert after["relationship"]["coding"][0]["code"] == "spouse"
    assert after["contained"][0]["name"] == [{"family": "SANDBOXTEST", "given": ["PAUL", "J"]}]
    athena = site.world.insurances.get(PID, local(coverage["id"]))
    assert athena.text("policynumber") == "GRP-77" and athena.relationshiptoinsuredid == 2
    assert athena.text("insurancepolicyholderdob") == "03/02/1970"
    assert put(fhir, after).json() == after  # nothing changed: no call, the same resource

    # it becomes the primary: athena swaps the sequence numbers
    response = put(fhir, {**after, "order": 1})
    assert response.status_code == 200, response.text
    assert fhir.get(f"Coverage/{coverage_id(7001)}").json()["order"] == 2

    cancelled = put(fhir, {**response.json(), "status": "cancelled"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    validator.assert_valid(cancelled.json(), US_CORE_COVERAGE)
    assert site.world.insurances.get(PID, local(coverage["id"])).cancelled
    assert fhir.get(f"Coverage/{coverage['id']}").status_code == 404
    assert ids(search(fhir, "Coverage", patient=DONNA)) == [coverage_id(7001)]


def test_cancel_an_expired_policy(site: Stack, fhir: httpx.Client) -> None:
    """An expired policy reads cancelled, but athena holds it live: the cancel is sent."""
    expired = fhir.get(f"Coverage/{coverage_id(7005)}").json()
    assert expired["status"] == "cancelled"
    response = put(fhir, expired)
    assert response.status_code == 200, response.text
    assert site.world.insurances.get(PID, 7005).cancelled
    assert search(fhir, "Coverage", patient=GARY)["total"] == 0


def test_athenas_rules_point_at_the_element(site: Stack, fhir: httpx.Client) -> None:
    before = {p: site.insurances(p) for p in (60179, 60180)}
    refusals = [
        # a secondary on top of a self-pay primary (athena: "Secondary insurance without primary")
        (new_coverage(FRANKIE, order=2), 422, "Coverage.order"),
        # Eleana has a primary already
        (new_coverage(ELEANA, order=1), 422, "Coverage.order"),
        (new_coverage(ELEANA, f"Organization/a-{PID}.InsurancePackage-123456789"), 422, "Coverage.payor.reference"),
        (new_coverage(ELEANA, f"Organization/a-{PID}.Department-1"), 422, "Coverage.payor.reference"),
        ({**new_coverage(ELEANA), "beneficiary": {"display": "nobody"}}, 422, "Coverage.beneficiary.reference"),
        (
            {**new_coverage(ELEANA), "identifier": [
                {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                      "code": "MB"}]}, "value": "OTHER"}]},
            400,
            "Coverage.subscriberId",
        ),
        (
            {**new_coverage(ELEANA), "period": {"start": "2025-01-01", "end": "2024-01-01"}},
            422,
            "Coverage.period.end",
        ),
        ({**new_coverage(ELEANA), "resourceType": "Patient"}, 400, "resourceType"),
    ]  # fmt: skip
    for body, status, element in refusals:
        found = issue(fhir.post("Coverage", json=body, headers=FHIR_JSON), status)
        assert found["expression"] == [element], (body, found)
    primary = fhir.get(f"Coverage/{coverage_id(7002)}").json()
    for body, status, element in (
        # a package never changes: athena wants the insurance cancelled and a new one created
        ({**primary, "payor": [{"reference": AETNA}]}, 422, "Coverage.payor.reference"),
        ({**primary, "costToBeneficiary": []}, 422, "Coverage.costToBeneficiary"),
        ({**primary, "beneficiary": {"reference": f"Patient/{DONNA}"}}, 400, "Coverage.beneficiary.reference"),
        ({**primary, "status": "draft"}, 422, "Coverage.status"),
    ):  # fmt: skip
        found = issue(put(fhir, body), status)
        assert found["expression"] == [element], (body, found)
    other = {**primary, "identifier": [{"system": f"urn:athenahealth:athenanet:patientinsurance:{PID}", "value": "7003"}]}  # fmt: skip
    assert issue(put(fhir, other), 400)["expression"] == ["Coverage.identifier[0].value"]
    assert {p: site.insurances(p) for p in (60179, 60180)} == before


def test_keyed_create_adds_once(site: Stack, fhir: httpx.Client) -> None:
    site.world.reset_call_counts()
    body = new_coverage(ELEANA, subscriberId="W12121212", order=3)
    headers = {**FHIR_JSON, "Idempotency-Key": "eleana-tertiary"}
    first = fhir.post("Coverage", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = fhir.post("Coverage", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert site.calls("POST", INSURANCES) == 1
    other = fhir.post("Coverage", json={**body, "subscriberId": "W3"}, headers=headers)
    assert issue(other, 422)["expression"] == ["Idempotency-Key"]
    assert len([r for r in site.insurances(60179) if not r.get("cancelled")]) == 3


def test_a_patient_writes_only_her_own_coverage(
    site: Stack, fhir: httpx.Client, donna: httpx.Client
) -> None:
    theirs = fhir.get(f"Coverage/{coverage_id(7002)}").json()
    before = site.insurances(60179)
    assert donna.get(f"Coverage/{theirs['id']}").status_code == 404
    assert ids(search(donna, "Coverage", patient=ELEANA)) == []
    assert ids(search(donna, "Coverage", _id=theirs["id"])) == []
    attempts = [
        donna.post("Coverage", json=new_coverage(ELEANA, order=3), headers=FHIR_JSON),
        put(donna, {**theirs, "subscriberId": "MINE"}),
        put(donna, {**theirs, "status": "cancelled"}),
    ]
    assert [a.status_code for a in attempts] == [403, 404, 404]
    assert all(a.json()["resourceType"] == "OperationOutcome" for a in attempts)
    assert site.insurances(60179) == before
    mine = donna.get(f"Coverage/{coverage_id(7001)}")
    assert mine.status_code == 200
    # her own: she may change her member id (and put it back)
    changed = put(donna, {**mine.json(), "subscriberId": "XKB000000001", "identifier": []})
    assert changed.status_code == 200, changed.text
    assert site.world.insurances.get(PID, 7001).text("insuranceidnumber") == "XKB000000001"
    restored = put(donna, {**changed.json(), "subscriberId": "XKB884412078", "identifier": []})
    assert restored.status_code == 200, restored.text
