"""CapabilityStatement checks (US-CORE-NOTES §1.6): ``GET [base]/metadata`` with no token."""

from __future__ import annotations

import httpx

from conformance.context import US_CORE, Context
from conformance.result import check, require

US_CORE_SERVER = "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server"
JSON_FORMATS = {"json", "application/json", "application/fhir+json"}


@check("CapabilityStatement")
def capability_statement(ctx: Context) -> str:
    response = httpx.get(
        f"{ctx.client.base}/metadata", headers={"Accept": "application/fhir+json"}, timeout=30
    )  # deliberately without the Authorization header
    require(
        response.status_code == 200, f"GET metadata without a token: HTTP {response.status_code}"
    )
    statement = response.json()
    require(statement.get("resourceType") == "CapabilityStatement", "not a CapabilityStatement")
    version = str(statement.get("fhirVersion", ""))
    require(version.startswith("4.0."), f"fhirVersion {version!r} is not 4.0.x")
    formats = {str(f) for f in statement.get("format", [])}
    require(formats & JSON_FORMATS, f"format {sorted(formats)} has no JSON")
    profiles = {
        str(p).split("|")[0]
        for rest in statement.get("rest", [])
        for resource in rest.get("resource", [])
        for p in resource.get("supportedProfile", [])
    }
    us_core = {p for p in profiles if p.startswith(US_CORE)}
    require(f"{US_CORE}us-core-patient" in us_core, "supportedProfile lacks us-core-patient")
    require(len(us_core) >= 2, "supportedProfile has no US Core profile besides us-core-patient")
    instantiates = [str(i) for i in statement.get("instantiates", [])]
    require(
        any(i.split("|")[0] == US_CORE_SERVER for i in instantiates),
        f"instantiates {instantiates} lacks {US_CORE_SERVER}",
    )
    return f"FHIR {version}, {len(us_core)} US Core profiles"
