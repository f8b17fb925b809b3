"""What a run carries from check to check: the client, the inputs, the resources found.

Like Inferno, the first searches collect resources and later checks derive their
inputs (identifiers, names, dates, codes, references) from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.client import FhirClient, Json
from conformance.result import Skip

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
PROFILES = {
    "Patient": f"{US_CORE}us-core-patient|6.1.0",
    "Encounter": f"{US_CORE}us-core-encounter|6.1.0",
    "Condition": f"{US_CORE}us-core-condition-encounter-diagnosis|6.1.0",
    "Provenance": f"{US_CORE}us-core-provenance|6.1.0",
    "Practitioner": f"{US_CORE}us-core-practitioner|6.1.0",
    "PractitionerRole": f"{US_CORE}us-core-practitionerrole|6.1.0",
    "Location": f"{US_CORE}us-core-location|6.1.0",
    "Organization": f"{US_CORE}us-core-organization|6.1.0",
}


def profile_of(resource: Json) -> str | None:
    """The US Core 6.1.0 profile to validate ``resource`` against: the first it declares
    (Observation, Condition and DiagnosticReport have several), else its type's."""
    declared = [
        str(p).split("|", 1)[0]
        for p in resource.get("meta", {}).get("profile", [])
        if str(p).startswith(US_CORE)
    ]
    if declared:
        return f"{declared[0]}|6.1.0"
    return PROFILES.get(str(resource.get("resourceType")))


@dataclass
class Context:
    client: FhirClient
    patient_ids: list[str]
    patients: dict[str, Json] = field(default_factory=dict)
    encounters: dict[str, list[Json]] = field(default_factory=dict)  # patient id -> its encounters
    resolved: list[Json] = field(default_factory=list)  # reference targets read
    # US Core clinical groups (conformance/uscore.py): profile -> the resources collected
    uscore: dict[str, list[Json]] = field(default_factory=dict)
    resolved_uscore: list[Json] = field(default_factory=list)

    def all_encounters(self) -> list[Json]:
        return [e for found in self.encounters.values() for e in found]

    def need_patients(self) -> dict[str, Json]:
        if not self.patients:
            raise Skip("no Patient was returned by the _id search")
        return self.patients

    def need_encounters(self) -> list[Json]:
        found = self.all_encounters()
        if not found:
            raise Skip("no Encounter was returned by the patient search")
        return found


def values(node: Any, path: str) -> list[Any]:
    """Every value at a dotted element path, lists flattened (``type.coding`` etc.)."""
    current: list[Any] = [node]
    for part in path.split("."):
        following: list[Any] = []
        for item in current:
            value = item.get(part) if isinstance(item, dict) else None
            if isinstance(value, list):
                following.extend(value)
            elif value is not None:
                following.append(value)
        current = following
    return current
