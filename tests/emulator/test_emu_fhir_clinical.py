"""Native FHIR Encounter, Condition, Provenance, Practitioner, Organization,
Location and Appointment (API-NOTES 5.2-5.5, section 7 item 23)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emu_support import Running

from emulator.fhir_clinical import SPECS

PRACTICE = "Organization/a-1.Practice-195900"
INVALID = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "business-rule", "details": "Invalid FHIR request"}],
}


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"]]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/Encounter", {"ah-practice": PRACTICE}),
        ("/Encounter", {"ah-practice": PRACTICE, "date": "ge2025-01-01"}),
        ("/Encounter", {"patient": "60178"}),  # not a FHIR id, no ah-practice
        ("/Encounter", {"patient": "a-195900.E-60178", "unknown": "1"}),
        ("/Encounter", {"patient": "a-195900.E-60178", "date": "2025/06/01"}),
        ("/Encounter", {"patient": "a-195900.E-60178", "cursor": "garbage"}),
        ("/Condition", {"ah-practice": PRACTICE, "code": "I10"}),
        ("/Provenance", {"ah-practice": PRACTICE}),
        ("/Practitioner", {"identifier": "1234567893"}),  # identifier needs ah-practice
        ("/Organization", {"ah-practice": PRACTICE}),
        ("/Location", {"name": "Main"}),
        ("/Appointment", {"ah-practice": PRACTICE, "date": "2025-06-30"}),  # no date search
    ],
)
def test_required_combinations(cfhir: httpx.Client, path: str, params: dict[str, str]) -> None:
    response = cfhir.get(path, params=params)
    assert response.status_code == 400
    assert response.json() == INVALID


def test_encounter_read_and_shape(cfhir: httpx.Client) -> None:
    bundle = cfhir.get("/Encounter", params={"patient": "Patient/a-195900.E-60178"}).json()
    assert bundle["type"] == "searchset" and bundle["total"] >= 3
    first = bundle["entry"][0]["resource"]
    assert first["id"].startswith("a-195900.encounter-")
    read = cfhir.get(f"/Encounter/{first['id']}").json()
    assert read == first
    assert read["identifier"][0]["system"] == "urn:athenahealth:athenanet:encounter:195900"
    assert read["status"] == "finished" and read["class"]["code"] == "AMB"
    assert read["subject"] == {"reference": "Patient/a-195900.E-60178"}
    assert [p["type"][0]["coding"][0]["code"] for p in read["participant"]] == ["PPRF", "ATND"]
    assert read["participant"][0]["individual"]["reference"] == "Practitioner/a-195900.Provider-23"
    assert read["location"][0]["location"]["reference"] == "Location/a-195900.Department-1"
    assert read["serviceProvider"] == {"reference": PRACTICE}
    assert read["reasonReference"][0]["reference"].startswith("Condition/a-195900.ENCDX-")
    assert read["period"]["start"].endswith("-05:00") and read["meta"]["lastUpdated"].endswith("Z")
    assert cfhir.get("/Encounter/40000").status_code == 400
    assert cfhir.get("/Encounter/a-195900.encounter-1").status_code == 404


def test_unknown_and_special_encounters(cfhir: httpx.Client) -> None:
    unknown = cfhir.get("/Encounter", params={"patient": "a-195900.E-60184", "_count": 50}).json()
    odd = [e["resource"] for e in unknown["entry"] if e["resource"]["class"]["code"] == "UNK"]
    assert odd, "60184 has an encounter with unknown data"
    assert odd[0]["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
    assert (
        odd[0]["type"][0]["coding"][0]["system"]
        == "http://terminology.hl7.org/CodeSystem/data-absent-reason"
    )
    assert "reasonCode" not in odd[0] and "end" not in odd[0]["period"]
    home = cfhir.get("/Encounter", params={"patient": "a-195900.E-60182", "_count": 50}).json()
    assert "HH" in {e["resource"]["class"]["code"] for e in home["entry"]}
    virtual = cfhir.get("/Encounter", params={"patient": "a-195900.E-60183", "_count": 50}).json()
    assert "VR" in {e["resource"]["class"]["code"] for e in virtual["entry"]}
    today = cfhir.get(
        "/Encounter", params={"patient": "a-195900.E-60178", "date": "2025-06-30"}
    ).json()
    assert [e["resource"]["status"] for e in today["entry"]] == ["in-progress"]


def test_encounter_search_filters(cfhir: httpx.Client) -> None:
    who = {"patient": "a-195900.E-60178,a-195900.E-60179"}
    every = _ids(cfhir.get("/Encounter", params={**who, "_count": 50}).json())
    assert len(every) == 5  # 60178: 3 visits, 60179: 2
    june = _ids(
        cfhir.get("/Encounter", params={**who, "date": "ge2025-06-20", "_count": 50}).json()
    )
    early = _ids(
        cfhir.get("/Encounter", params={**who, "date": "lt2025-06-20", "_count": 50}).json()
    )
    assert sorted(june + early) == sorted(every) and june and early
    ranged = cfhir.get(
        "/Encounter", params=[*who.items(), ("date", "ge2025-06-09"), ("date", "le2025-06-09")]
    ).json()
    assert ranged["total"] == 2
    elsewhere = cfhir.get(
        "/Encounter", params={**who, "location": "Location/a-195900.Department-144"}
    ).json()
    assert elsewhere["total"] == 0
    mine = cfhir.get(
        "/Encounter", params={**who, "practitioner": "Practitioner/a-195900.Provider-23"}
    ).json()
    assert mine["total"] == len(every)
    served = cfhir.get(
        "/Encounter", params={**who, "service-provider": PRACTICE, "_count": 50}
    ).json()
    assert served["total"] == len(every)
    by_id = cfhir.get("/Encounter", params={"_id": every[0]}).json()  # the id carries the practice
    assert _ids(by_id) == [every[0]]
    other = cfhir.get(
        "/Encounter", params={"_id": every[0], "ah-practice": "Organization/a-1.Practice-195901"}
    ).json()
    assert other["total"] == 0
    assert cfhir.get("/Encounter", params={**who, "_lastUpdated": "ge2025-06-01"}).json()[
        "total"
    ] == len(every)


def test_encounter_cursor_paging(cfhir: httpx.Client) -> None:
    url: str | None = (
        "/Encounter?patient=a-195900.E-60178,a-195900.E-60179,a-195900.E-60180&_count=2"
    )
    seen: list[str] = []
    total = 0
    while url:
        bundle = cfhir.get(url).json()
        total = bundle["total"]
        seen += _ids(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert len(seen) == len(set(seen)) == total > 6


def test_condition_read_and_search(cfhir: httpx.Client) -> None:
    bundle = cfhir.get("/Condition", params={"patient": "a-195900.E-60181", "_count": 50}).json()
    assert bundle["total"] >= 4
    condition = bundle["entry"][0]["resource"]
    assert condition["category"][0]["coding"][0]["code"] == "encounter-diagnosis"
    assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert condition["clinicalStatus"]["coding"][0]["code"] == "active"
    systems = [c["system"] for c in condition["code"]["coding"]]
    assert systems == ["http://hl7.org/fhir/sid/icd-10-cm", "http://snomed.info/sct"]
    assert cfhir.get(f"/Condition/{condition['id']}").json() == condition
    encounter = condition["encounter"]["reference"].split("/")[1]
    by_encounter = cfhir.get("/Condition", params={"encounter": encounter}).json()
    assert condition["id"] in _ids(by_encounter)
    diabetes = cfhir.get(
        "/Condition",
        params={"patient": "a-195900.E-60181", "code": "http://hl7.org/fhir/sid/icd-10-cm|E11.9"},
    ).json()
    snomed = cfhir.get(
        "/Condition", params={"patient": "a-195900.E-60181", "code": "44054006"}
    ).json()
    assert diabetes["total"] == snomed["total"] >= 2
    problems = cfhir.get(
        "/Condition", params={"patient": "a-195900.E-60181", "category": "problem-list-item"}
    ).json()
    # the problem list (emulator/clinical_seed.py): diabetes and hypertension, both chronic
    assert problems["total"] == 2
    assert cfhir.get("/Condition/a-195900.ENCDX-1").status_code == 404


def test_provenance(cfhir: httpx.Client) -> None:
    encounter = _ids(cfhir.get("/Encounter", params={"patient": "a-195900.E-60178"}).json())[0]
    bundle = cfhir.get("/Provenance", params={"target": f"Encounter/{encounter}"}).json()
    assert bundle["total"] == 1
    provenance = bundle["entry"][0]["resource"]
    assert provenance["target"] == [{"reference": f"Encounter/{encounter}"}]
    agent = provenance["agent"][0]
    assert agent["type"]["coding"][0]["code"] == "author" and agent["who"] == {
        "reference": PRACTICE
    }
    assert cfhir.get(f"/Provenance/{provenance['id']}").json() == provenance
    by_patient = cfhir.get(
        "/Provenance", params={"patient": "a-195900.E-60178", "_count": 50}
    ).json()
    targets = [e["resource"]["target"][0]["reference"] for e in by_patient["entry"]]
    assert targets[0] == "Patient/a-195900.E-60178" and f"Encounter/{encounter}" in targets


def test_practitioner_organization_location(cfhir: httpx.Client) -> None:
    doc = cfhir.get("/Practitioner/a-195900.Provider-23").json()
    assert {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"} in doc["identifier"]
    assert doc["name"][0]["family"] == "Doe"
    for identifier in (
        "http://hl7.org/fhir/sid/us-npi|1234567893",
        "urn:athenahealth:athenanet:provider:195900|23",
    ):
        found = cfhir.get(
            "/Practitioner", params={"identifier": identifier, "ah-practice": PRACTICE}
        ).json()
        assert _ids(found) == ["a-195900.Provider-23"]
    assert _ids(cfhir.get("/Practitioner", params={"_id": "a-195900.Provider-71"}).json()) == [
        "a-195900.Provider-71"
    ]
    orgs = cfhir.get(
        "/Organization", params={"_id": "a-1.Practice-195900,a-195900.Department-1"}
    ).json()
    assert _ids(orgs) == ["a-1.Practice-195900", "a-195900.Department-1"]
    practice = cfhir.get("/Organization/a-1.Practice-195900").json()
    assert practice["name"] == "athenahealth MDP Sandbox"
    department = cfhir.get("/Organization/a-195900.Department-1").json()
    location = cfhir.get("/Location/a-195900.Department-1").json()
    assert (
        department["id"] == location["id"]
        and location["managingOrganization"]["reference"] == f"Organization/{department['id']}"
    )
    assert _ids(cfhir.get("/Location", params={"_id": "a-195900.Department-21"}).json()) == [
        "a-195900.Department-21"
    ]
    assert cfhir.get("/Location/a-195900.Department-999").status_code == 404
    assert cfhir.get("/Location/a-1.Practice-195900").status_code == 400


def test_appointment_read_and_search(cfhir: httpx.Client, clinic: Running) -> None:
    record = next(
        r
        for r in clinic.world.schedule.all_appointments("195900")
        if r.patientid == 60179 and r.status == "4"
    )
    ident = f"a-195900.Appointment-{record.appointmentid}"
    resource = cfhir.get(f"/Appointment/{ident}").json()
    assert resource["status"] == "fulfilled" and resource["minutesDuration"] == record.duration
    actors = [p["actor"]["reference"] for p in resource["participant"]]
    assert actors[0] == "Patient/a-195900.E-60179"
    assert _ids(cfhir.get("/Appointment", params={"_id": ident}).json()) == [ident]
    noshow = next(
        r
        for r in clinic.world.schedule.all_appointments("195900")
        if r.patientid == 60179 and r.status == "x" and r.cancel is not None and r.cancel.noshow
    )
    assert (
        cfhir.get(f"/Appointment/a-195900.Appointment-{noshow.appointmentid}").json()["status"]
        == "noshow"
    )
    slot = next(r for r in clinic.world.schedule.all_appointments("195900") if r.status == "o")
    assert cfhir.get(f"/Appointment/a-195900.Appointment-{slot.appointmentid}").status_code == 404


def test_scopes_gate_each_type(fhir: httpx.Client) -> None:
    # the shared client holds system/Patient.read only
    response = fhir.get("/Encounter", params={"patient": "a-195900.E-60178"})
    assert response.status_code == 403
    assert response.json()["issue"][0]["details"] == "Invalid scope"


def test_capability_statement_lists_served_types(http: httpx.Client) -> None:
    statement = http.get("/fhir/r4/metadata").json()
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(types) == {
        "Patient", "Encounter", "Condition", "Provenance", "Practitioner", "Organization", "Location",
        "Appointment", "Coverage", "Binary",
        *SPECS,  # the generic clinical store (emulator/fhir_clinical.py)
    }  # fmt: skip
    assert [p["name"] for p in types["Coverage"]["searchParam"]] == ["patient", "_lastUpdated"]
    assert [p["name"] for p in types["Appointment"]["searchParam"]] == ["_id"]
    assert "date" in [p["name"] for p in types["Encounter"]["searchParam"]]


def test_resources_are_valid_r4(cfhir: httpx.Client, clinic: Running) -> None:
    from fhir.resources.R4B.appointment import Appointment
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.encounter import Encounter
    from fhir.resources.R4B.location import Location
    from fhir.resources.R4B.organization import Organization
    from fhir.resources.R4B.practitioner import Practitioner
    from fhir.resources.R4B.provenance import Provenance

    patients = ",".join(f"a-195900.E-{i}" for i in range(60178, 60185))
    for resource in _resources(cfhir, "/Encounter", patients):
        Encounter.model_validate(resource)
    for resource in _resources(cfhir, "/Condition", patients):
        Condition.model_validate(resource)
    for resource in _resources(cfhir, "/Provenance", patients):
        Provenance.model_validate(resource)
    Practitioner.model_validate(cfhir.get("/Practitioner/a-195900.Provider-86").json())
    Organization.model_validate(cfhir.get("/Organization/a-1.Practice-195900").json())
    Organization.model_validate(cfhir.get("/Organization/a-195900.Department-21").json())
    Location.model_validate(cfhir.get("/Location/a-195900.Department-21").json())
    for status in ("f", "2", "3", "4", "x"):
        Appointment.model_validate(_appointment_of(cfhir, clinic, status))


def _resources(cfhir: httpx.Client, path: str, patients: str) -> list[dict[str, Any]]:
    bundle = cfhir.get(path, params={"patient": patients, "_count": 200}).json()
    assert bundle["entry"]
    return [e["resource"] for e in bundle["entry"]]


def _appointment_of(cfhir: httpx.Client, clinic: Running, status: str) -> dict[str, Any]:
    record = next(r for r in clinic.world.schedule.all_appointments("195900") if r.status == status)
    response = cfhir.get(f"/Appointment/a-195900.Appointment-{record.appointmentid}")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result
