"""athena's FHIR Coverage and insurance-package Organization (API-NOTES 5.3, 5.4;
REVENUE-CYCLE 2.1, 5.3; us-core-coverage 6.1.0), consistent with /v1 insurances."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from emu_support import fetch_token

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from tests.support.profiles import ProfileValidator

PRACTICE = "Organization/a-1.Practice-195900"
INVALID = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "business-rule", "details": "Invalid FHIR request"}],
}
HOLDER = {
    "insurancepolicyholderfirstname": "Frankie",
    "insurancepolicyholderlastname": "Sandboxtest",
    "insurancepolicyholdersex": "M",
}


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """(/v1 client, FHIR client) of a private emulator: these tests write."""
    config = EmulatorConfig(generated_patients=200, api_requests_per_second=1_000_000)
    with ServerThread(create_app(config)) as base_url, httpx.Client(base_url=base_url) as plain:
        v1_headers = {"Authorization": f"Bearer {fetch_token(plain)}"}
        fhir_headers = {"Authorization": f"Bearer {fetch_token(plain, 'system/*.read')}"}
        with (
            httpx.Client(base_url=base_url, headers=v1_headers, timeout=10) as v1,
            httpx.Client(base_url=f"{base_url}/fhir/r4", headers=fhir_headers, timeout=10) as fhir,
        ):
            yield v1, fhir


@pytest.fixture(scope="module")
def v1(clients: tuple[httpx.Client, httpx.Client]) -> httpx.Client:
    return clients[0]


@pytest.fixture(scope="module")
def fhir(clients: tuple[httpx.Client, httpx.Client]) -> httpx.Client:
    return clients[1]


def _search(fhir: httpx.Client, **params: str) -> dict[str, Any]:
    response = fhir.get("/Coverage", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    return body


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"]]


def test_read_maps_the_insurance(fhir: httpx.Client, validator: ProfileValidator) -> None:
    response = fhir.get("/Coverage/a-195900.Coverage-7001")
    assert response.status_code == 200
    coverage = response.json()
    validator.assert_valid(coverage)
    assert coverage["meta"]["profile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-coverage"
    ]
    assert coverage["status"] == "active" and coverage["order"] == 1
    assert coverage["beneficiary"] == {"reference": "Patient/a-195900.E-60178"}
    assert coverage["subscriber"] == coverage["beneficiary"] == coverage["policyHolder"]
    assert coverage["subscriberId"] == "XKB884412078"
    member = coverage["identifier"][0]
    assert member["type"]["coding"][0]["code"] == "MB" and member["value"] == "XKB884412078"
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    assert coverage["period"] == {"start": "2024-01-01"}
    assert coverage["payor"] == [
        {
            "reference": "Organization/a-195900.InsurancePackage-8477",
            "display": "BCBS-MA: BCBS (PPO)",
        }
    ]
    classes = {c["type"]["coding"][0]["code"]: c for c in coverage["class"]}
    assert classes["group"]["value"] == "004871200"
    assert classes["plan"] == {
        "type": classes["plan"]["type"],
        "value": "8477",
        "name": "BCBS-MA: BCBS (PPO)",
    }
    assert coverage["type"]["coding"][0]["system"] == "urn:oid:2.16.840.1.113883.3.221.5"
    costs = {
        c["type"]["coding"][0]["code"]: c["valueMoney"]["value"]
        for c in coverage["costToBeneficiary"]
    }
    assert costs == {"gpvisit": 25, "spvisit": 50, "urgentcare": 75, "emergency": 250}


def test_payor_organization(fhir: httpx.Client, validator: ProfileValidator) -> None:
    org = fhir.get("/Organization/a-195900.InsurancePackage-8477").json()
    validator.assert_valid(org)
    assert org["name"] == "BCBS-MA: BCBS (PPO)" and org["type"][0]["coding"][0]["code"] == "pay"
    assert org["address"][0]["postalCode"] == "02298-6020"
    bundle = fhir.get("/Organization", params={"_id": "a-195900.InsurancePackage-8477"}).json()
    assert _ids(bundle) == ["a-195900.InsurancePackage-8477"]
    for missing in ("a-195900.InsurancePackage-0", "a-195900.InsurancePackage-4242"):
        assert fhir.get(f"/Organization/{missing}").status_code == 404


def test_every_seeded_coverage_is_valid(fhir: httpx.Client, validator: ProfileValidator) -> None:
    patients = ",".join(f"a-195900.E-{i}" for i in range(60178, 60185))
    bundle = _search(fhir, patient=patients, _count="50")
    assert _ids(bundle) == [
        f"a-195900.Coverage-{i}" for i in (7001, 7002, 7003, 7005, 7006, 7007, 7008)
    ]
    for entry in bundle["entry"]:
        validator.assert_valid(entry["resource"])
    spouse = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"].endswith("-7003"))
    assert spouse["relationship"]["coding"][0]["code"] == "spouse" and spouse["order"] == 2
    assert spouse["subscriber"] == {"display": "MARCO SANDBOXTEST"}
    expired = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"].endswith("-7005"))
    assert expired["period"]["end"] == "2024-12-31" and expired["status"] == "active"


def test_search_rules(fhir: httpx.Client) -> None:
    bundle = _search(fhir, patient="Patient/a-195900.E-60179", **{"ah-practice": PRACTICE})
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    assert _ids(bundle) == ["a-195900.Coverage-7002", "a-195900.Coverage-7003"]
    assert bundle["entry"][0]["fullUrl"].endswith("/fhir/r4/Coverage/a-195900.Coverage-7002")
    assert _search(fhir, patient="a-195900.E-60180")["total"] == 0  # self-pay only
    assert _search(fhir, patient="a-195900.E-60179", _lastUpdated="ge2030-01-01")["total"] == 0
    assert _search(fhir, patient="a-195900.E-60179", _lastUpdated="ge2020-01-01")["total"] == 2
    page = _search(fhir, patient="a-195900.E-60179", _count="1")
    assert len(page["entry"]) == 1
    following = next(link["url"] for link in page["link"] if link["relation"] == "next")
    assert _ids(fhir.get(following).json()) == ["a-195900.Coverage-7003"]
    for params in (
        {"ah-practice": PRACTICE},
        {"patient": "60178"},
        {"patient": "a-195900.E-60178", "status": "active"},
    ):
        response = fhir.get("/Coverage", params=params)
        assert response.status_code == 400 and response.json() == INVALID
    assert fhir.get("/Coverage/a-195900.Coverage-7004").status_code == 404  # self-pay
    assert fhir.get("/Coverage/7001").status_code == 400
    posted = fhir.post("/Coverage/_search", data={"patient": "a-195900.E-60178"}).json()
    assert _ids(posted) == ["a-195900.Coverage-7001"]


def test_v1_writes_show_in_fhir(v1: httpx.Client, fhir: httpx.Client) -> None:
    response = v1.post(
        "/v1/195900/patients/60180/insurances",
        data={"insurancepackageid": "0", "sequencenumber": "1"},
    )
    assert response.status_code == 400  # 60180 already has its self-pay primary
    v1.delete("/v1/195900/patients/60180/insurances/7004")
    created = v1.post(
        "/v1/195900/patients/60180/insurances",
        data={"insurancepackageid": "31724", "sequencenumber": "1", "insuranceidnumber": "H901",
              "policynumber": "GRP9", **HOLDER},
    ).json()[0]  # fmt: skip
    fhir_id = f"a-195900.Coverage-{created['insuranceid']}"
    assert _ids(_search(fhir, patient="a-195900.E-60180")) == [fhir_id]
    coverage = fhir.get(f"/Coverage/{fhir_id}").json()
    assert coverage["subscriberId"] == "H901"
    assert coverage["payor"][0]["reference"] == "Organization/a-195900.InsurancePackage-31724"
    before = coverage["meta"]["lastUpdated"]

    v1.put(f"/v1/195900/patients/60180/insurances/{created['insuranceid']}",
           data={"insuranceidnumber": "H902", "expirationdate": "12/31/2030"})  # fmt: skip
    coverage = fhir.get(f"/Coverage/{fhir_id}").json()
    assert coverage["subscriberId"] == "H902" and coverage["period"]["end"] == "2030-12-31"
    assert coverage["meta"]["lastUpdated"] >= before

    assert (
        v1.delete(f"/v1/195900/patients/60180/insurances/{created['insuranceid']}").status_code
        == 200
    )
    assert _search(fhir, patient="a-195900.E-60180")["total"] == 0
    response = fhir.get(f"/Coverage/{fhir_id}")
    assert response.status_code == 404 and response.json()["resourceType"] == "OperationOutcome"


def test_provenance_of_coverage(fhir: httpx.Client, validator: ProfileValidator) -> None:
    """athena's CapabilityStatement lists Provenance:target as a Coverage revinclude (CAPS)."""
    found = fhir.get("/Provenance", params={"target": "Coverage/a-195900.Coverage-7001"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["a-195900.Provenance-Coverage-7001"]
    provenance = found["entry"][0]["resource"]
    assert provenance["target"] == [{"reference": "Coverage/a-195900.Coverage-7001"}]
    validator.assert_valid(provenance)
    assert fhir.get(f"/Provenance/{provenance['id']}").json() == provenance
    by_patient = fhir.get("/Provenance", params={"patient": "a-195900.E-60179"}).json()
    targets = [e["resource"]["target"][0]["reference"] for e in by_patient["entry"]]
    assert targets[0] == "Patient/a-195900.E-60179"
    assert targets[-2:] == ["Coverage/a-195900.Coverage-7002", "Coverage/a-195900.Coverage-7003"]
    # self-pay is no Coverage, so it has no Provenance either
    assert fhir.get("/Provenance/a-195900.Provenance-Coverage-7004").status_code == 404


def test_scope_is_enforced(fhir: httpx.Client) -> None:
    base = str(fhir.base_url).removesuffix("/fhir/r4/").removesuffix("/fhir/r4")
    with httpx.Client(base_url=base) as plain:
        token = fetch_token(plain, "system/Patient.read")
    response = httpx.get(
        f"{base}/fhir/r4/Coverage/a-195900.Coverage-7001",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403


def test_generated_coverages_are_us_core(validator: ProfileValidator) -> None:
    from emulator.fhir_coverage import coverage_resource
    from emulator.world import World

    world = World(EmulatorConfig(generated_patients=300))
    rows = [r for p in world.practices for r in world.insurances.all(p) if r.is_coverage]
    assert len(rows) > 200
    for record in rows:
        assert validator.validate(coverage_resource(record)) == [], record.insuranceid
