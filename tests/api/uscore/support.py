"""What the US Core clinical tests share: the served types and one gathering of every
sandbox patient's records, per type, through the facade."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.clinical_support import SANDBOX, search

Json = dict[str, Any]
# the types the US Core 6.1 clinical tables serve, searched by patient
PATIENT_TYPES = [
    "AllergyIntolerance", "CarePlan", "CareTeam", "Condition", "Device", "DiagnosticReport",
    "DocumentReference", "Goal", "Immunization", "MedicationDispense", "MedicationRequest",
    "Observation", "Procedure", "QuestionnaireResponse", "RelatedPerson", "ServiceRequest",
    "Specimen", "Media",
]  # fmt: skip
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"


def gather(fhir: httpx.Client) -> dict[str, list[Json]]:
    """Every sandbox patient's records of every type (plus the Medications they name)."""
    out: dict[str, list[Json]] = {}
    for rtype in PATIENT_TYPES:
        out[rtype] = [r for pid in SANDBOX for r in search(fhir, rtype, {"patient": pid})[0]]
    names = {
        ref["reference"]
        for r in out["MedicationRequest"] + out["MedicationDispense"]
        if (ref := r.get("medicationReference"))
    }
    out["Medication"] = [fhir.get(name).json() for name in sorted(names)]
    return out
