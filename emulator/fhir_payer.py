"""The insurance package as a payer ``Organization`` on athena's FHIR surface
(API-NOTES 5.3 [G id prefix]; us-core-organization 6.1.0).

Id ``a-{pid}.InsurancePackage-{insurancepackageid}`` [G]; self-pay and payment
plan are no payer and have no Organization. Served through the Organization
read and ``_id`` search (:mod:`emulator.fhir_resources`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from emulator.fhir_patient import US_CORE
from emulator.insurance_catalog import InsurancePackage, package

if TYPE_CHECKING:
    from emulator.world import World

PACKAGE_ID: Final = re.compile(r"^a-(?P<practice>\d+)\.InsurancePackage-(?P<id>-?\d+)$")
PACKAGE_SYSTEM: Final = "urn:athenahealth:athenanet:insurancepackage"


def package_reference(practiceid: str, packageid: int) -> str:
    return f"Organization/a-{practiceid}.InsurancePackage-{packageid}"


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def package_organization(practiceid: str, pkg: InsurancePackage) -> dict[str, Any]:
    """The payer Organization a Coverage's ``payor`` points at (us-core-organization)."""
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": f"a-{practiceid}.InsurancePackage-{pkg.insurancepackageid}",
        "meta": {
            "lastUpdated": "2025-01-15T00:00:00Z",
            "profile": [f"{US_CORE}/us-core-organization"],
        },
        "identifier": [{"system": PACKAGE_SYSTEM, "value": str(pkg.insurancepackageid)}],
        "active": True,
        "type": [
            {
                "coding": [
                    _coding(
                        "http://terminology.hl7.org/CodeSystem/organization-type", "pay", "Payer"
                    )
                ]
            }
        ],
        "name": pkg.insuranceplanname,
        "alias": [pkg.ircname],
    }
    if pkg.phone:
        resource["telecom"] = [{"system": "phone", "value": pkg.phone, "use": "work"}]
    if pkg.address1:
        resource["address"] = [
            {
                "use": "work",
                "line": [pkg.address1],
                "city": pkg.city,
                "state": pkg.state,
                "postalCode": pkg.zip,
                "country": "US",
            }
        ]
    return resource


def package_lookup(world: World, ident: str) -> dict[str, Any] | None:
    """``a-{pid}.InsurancePackage-{id}`` -> Organization, None when unknown or self-pay."""
    match = PACKAGE_ID.match(ident)
    if match is None or match["practice"] not in world.practices:
        return None
    pkg = package(int(match["id"]))
    return package_organization(match["practice"], pkg) if pkg and pkg.is_insurance else None
