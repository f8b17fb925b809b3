"""athena's FHIR rendering of providers, practices, departments and appointments
(API-NOTES sections 5.3, 5.4; US Core 6.1 Practitioner, Organization, Location).

Ids: Practitioner ``a-{pid}.Provider-{id}`` (C1), practice Organization
``a-1.Practice-{pid}``, department Organization and Location share
``a-{pid}.Department-{id}``, Appointment ``a-{pid}.Appointment-{id}`` [G].
"""

from __future__ import annotations

import re
from datetime import timedelta, tzinfo
from typing import Any, Final

from emulator.catalog import APPOINTMENT_TYPES, REASONS, SNOMED_SYSTEM
from emulator.fhir_encounter import instant, local_datetime
from emulator.fhir_patient import US_CORE, patient_fhir_id, practice_reference
from emulator.visits import AppointmentRecord

PRACTITIONER_ID: Final = re.compile(r"^a-(?P<practice>\d+)\.Provider-(?P<id>\d+)$")
PRACTICE_ID: Final = re.compile(r"^a-1\.Practice-(?P<practice>\d+)$")
DEPARTMENT_ID: Final = re.compile(r"^a-(?P<practice>\d+)\.Department-(?P<id>\d+)$")
APPOINTMENT_ID: Final = re.compile(r"^a-(?P<practice>\d+)\.Appointment-(?P<id>\d+)$")
NPI_SYSTEM: Final = "http://hl7.org/fhir/sid/us-npi"
# athena appointment status -> FHIR Appointment.status (section 6.1 [G]).
APPOINTMENT_STATUS: Final = {"f": "booked", "2": "arrived", "3": "fulfilled", "4": "fulfilled"}
# Reference resources carry no change dates in athena; a fixed stamp keeps them stable [G].
REFERENCE_UPDATED: Final = "2025-01-15T00:00:00Z"


def provider_system(practiceid: str) -> str:
    return f"urn:athenahealth:athenanet:provider:{practiceid}"


def practitioner_resource(practiceid: str, provider: dict[str, Any]) -> dict[str, Any]:
    pid = provider["providerid"]
    return {
        "resourceType": "Practitioner",
        "id": f"a-{practiceid}.Provider-{pid}",
        "meta": {
            "lastUpdated": REFERENCE_UPDATED,
            "profile": [f"{US_CORE}/us-core-practitioner"],
        },
        "identifier": [
            {"system": NPI_SYSTEM, "value": str(provider["npi"])},
            {"use": "usual", "system": provider_system(practiceid), "value": str(pid)},
        ],
        "active": True,
        "name": [
            {
                "use": "official",
                "text": provider["displayname"],
                "family": provider["lastname"],
                "given": [provider["firstname"]],
                "suffix": [provider["providertypeid"]],
            }
        ],
        "gender": {"M": "male", "F": "female"}.get(provider["sex"], "unknown"),
    }


def _address(department: dict[str, Any]) -> dict[str, Any]:
    return {
        "use": "work",
        "type": "physical",
        "line": [department["address"]],
        "city": department["city"],
        "state": department["state"],
        "postalCode": department["zip"],
        "country": "US",
    }


def _telecom(department: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"system": "phone", "value": department["phone"], "use": "work"},
        {"system": "fax", "value": department["fax"], "use": "work"},
    ]


