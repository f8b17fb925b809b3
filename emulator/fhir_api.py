"""Native athena FHIR R4 endpoints for Patient (API-NOTES sections 5.1-5.5).

- ``GET /fhir/r4/metadata`` (no token): a small CapabilityStatement like athena's.
- ``GET /fhir/r4/.well-known/smart-configuration`` (no token).
- ``GET /fhir/r4/Patient/{id}``: id ``a-{practiceid}.E-{patientid}``, no ah-practice needed.
- ``GET /fhir/r4/Patient`` and ``POST /fhir/r4/Patient/_search``: searchset Bundles.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from emulator.errors import FhirError, invalid_fhir_request, json_response
from emulator.fhir_clinical import SPECS as CLINICAL_SPECS
from emulator.fhir_patient import PATIENT_ID, US_CORE, patient_resource
from emulator.fhir_resources import PROFILES, SEARCHES
from emulator.fhir_search import parse_search
from emulator.form import request_pairs
from emulator.rest_practice import world_of

FHIR_JSON = "application/fhir+json"
SEARCH_PARAMS = [
    "_id",
    "identifier",
    "name",
    "family",
    "given",
    "birthdate",
    "gender",
    "_lastUpdated",
    "ah-department",
]


def fhir_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir/r4"


def _fhir(body: Any, status: int = 200) -> Response:
    return json_response(body, status, FHIR_JSON)


def _resources() -> list[dict[str, Any]]:
    """One entry per served resource type, generated from the search table (HAPI style)."""
    out: list[dict[str, Any]] = [
        {
            "type": "Patient",
            "supportedProfile": [f"{US_CORE}/us-core-patient|6.1.0"],
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": name, "type": "string"} for name in SEARCH_PARAMS],
        }
    ]
    for kind, spec in sorted(SEARCHES.items()):
        entry: dict[str, Any] = {"type": kind}
        if PROFILES[kind]:
            entry["supportedProfile"] = [f"{US_CORE}/{p}|6.1.0" for p in PROFILES[kind]]
        entry["interaction"] = [{"code": "read"}, {"code": "search-type"}]
        entry["searchParam"] = [
            {"name": name, "type": PARAM_TYPES.get(name, "token")} for name in spec.params
        ]
        out.append(entry)
    for kind, clinical in sorted(CLINICAL_SPECS.items()):  # emulator/fhir_clinical.py
        if kind in SEARCHES:
            continue
        out.append(
            {
                "type": kind,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": [
                    {"name": name, "type": "token" if p.kind == "id" else p.kind}
                    for name, p in clinical.params.items()
                ],
            }
        )
    out.append({"type": "Binary", "interaction": [{"code": "read"}]})
    return out


PARAM_TYPES = {
    "patient": "reference",
    "encounter": "reference",
    "target": "reference",
    "location": "reference",
    "practitioner": "reference",
    "service-provider": "reference",
    "date": "date",
    "_lastUpdated": "date",
}


async def metadata(request: Request) -> Response:
    """CapabilityStatement (section 5.1; CAPS): fhirVersion 4.0.1, athena's software name."""
    base = fhir_base(request)
    statement = {
        "resourceType": "CapabilityStatement",
        "url": "https://fhir.athena.io/CapabilityStatement/ah-r4-base",
        "status": "active",
        "date": "2025-01-15",
        "kind": "instance",
        "software": {"name": "athenahealth FHIR Server"},
        "implementation": {"description": "athenahealth emulator", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/json", "application/fhir+json", "application/json+fhir"],
        "instantiates": [
            "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|3.1.1",
            "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|6.1.0",
        ],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ]
                },
                "resource": _resources(),
                "searchParam": [{"name": "ah-practice", "type": "reference"}],
            }
        ],
    }
    return _fhir(statement)


async def smart_configuration(request: Request) -> Response:
    """``/.well-known/smart-configuration`` (section 5.5; CAPS), pointing at this emulator."""
    root = str(request.base_url).rstrip("/")
    return json_response(
        {
            "token_endpoint": f"{root}/oauth2/v1/token",
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": ["client-confidential-symmetric", "permission-v1", "permission-v2"],
        }
    )


async def read_patient(request: Request) -> Response:
    """``GET /fhir/r4/Patient/{id}`` (sections 5.2, 5.3)."""
    match = PATIENT_ID.match(str(request.path_params["id"]))
    if match is None:
        raise invalid_fhir_request()
    record = world_of(request).patient(match["practice"], int(match["patient"]))
    if record is None:
        # [G] athena's exact not-found text is unknown; same string-details quirk.
        raise FhirError(404, "not-found", f"Resource Patient/{request.path_params['id']} not found")
    return _fhir(patient_resource(record))


async def search_patients(request: Request) -> Response:
    """``GET /fhir/r4/Patient`` and ``POST /fhir/r4/Patient/_search`` (sections 5.4, 5.5)."""
    world = world_of(request)
    pairs = await request_pairs(request)
    search = parse_search(
        pairs, set(world.practices), world.config.fhir_default_count, world.config.fhir_max_count
    )
    hits = [r for r in world.live_patients(search.practiceid) if search.matches(r)]
    page = hits[search.offset : search.offset + search.count]
    base = fhir_base(request)
    links = [{"relation": "self", "url": f"{base}/Patient?{urlencode(pairs)}"}]
    if search.offset + search.count < len(hits):
        query = urlencode(
            [*search.echo, ("cursor", search.cursor_for(search.offset + search.count))]
        )
        links.append({"relation": "next", "url": f"{base}/Patient?{query}"})
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(hits),
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/Patient/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in (patient_resource(r) for r in page)
        ],
    }
    return _fhir(bundle)
