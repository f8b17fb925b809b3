"""Builds ``/metadata`` (CapabilityStatement) from the mapping tables; never hand-edited.

What is not in a table is not advertised (DESIGN.md). Checks it must pass are
in US-CORE-NOTES §1.6: fhirVersion 4.0.1, JSON formats, ``instantiates`` the
US Core server, supportedProfile, the SMART ``oauth-uris`` extension and the
``SMART-on-FHIR`` security service.
"""

from __future__ import annotations

from typing import Any

from facade.mapping.loader import Mappings

US_CORE_SERVER = "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
COMBINATION = (
    "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
)
EXPECTATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation"
CORE_PARAMS = {
    "_id": "http://hl7.org/fhir/SearchParameter/Resource-id",
}


def _expectation(code: str) -> dict[str, Any]:
    return {"url": EXPECTATION, "valueCode": code}


def capability_statement(
    mappings: Mappings,
    *,
    fhir_base: str,
    software_version: str,
    endpoints: dict[str, str],
    release_date: str = "2026-11-29",
) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for rtype, table in sorted(mappings.tables.items()):
        interactions = [{"code": "read"}]
        if table.routes.search:
            interactions.append({"code": "search-type"})
        params = [
            {
                "name": name,
                "definition": spec.definition or CORE_PARAMS.get(name, ""),
                "type": spec.type,
                **({"documentation": spec.documentation} if spec.documentation else {}),
            }
            for name, spec in table.search_params.items()
        ]
        combos = [
            {
                "extension": [
                    _expectation("SHOULD"),
                    *({"url": "required", "valueString": p} for p in combo),
                ],
                "url": COMBINATION,
            }
            for combo in table.combinations
        ]
        resource: dict[str, Any] = {
            "type": rtype,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
            "supportedProfile": [f"{table.profile}|{v}" for v in table.profile_versions]
            or [table.profile],
            "interaction": interactions,
            "versioning": "no-version",
            "readHistory": False,
            "updateCreate": False,
            "conditionalCreate": False,
            "conditionalRead": "not-supported",
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "referencePolicy": ["resolves"],
            "searchParam": [p for p in params if p["definition"]],
        }
        if table.documentation:
            resource["documentation"] = table.documentation
        if combos:
            resource["extension"] = combos
        resources.append(resource)
    oauth = [{"url": key, "valueUri": url} for key, url in endpoints.items()]
    return {
        "resourceType": "CapabilityStatement",
        "id": "athena-fhir-facade",
        "url": f"{fhir_base}/metadata",
        "version": software_version,
        "name": "AthenaFhirFacade",
        "title": "athena-fhir-facade US Core server",
        "status": "active",
        "experimental": False,
        "date": release_date,
        "publisher": "athena-fhir-facade",
        "kind": "instance",
        "instantiates": [f"{US_CORE_SERVER}|6.1.0"],
        "software": {"name": "athena-fhir-facade", "version": software_version},
        "implementation": {
            "description": "US Core FHIR R4 facade over athenahealth",
            "url": fhir_base,
        },
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json", "application/json"],
        "patchFormat": [],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "extension": [{"url": OAUTH_URIS, "extension": oauth}],
                    "description": "Bearer tokens from the token endpoint in the oauth-uris extension",
                },
                "resource": resources,
                "interaction": [],
            }
        ],
    }


def smart_configuration(*, issuer: str, endpoints: dict[str, str]) -> dict[str, Any]:
    """``/.well-known/smart-configuration`` for this slice: client credentials only.

    The authorization endpoint (user launches) arrives with the SMART server;
    nothing is advertised before it works.

    Same endpoint URLs as the CapabilityStatement's oauth-uris extension.
    """
    return {
        "issuer": issuer,
        "token_endpoint": endpoints["token"],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": [
            "system/*.read",
            "system/*.rs",
            "system/Patient.read",
            "system/Patient.rs",
        ],
        "capabilities": ["client-confidential-symmetric", "permission-v1", "permission-v2"],
        "code_challenge_methods_supported": ["S256"],
    }
