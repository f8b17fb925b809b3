"""A deliberately non-conforming FHIR server for the suite's negative tests.

Its CapabilityStatement is fine, but ``Patient?_id=X`` answers with another patient
(and POST with nothing), Encounter searches ignore ``date``, and fullUrls are relative.
Its clinical types are wrong in the ways the US Core groups look for: Observation
searches ignore ``code`` and ``category`` (a heart rate answers a blood-pressure search)
and a blood pressure without its components; AllergyIntolerance searches answer another
patient's allergy, its read another id; everything else is 404.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
PATIENT = "p1"


def _bundle(resources: list[dict[str, Any]]) -> JSONResponse:
    entries = [
        {
            "fullUrl": f"{r['resourceType']}/{r['id']}",  # relative: not allowed
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return JSONResponse({"resourceType": "Bundle", "type": "searchset", "entry": entries})


def _encounter(eid: str, start: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "period": {"start": start, "end": start},
    }


ENCOUNTERS = [_encounter("e1", "2020-01-01T10:00:00+00:00"), _encounter("e2", "2001-01-01")]


async def metadata(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "resourceType": "CapabilityStatement",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "instantiates": ["http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server"],
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {"type": "Patient", "supportedProfile": [f"{US_CORE}us-core-patient"]},
                        {"type": "Encounter", "supportedProfile": [f"{US_CORE}us-core-encounter"]},
                    ],
                }
            ],
        }
    )


async def patient_search(request: Request) -> JSONResponse:
    if request.method == "POST":
        return _bundle([])
    return _bundle([{"resourceType": "Patient", "id": "someone-else"}])


async def encounter_search(request: Request) -> JSONResponse:
    return _bundle(ENCOUNTERS)  # whatever the parameters, date included


async def encounter_read(request: Request) -> JSONResponse:
    found = [e for e in ENCOUNTERS if e["id"] == request.path_params["id"]]
    return JSONResponse(found[0]) if found else JSONResponse({}, status_code=404)


HEART_RATE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-heart-rate"
BLOOD_PRESSURE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure"
VITALS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                      "code": "vital-signs"}]}  # fmt: skip


def _observation(oid: str, profile: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "meta": {"profile": [profile]},
        "status": "final",
        "category": [VITALS],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": "2020-01-01T10:00:00+00:00",
    }


OBSERVATIONS = [
    _observation("o1", HEART_RATE, "8867-4"),
    _observation("o2", BLOOD_PRESSURE, "85354-9"),  # no components: invalid
]
ALLERGY = {
    "resourceType": "AllergyIntolerance",
    "id": "a1",
    "meta": {"profile": [f"{US_CORE}us-core-allergyintolerance"]},
    "code": {"text": "Penicillin"},
    "patient": {"reference": "Patient/someone-else"},
}


async def observation_search(request: Request) -> JSONResponse:
    return _bundle(OBSERVATIONS)  # whatever code or category was asked for


async def allergy_search(request: Request) -> JSONResponse:
    return _bundle([ALLERGY])


async def clinical_read(request: Request) -> JSONResponse:
    found = [r for r in [*OBSERVATIONS, ALLERGY] if r["id"] == request.path_params["id"]]
    if not found:
        return JSONResponse({}, status_code=404)
    return JSONResponse({**found[0], "id": "another"})  # the wrong id


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/fhir/metadata", metadata),
            Route("/fhir/Patient", patient_search),
            Route("/fhir/Patient/_search", patient_search, methods=["POST"]),
            Route("/fhir/Encounter", encounter_search),
            Route("/fhir/Encounter/_search", encounter_search, methods=["POST"]),
            Route("/fhir/Encounter/{id}", encounter_read),
            Route("/fhir/Observation", observation_search),
            Route("/fhir/Observation/_search", observation_search, methods=["POST"]),
            Route("/fhir/Observation/{id}", clinical_read),
            Route("/fhir/AllergyIntolerance", allergy_search),
            Route("/fhir/AllergyIntolerance/_search", allergy_search, methods=["POST"]),
            Route("/fhir/AllergyIntolerance/{id}", clinical_read),
        ]
    )
