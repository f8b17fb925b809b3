"""Builds ``/metadata`` (CapabilityStatement) from the mapping tables; never hand-edited.

What is not in a table is not advertised (DESIGN.md). Checks it must pass are
in US-CORE-NOTES §1.6: fhirVersion 4.0.1, JSON formats, ``instantiates`` the
US Core server, supportedProfile, the SMART ``oauth-uris`` extension and the
``SMART-on-FHIR`` security service.
"""

from __future__ import annotations

from typing import Any

from capability.bulk import add_bulk
from capability.operations import operation_id
from facade.mapping.loader import Mappings

US_CORE_SERVER = "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
COMBINATION = (
    "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
)
EXPECTATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation"
CORE_PARAMS = {
    "_id": "http://hl7.org/fhir/SearchParameter/Resource-id",
    "_lastUpdated": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
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
    cors: bool = False,
    bulk: bool = False,
) -> dict[str, Any]:
    """The CapabilityStatement; ``bulk`` adds the Bulk Data export declarations."""
    resources: list[dict[str, Any]] = []
    for rtype, table in sorted(mappings.tables.items()):
        interactions = [{"code": "read"}]
        if table.routes.search:
            interactions.append({"code": "search-type"})
        writes = table.writes
        if writes and writes.create:
            interactions.append({"code": "create"})
        if writes and writes.update:
            interactions.append({"code": "update"})
        if writes and writes.patch_paths:
            interactions.append({"code": "patch"})
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
            "interaction": interactions,
            "versioning": "no-version",
            "readHistory": False,
            "updateCreate": False,
            "conditionalCreate": bool(writes and writes.create),
            "conditionalRead": "not-supported",
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "referencePolicy": ["resolves"],
            "searchParam": [p for p in params if p["definition"]],
        }
        if table.includes:
            resource["searchInclude"] = sorted(table.includes)
        if table.revincludes:
            resource["searchRevInclude"] = sorted(table.revincludes)
        if table.profile:
            resource["supportedProfile"] = [
                f"{profile}|{v}" if v else profile
                for profile in (table.profile, *table.profiles)
                for v in (table.profile_versions or [""])
            ]
        if table.documentation:
            resource["documentation"] = table.documentation
        operations = [
            {
                "name": op.name,
                # the specification's canonical when the operation is exactly that one
                "definition": op.canonical
                or f"{fhir_base}/OperationDefinition/{operation_id(rtype, op.name)}",
                **({"documentation": op.documentation} if op.documentation else {}),
            }
            for op in (writes.operations if writes else [])
        ]
        if operations:
            resource["operation"] = operations
        if combos:
            resource["extension"] = combos
        resources.append(resource)
    oauth = [{"url": key, "valueUri": url} for key, url in oauth_uris(endpoints).items()]
    statement: dict[str, Any] = {
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
        "patchFormat": (
            ["application/json-patch+json", "application/merge-patch+json"]
            if any(t.writes and t.writes.patch_paths for t in mappings.tables.values())
            else []
        ),
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": cors,
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
    return add_bulk(statement) if bulk else statement


SMART_CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "context-banner",
    "context-style",
    "permission-offline",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
]
OAUTH_URI_KEYS = ("authorize", "token", "introspect", "revoke", "register")


def oauth_uris(endpoints: dict[str, str]) -> dict[str, str]:
    """The oauth-uris sub-extensions, same URLs as discovery (SMART App Launch 2.0 §conformance)."""
    return {key: endpoints[key] for key in OAUTH_URI_KEYS if key in endpoints}


def _scopes_supported(mappings: Mappings) -> list[str]:
    scopes = [
        "openid",
        "fhirUser",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
    ]
    for context in ("patient", "user", "system"):
        scopes += [f"{context}/*.read", f"{context}/*.rs"]
        for rtype in sorted(mappings.tables):
            scopes += [f"{context}/{rtype}.read", f"{context}/{rtype}.rs"]
            if mappings.tables[rtype].writes:
                scopes += [f"{context}/{rtype}.write", f"{context}/{rtype}.cu"]
    return scopes


def smart_configuration(
    mappings: Mappings, *, issuer: str, endpoints: dict[str, str]
) -> dict[str, Any]:
    """``/.well-known/smart-configuration`` (SMART App Launch 2.0 "Conformance", STU2 fields).

    Every URL here is also in the CapabilityStatement's oauth-uris extension
    (:func:`oauth_uris`), and every capability listed is implemented and tested.
    """
    body: dict[str, Any] = {
        "issuer": issuer,
        "jwks_uri": endpoints["jwks"],
        "authorization_endpoint": endpoints["authorize"],
        "token_endpoint": endpoints["token"],
        "introspection_endpoint": endpoints["introspect"],
        "revocation_endpoint": endpoints["revoke"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": _scopes_supported(mappings),
        "capabilities": SMART_CAPABILITIES,
        "code_challenge_methods_supported": ["S256"],
    }
    if "register" in endpoints:
        body["registration_endpoint"] = endpoints["register"]
    return body


def openid_configuration(
    mappings: Mappings, *, issuer: str, endpoints: dict[str, str]
) -> dict[str, Any]:
    """``{issuer}/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0 §3)."""
    body: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": endpoints["authorize"],
        "token_endpoint": endpoints["token"],
        "jwks_uri": endpoints["jwks"],
        "introspection_endpoint": endpoints["introspect"],
        "revocation_endpoint": endpoints["revoke"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": _scopes_supported(mappings),
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "code_challenge_methods_supported": ["S256"],
    }
    if "register" in endpoints:
        body["registration_endpoint"] = endpoints["register"]
    return body
