"""athena's FHIR rendering of encounters, encounter diagnoses and provenance
(API-NOTES sections 5.3-5.5; US Core 6.1 Encounter, Condition Encounter
Diagnosis, Provenance). Rendered on each read from the same records /v1 serves.

Ids: Encounter ``a-{pid}.encounter-{id}`` (lower case as in the one low-trust
source, section 5.3); Condition ``a-{pid}.ENCDX-{diagnosisid}`` [G]; Provenance
``a-{pid}.Provenance-Encounter-{id}`` / ``a-{pid}.Provenance-Patient-{id}`` [G].

Encounter.status [G]: a cancelled check-in or cancelled appointment ->
cancelled; CLOSED/REVIEW or checked out -> finished; checked in ->
in-progress; otherwise planned.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, Final

from emulator.catalog import (
    ACT_CODE_SYSTEM,
    DISCHARGE_SYSTEM,
    ENCOUNTER_CLASSES,
    ICD10_SYSTEM,
    NULL_FLAVOR_SYSTEM,
    SNOMED_SYSTEM,
)
from emulator.fhir_patient import US_CORE, patient_fhir_id, practice_reference
from emulator.visits import DiagnosisRecord, EncounterRecord

ENCOUNTER_ID: Final = re.compile(r"^a-(?P<practice>\d+)\.encounter-(?P<id>\d+)$")
CONDITION_ID: Final = re.compile(r"^a-(?P<practice>\d+)\.ENCDX-(?P<id>\d+)$")
PROVENANCE_ID: Final = re.compile(
    r"^a-(?P<practice>\d+)\.Provenance-(?P<kind>[A-Za-z]+)-(?P<id>\d+)$"
)
DAR_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
PARTICIPATION_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PROVENANCE_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DISCHARGE_DISPLAY: Final = {"home": "Home"}


def encounter_fhir_id(practiceid: str, encounterid: int) -> str:
    return f"a-{practiceid}.encounter-{encounterid}"


def condition_fhir_id(practiceid: str, diagnosisid: int) -> str:
    return f"a-{practiceid}.ENCDX-{diagnosisid}"


def instant(at: datetime) -> str:
    """FHIR instant in UTC (meta.lastUpdated, Provenance.recorded)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_datetime(at: datetime) -> str:
    """FHIR dateTime with the department's offset."""
    return at.isoformat(timespec="seconds")


def encounter_status(record: EncounterRecord, appointment_status: str | None) -> str:
    if record.cancelled or appointment_status == "x":
        return "cancelled"
    if record.status in {"CLOSED", "REVIEW"} or record.end is not None:
        return "finished"
    if record.start is not None:
        return "in-progress"
    return "planned"


def _class(record: EncounterRecord) -> dict[str, str]:
    if record.enc_class is None:
        return {"system": NULL_FLAVOR_SYSTEM, "code": "UNK", "display": "unknown"}
    return {
        "system": ACT_CODE_SYSTEM,
        "code": record.enc_class,
        "display": ENCOUNTER_CLASSES[record.enc_class],
    }


def _type(record: EncounterRecord) -> list[dict[str, Any]]:
    if record.type_code is None:
        return [
            {
                "coding": [{"system": DAR_SYSTEM, "code": "unknown", "display": "Unknown"}],
                "text": record.visitname or "Unknown",
            }
        ]
    system, code, display = record.type_code
    return [{"coding": [{"system": system, "code": code, "display": display}], "text": display}]


def _period(record: EncounterRecord) -> dict[str, str]:
    period = {
        "start": local_datetime(record.start) if record.start else record.encounterdate.isoformat()
    }
    if record.end is not None:
        period["end"] = local_datetime(record.end)
    return period


