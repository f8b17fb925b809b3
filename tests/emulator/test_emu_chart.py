"""Chart encounters, summary and diagnoses on /v1 (API-NOTES 3.6, 4.1, 6.2)."""

from __future__ import annotations

import httpx

P = "/v1/195900"


def _first_encounter(cv1: httpx.Client, patient: int) -> dict[str, object]:
    body = cv1.get(f"{P}/chart/{patient}/encounters", params={"departmentid": 1}).json()
    row: dict[str, object] = body["encounters"][0]
    return row


def test_encounter_list_requires_department_and_pages(cv1: httpx.Client) -> None:
    missing = cv1.get(f"{P}/chart/60178/encounters")
    assert missing.status_code == 400
    assert missing.json() == {
        "missingfields": ["departmentid"],
        "error": "Additional fields are required.",
    }
    assert cv1.get(f"{P}/chart/9999999/encounters", params={"departmentid": 1}).status_code == 404
    body = cv1.get(f"{P}/chart/60178/encounters", params={"departmentid": 1}).json()
    assert body["totalcount"] == len(body["encounters"]) >= 3
    row = body["encounters"][0]
    assert isinstance(row["encounterid"], int) and isinstance(row["departmentid"], int)
    assert row["encountertype"] == "VISIT" and row["status"] in {"CLOSED", "REVIEW"}
    assert row["diagnoses"] and row["encounterdate"].count("/") == 2
    assert {"appointmentid", "lastupdated", "stage", "patientstatus", "providerid"} <= set(row)
    page = cv1.get(f"{P}/chart/60178/encounters", params={"departmentid": 1, "limit": 1}).json()
    assert page["next"] == f"{P}/chart/60178/encounters?DEPARTMENTID=1&limit=1&offset=1"
    # department 21 shares chart sharing group 42 with department 1; 144 does not
    assert (
        cv1.get(f"{P}/chart/60178/encounters", params={"departmentid": 21}).json()["totalcount"]
        == body["totalcount"]
    )
    assert (
        cv1.get(f"{P}/chart/60178/encounters", params={"departmentid": 144}).json()["totalcount"]
        == 0
    )


def test_read_summary_and_diagnoses(cv1: httpx.Client) -> None:
    encounter = _first_encounter(cv1, 60181)
    eid = encounter["encounterid"]
    one = cv1.get(f"{P}/chart/encounter/{eid}").json()
    assert isinstance(one, list) and one[0]["encounterid"] == eid
    assert cv1.get(f"{P}/chart/encounter/1").status_code == 404
    summary = cv1.get(f"{P}/chart/encounters/{eid}/summary").json()
    assert set(summary) == {"summaryhtml"}
    assert (
        summary["summaryhtml"].startswith("<html>") and "Gary Sandboxtest" in summary["summaryhtml"]
    )
    assert (
        cv1.get(f"{P}/chart/encounter/{eid}/summary").status_code == 404
    )  # singular path does not exist
    diagnoses = cv1.get(f"{P}/chart/encounter/{eid}/diagnoses").json()
    assert isinstance(diagnoses, list)
    assert [d["snomedcode"] for d in diagnoses] == [44054006, 38341003]
    assert diagnoses[0]["icdcodes"] == [
        {
            "code": "E11.9",
            "codeset": "ICD10",
            "description": "Type 2 diabetes mellitus without complications",
        }
    ]
    assert diagnoses[0]["ranking"] == 1 and diagnoses[0]["supportslaterality"] is False


def test_add_diagnosis(cv1: httpx.Client, cfhir: httpx.Client) -> None:
    eid = _first_encounter(cv1, 60180)["encounterid"]
    url = f"{P}/chart/encounter/{eid}/diagnoses"
    missing = cv1.post(url, data={"note": "x"})
    assert missing.status_code == 400 and missing.json()["missingfields"] == ["snomedcode"]
    for bad in ("0", "12345", "38341004", "abc"):
        response = cv1.post(url, data={"snomedcode": bad})
        assert response.status_code == 400
        assert response.json() == {
            "detailedmessage": "SNOMED code not valid.",
            "error": "The data provided is invalid.",
        }
    assert (
        cv1.post(url, data={"snomedcode": "195967001", "icd10codes": "not-a-code"}).status_code
        == 400
    )
    created = cv1.post(
        url, data={"snomedcode": "195967001", "icd10codes": "J45909", "note": "mild"}
    )
    assert created.status_code == 200
    body = created.json()
    assert body["success"] is True and body["snomedcode"] == 195967001
    assert body["icdcodes"][0]["code"] == "J45.909" and body["ranking"] == 2
    listed = cv1.get(url).json()
    assert body["diagnosisid"] in [d["diagnosisid"] for d in listed]
    condition = cfhir.get(f"/Condition/a-195900.ENCDX-{body['diagnosisid']}").json()
    codes = {(c["system"], c["code"]) for c in condition["code"]["coding"]}
    assert ("http://hl7.org/fhir/sid/icd-10-cm", "J45.909") in codes
    assert ("http://snomed.info/sct", "195967001") in codes
    assert condition["encounter"]["reference"] == f"Encounter/a-195900.encounter-{eid}"
    assert condition["note"] == [{"text": "mild"}]
