"""What ``/metadata`` declares for Bulk Data Access 2.0.0 (``hl7.fhir.uv.bulkdata``).

EVENTS-BULK-MCP-SCALE §3.2-3.4: the statement ``instantiates`` the IG's
``bulk-data`` CapabilityStatement, and declares the three kick-offs with the IG's
canonical OperationDefinitions, each named ``export`` (Inferno warns on the IG's own
``group-export`` / ``patient-export`` names): system level in ``rest.operation``,
``Patient/$export`` on Patient, ``Group/[id]/$export`` on Group, which is also
readable and searchable (the groups a token may export, one per practice).
"""

from __future__ import annotations

from typing import Any

BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data|2.0.0"
DEFINITIONS = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"
SYSTEM_EXPORT = {"name": "export", "definition": f"{DEFINITIONS}/export"}
PATIENT_EXPORT = {"name": "export", "definition": f"{DEFINITIONS}/patient-export"}
GROUP_EXPORT = {"name": "export", "definition": f"{DEFINITIONS}/group-export"}
EXPORT_DOCUMENTATION = (
    "Bulk Data Access 2.0.0 kick-off (GET or POST Parameters, Prefer: respond-async): "
    "_outputFormat (application/fhir+ndjson, application/ndjson, ndjson), _since, _type, "
    "_typeFilter; patient (POST, Patient and Group level). Needs a SMART Backend Services "
    "token (system/ scopes); files need a token of the same client."
)


def group_resource() -> dict[str, Any]:
    """The CapabilityStatement entry of Group: read, search and the group export."""
    return {
        "type": "Group",
        "profile": "http://hl7.org/fhir/StructureDefinition/Group",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "referencePolicy": ["resolves"],
        "searchParam": [
            {
                "name": "_id",
                "definition": "http://hl7.org/fhir/SearchParameter/Resource-id",
                "type": "token",
            }
        ],
        "operation": [{**GROUP_EXPORT, "documentation": EXPORT_DOCUMENTATION}],
        "documentation": "One Group per athenahealth practice the token reaches: all of the "
        "practice's patients (athena's Group ids, a-1.c-{practiceid}). Export only.",
    }


def add_bulk(statement: dict[str, Any]) -> dict[str, Any]:
    """``statement`` with the Bulk Data declarations added (a new dict; the input is kept)."""
    rest = dict(statement["rest"][0])
    resources = []
    for resource in rest["resource"]:
        if resource["type"] == "Patient":
            resource = {
                **resource,
                "operation": [
                    *resource.get("operation", []),
                    {**PATIENT_EXPORT, "documentation": EXPORT_DOCUMENTATION},
                ],
            }
        resources.append(resource)
    resources.append(group_resource())
    rest["resource"] = sorted(resources, key=lambda r: str(r["type"]))
    rest["operation"] = [
        *rest.get("operation", []),
        {**SYSTEM_EXPORT, "documentation": EXPORT_DOCUMENTATION},
    ]
    return {
        **statement,
        "instantiates": [*statement["instantiates"], BULK_DATA],
        "rest": [rest, *statement["rest"][1:]],
    }
