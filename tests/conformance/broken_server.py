"""A deliberately non-conforming FHIR server for the suite's negative tests.

Its CapabilityStatement is fine, but ``Patient?_id=X`` answers with another patient
(and POST with nothing), Encounter searches ignore ``date``, and fullUrls are relative.
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


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/fhir/metadata", metadata),
            Route("/fhir/Patient", patient_search),
            Route("/fhir/Patient/_search", patient_search, methods=["POST"]),
            Route("/fhir/Encounter", encounter_search),
            Route("/fhir/Encounter/_search", encounter_search, methods=["POST"]),
            Route("/fhir/Encounter/{id}", encounter_read),
        ]
    )
