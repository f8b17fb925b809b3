"""Shared by the claims tests: the Coverage stack (an emulator whose clock the tests move
through its admin API, a facade in front of it) and Claim bodies."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.coverage.support import DONNA, FHIR_JSON, PID, Json, Stack, entries, search

CPT = "http://www.ama-assn.org/go/cpt"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
SUBMIT = "Claim/$submit"
CREATE_CLAIM = "/v1/{practiceid}/claims"
APPOINTMENT_CLAIM = "/v1/{practiceid}/appointments/{appointmentid}/claim"
PROVIDER = f"Practitioner/a-{PID}.Provider-23"
DEPARTMENT = f"Location/a-{PID}.Department-1"


def advance(site: Stack, seconds: float) -> None:
    """Move the emulator's clock through its admin API (claims move with it)."""
    with site.admin() as admin:
        response = admin.post("clock", json={"advance": seconds})
    assert response.status_code == 200, response.text


def finished_encounter(client: httpx.Client, patient: str = DONNA) -> Json:
    """The patient's oldest finished visit (the sandbox seeds one three weeks back)."""
    found = [
        e
        for e in entries(search(client, "Encounter", patient=patient))
        if e["status"] == "finished"
    ]
    assert found, f"{patient} has no finished Encounter"
    encounter: Json = sorted(found, key=lambda e: e["period"]["start"])[0]
    return encounter


def claim_body(
    patient: str,
    coverage: str,
    codes: list[tuple[str, list[int]]],
    diagnoses: list[str],
    *,
    served: str | None = None,
    encounter: str | None = None,
    location: str | None = DEPARTMENT,
    provider: str = PROVIDER,
    **extra: Any,
) -> Json:
    """A Claim as a billing app sends it: items with CPT codes pointing at ICD-10 diagnoses."""
    items = []
    for index, (code, pointers) in enumerate(codes, start=1):
        item: Json = {
            "sequence": index,
            "productOrService": {"coding": [{"system": CPT, "code": code}]},
            "diagnosisSequence": pointers,
            "quantity": {"value": 1},
        }
        if served:
            item["servicedDate"] = served
        if encounter:
            item["encounter"] = [{"reference": encounter}]
        if location:
            item["locationReference"] = {"reference": location}
        items.append(item)
    body: Json = {
        "resourceType": "Claim",
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "claim",
        "patient": {"reference": f"Patient/{patient}"},
        "created": "2025-06-30",
        "provider": {"reference": provider},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [
            {"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/{coverage}"}}
        ],
        "diagnosis": [
            {
                "sequence": n,
                "diagnosisCodeableConcept": {"coding": [{"system": ICD10, "code": code}]},
            }
            for n, code in enumerate(diagnoses, start=1)
        ],
        "item": items,
    }
    return {**body, **extra}


def submit(client: httpx.Client, body: Json, **headers: str) -> httpx.Response:
    return client.post(SUBMIT, json=body, headers={**FHIR_JSON, **headers})


def add_note(client: httpx.Client, claim: str, text: str) -> httpx.Response:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "claim", "valueReference": {"reference": claim}},
            {"name": "text", "valueString": text},
        ],
    }
    return client.post("Claim/$add-note", json=parameters, headers=FHIR_JSON)


def claims_of(site: Stack, patientid: int) -> list[Any]:
    """What athena holds: the patient's claims in the emulator."""
    return [c for c in site.world.claims.all(PID) if c.patientid == patientid]