def practice_organization(practice: dict[str, Any]) -> dict[str, Any]:
    pid = practice["practiceid"]
    return {
        "resourceType": "Organization",
        "id": f"a-1.Practice-{pid}",
        "meta": {
            "lastUpdated": REFERENCE_UPDATED,
            "profile": [f"{US_CORE}/us-core-organization"],
        },
        "identifier": [{"system": "urn:athenahealth:athenanet:practice", "value": pid}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": practice["name"],
    }


def department_organization(practiceid: str, department: dict[str, Any]) -> dict[str, Any]:
    dept = department["departmentid"]
    return {
        "resourceType": "Organization",
        "id": f"a-{practiceid}.Department-{dept}",
        "meta": {
            "lastUpdated": REFERENCE_UPDATED,
            "profile": [f"{US_CORE}/us-core-organization"],
        },
        "identifier": [
            {"system": f"urn:athenahealth:athenanet:department:{practiceid}", "value": dept}
        ],
        "active": True,
        "name": department["patientdepartmentname"],
        "alias": [department["name"]],
        "telecom": _telecom(department),
        "address": [_address(department)],
        "partOf": {"reference": practice_reference(practiceid)},
    }


def location_resource(practiceid: str, department: dict[str, Any]) -> dict[str, Any]:
    dept = department["departmentid"]
    return {
        "resourceType": "Location",
        "id": f"a-{practiceid}.Department-{dept}",
        "meta": {
            "lastUpdated": REFERENCE_UPDATED,
            "profile": [f"{US_CORE}/us-core-location"],
        },
        "identifier": [
            {"system": f"urn:athenahealth:athenanet:department:{practiceid}", "value": dept}
        ],
        "status": "active",
        "name": department["patientdepartmentname"],
        "alias": [department["name"]],
        "mode": "instance",
        "telecom": _telecom(department),
        "address": _address(department),
        "position": {
            "latitude": float(department["latitude"]),
            "longitude": float(department["longitude"]),
        },
        "managingOrganization": {"reference": f"Organization/a-{practiceid}.Department-{dept}"},
    }


def appointment_resource(record: AppointmentRecord, tz: tzinfo) -> dict[str, Any]:
    """FHIR Appointment for a booked (not open) appointment [G mapping, section 6.1]."""
    pid = record.practiceid
    kind = APPOINTMENT_TYPES[record.appointmenttypeid]
    start = record.starts_at(tz)
    if record.status == "x":
        status = "noshow" if record.cancel is not None and record.cancel.noshow else "cancelled"
    else:
        status = APPOINTMENT_STATUS.get(record.status, "proposed")
    participants: list[dict[str, Any]] = []
    if record.patientid is not None:
        participants.append(
            {
                "actor": {"reference": f"Patient/{patient_fhir_id(pid, record.patientid)}"},
                "required": "required",
                "status": "accepted",
            }
        )
    participants += [
        {
            "actor": {"reference": f"Practitioner/a-{pid}.Provider-{record.providerid}"},
            "required": "required",
            "status": "accepted",
        },
        {
            "actor": {"reference": f"Location/a-{pid}.Department-{record.departmentid}"},
            "required": "required",
            "status": "accepted",
        },
    ]
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": f"a-{pid}.Appointment-{record.appointmentid}",
        "meta": {"lastUpdated": instant(record.lastmodified)},
        "identifier": [
            {
                "system": f"urn:athenahealth:athenanet:appointment:{pid}",
                "value": str(record.appointmentid),
            }
        ],
        "status": status,
        "appointmentType": {
            "coding": [
                {
                    "system": f"urn:athenahealth:athenanet:appointmenttype:{pid}",
                    "code": str(kind.appointmenttypeid),
                    "display": kind.name,
                }
            ],
            "text": kind.name,
        },
        "start": local_datetime(start),
        "end": local_datetime(start + timedelta(minutes=record.duration)),
        "minutesDuration": record.duration,
        "participant": participants,
    }
    if record.reasonid in REASONS:
        reason = REASONS[record.reasonid]
        resource["reasonCode"] = [
            {
                "coding": [
                    {"system": SNOMED_SYSTEM, "code": reason.snomed[0], "display": reason.snomed[1]}
                ],
                "text": reason.reason,
            }
        ]
    if record.cancel is not None:
        resource["cancelationReason"] = {"text": record.cancel.name}
    if record.scheduled is not None:
        resource["created"] = local_datetime(record.scheduled)
    if record.bookingnote:
        resource["comment"] = record.bookingnote
    return resource