def encounter_resource(
    record: EncounterRecord,
    *,
    appointment_status: str | None = None,
    provider_name: str | None = None,
    department_name: str | None = None,
) -> dict[str, Any]:
    """The US Core Encounter athena's FHIR server would return for ``record``."""
    pid = record.practiceid
    practitioner: dict[str, Any] = {
        "reference": f"Practitioner/a-{pid}.Provider-{record.providerid}"
    }
    if provider_name:
        practitioner["display"] = provider_name
    period = _period(record)
    participants = [
        {
            "type": [
                {"coding": [{"system": PARTICIPATION_SYSTEM, "code": code, "display": display}]}
            ],
            "period": dict(period),
            "individual": dict(practitioner),
        }
        for code, display in (("PPRF", "primary performer"), ("ATND", "attender"))
    ]
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_fhir_id(pid, record.encounterid),
        "meta": {
            "lastUpdated": instant(record.last_updated),
            "profile": [f"{US_CORE}/us-core-encounter"],
        },
        "identifier": [
            {
                "use": "usual",
                "system": f"urn:athenahealth:athenanet:encounter:{pid}",
                "value": str(record.encounterid),
            }
        ],
        "status": encounter_status(record, appointment_status),
        "class": _class(record),
        "type": _type(record),
        "subject": {"reference": f"Patient/{patient_fhir_id(pid, record.patientid)}"},
        "participant": participants,
        "period": period,
    }
    if record.reason is not None:
        code, display = record.reason
        resource["reasonCode"] = [
            {
                "coding": [{"system": SNOMED_SYSTEM, "code": code, "display": display}],
                "text": display,
            }
        ]
    if record.diagnoses:
        resource["reasonReference"] = [
            {"reference": f"Condition/{condition_fhir_id(pid, d.diagnosisid)}"}
            for d in sorted(record.diagnoses, key=lambda d: d.ranking)
        ]
    if record.discharge is not None:
        resource["hospitalization"] = {
            "dischargeDisposition": {
                "coding": [
                    {
                        "system": DISCHARGE_SYSTEM,
                        "code": record.discharge,
                        "display": DISCHARGE_DISPLAY.get(record.discharge, record.discharge),
                    }
                ]
            }
        }
    location: dict[str, Any] = {"reference": f"Location/a-{pid}.Department-{record.departmentid}"}
    if department_name:
        location["display"] = department_name
    resource["location"] = [{"location": location}]
    resource["serviceProvider"] = {"reference": practice_reference(pid)}
    return resource


def condition_resource(diagnosis: DiagnosisRecord, encounter: EncounterRecord) -> dict[str, Any]:
    """US Core Condition (encounter-diagnosis) for one encounter diagnosis."""
    pid = diagnosis.practiceid
    codings = [
        {"system": ICD10_SYSTEM, "code": code, "display": text} for code, text in diagnosis.icd10
    ]
    codings.append(
        {"system": SNOMED_SYSTEM, "code": diagnosis.snomed, "display": diagnosis.description}
    )
    onset: datetime | date = encounter.start or encounter.encounterdate
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": condition_fhir_id(pid, diagnosis.diagnosisid),
        "meta": {
            "lastUpdated": instant(diagnosis.recorded),
            "profile": [f"{US_CORE}/us-core-condition-encounter-diagnosis"],
        },
        "identifier": [
            {
                "system": f"urn:athenahealth:athenanet:diagnosis:{pid}",
                "value": str(diagnosis.diagnosisid),
            }
        ],
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": diagnosis.clinical_status,
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                        "display": "Encounter Diagnosis",
                    }
                ]
            }
        ],
        "code": {"coding": codings, "text": diagnosis.description},
        "subject": {"reference": f"Patient/{patient_fhir_id(pid, diagnosis.patientid)}"},
        "encounter": {"reference": f"Encounter/{encounter_fhir_id(pid, encounter.encounterid)}"},
        "onsetDateTime": local_datetime(onset)
        if isinstance(onset, datetime)
        else onset.isoformat(),
        "recordedDate": local_datetime(diagnosis.recorded),
    }
    # [G] athena asserts an encounter diagnosis when it is recorded; a resolved one abated then
    resource["extension"] = [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
            "valueDateTime": local_datetime(diagnosis.recorded),
        }
    ]
    if diagnosis.clinical_status == "resolved":
        resource["abatementDateTime"] = local_datetime(diagnosis.recorded)
    if diagnosis.note:
        resource["note"] = [{"text": diagnosis.note}]
    return resource


def provenance_resource(
    practiceid: str, kind: str, ident: int, recorded: datetime
) -> dict[str, Any]:
    """US Core Provenance for a Patient, Encounter or Coverage: the practice authored it [G]
    (athena's CapabilityStatement lists ``Provenance:target`` as a revinclude of all three)."""
    if kind == "Encounter":
        target = f"Encounter/{encounter_fhir_id(practiceid, ident)}"
    elif kind == "Coverage":
        target = f"Coverage/a-{practiceid}.Coverage-{ident}"
    else:
        target = f"Patient/{patient_fhir_id(practiceid, ident)}"
    return {
        "resourceType": "Provenance",
        "id": f"a-{practiceid}.Provenance-{kind}-{ident}",
        "meta": {
            "lastUpdated": instant(recorded),
            "profile": [f"{US_CORE}/us-core-provenance"],
        },
        "target": [{"reference": target}],
        "recorded": instant(recorded),
        "agent": [
            {
                "type": {
                    "coding": [
                        {"system": PROVENANCE_TYPE_SYSTEM, "code": "author", "display": "Author"}
                    ]
                },
                "who": {"reference": practice_reference(practiceid)},
            }
        ],
    }
