"""athena's FHIR rendering of a patient record (API-NOTES sections 5.3, 7.23-7.24;
US-CORE-NOTES 1.2: US Core 6.1 Patient must-support and USCDI elements).

The same :class:`~emulator.records.PatientRecord` backs /v1 and FHIR, so the
FHIR view is computed on each read.
"""

from __future__ import annotations

import re
from typing import Any, Final

from emulator.records import PatientRecord, iso_from_us
from emulator.terminology import (
    BCP47_SYSTEM,
    BIRTH_SEX,
    CDC_RACE_SYSTEM,
    DAR_EXTENSION,
    DAR_SYSTEM,
    DECLINED,
    ETHNICITIES,
    GENDER_IDENTITIES,
    GENDERS,
    LANGUAGES,
    MARITAL_STATUSES,
    NULL_FLAVOR_SYSTEM,
    RACES,
    SEX_SNOMED,
    TRIBAL_SYSTEM,
    TRIBES,
)

US_CORE: Final = "http://hl7.org/fhir/us/core/StructureDefinition"
AH_PRACTICE_EXT: Final = "https://fhir.athena.io/StructureDefinition/ah-practice"
PATIENT_ID: Final = re.compile(r"^a-(?P<practice>\d+)\.E-(?P<patient>\d+)$")
_DECLINED_CODING: Final = {
    "system": NULL_FLAVOR_SYSTEM,
    "code": "ASKU",
    "display": "asked but declined",
}


def patient_fhir_id(practiceid: str, patientid: int) -> str:
    """``a-{practiceid}.E-{patientid}`` (section 5.3)."""
    return f"a-{practiceid}.E-{patientid}"


def identifier_system(practiceid: str) -> str:
    return f"urn:athenahealth:athenanet:patient:{practiceid}"


def practice_reference(practiceid: str) -> str:
    return f"Organization/a-1.Practice-{practiceid}"


def _omb_extension(kind: str, codes: list[str], table: dict[str, str], text: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for code in codes:
        if code == DECLINED:
            parts.append({"url": "ombCategory", "valueCoding": dict(_DECLINED_CODING)})
        else:
            parts.append(
                {
                    "url": "ombCategory",
                    "valueCoding": {
                        "system": CDC_RACE_SYSTEM,
                        "code": code,
                        "display": table.get(code, code),
                    },
                }
            )
    parts.append({"url": "text", "valueString": text})
    return {"url": f"{US_CORE}/us-core-{kind}", "extension": parts}


def _extensions(record: PatientRecord) -> list[dict[str, Any]]:
    fields = record.fields
    out: list[dict[str, Any]] = []
    race = fields.get("race")
    if isinstance(race, list) and race:
        text = "Patient Declined" if race == [DECLINED] else record.text("racename") or "Unknown"
        out.append(_omb_extension("race", race, RACES, text))
    ethnicity = record.text("ethnicitycode")
    if ethnicity:
        text = (
            "Patient Declined" if ethnicity == DECLINED else ETHNICITIES.get(ethnicity, ethnicity)
        )
        out.append(_omb_extension("ethnicity", [ethnicity], ETHNICITIES, text))
    if record.tribal_affiliation:
        code = record.tribal_affiliation
        out.append(
            {
                "url": f"{US_CORE}/us-core-tribal-affiliation",
                "extension": [
                    {
                        "url": "tribalAffiliation",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": TRIBAL_SYSTEM,
                                    "code": code,
                                    "display": TRIBES.get(code, code),
                                }
                            ]
                        },
                    },
                    {"url": "isEnrolled", "valueBoolean": True},
                ],
            }
        )
    birth_sex = BIRTH_SEX.get(record.text("assignedsexatbirth"))
    if birth_sex:
        out.append({"url": f"{US_CORE}/us-core-birthsex", "valueCode": birth_sex})
    sex = SEX_SNOMED.get(record.text("sex"))
    if sex:
        out.append({"url": f"{US_CORE}/us-core-sex", "valueCode": sex})
    identity = GENDER_IDENTITIES.get(record.text("genderidentity"))
    if identity:
        system, code, display = identity
        out.append(
            {
                "url": f"{US_CORE}/us-core-genderIdentity",
                "valueCodeableConcept": {
                    "coding": [{"system": system, "code": code, "display": display}],
                    "text": record.text("genderidentity"),
                },
            }
        )
    out.append(
        {
            "url": AH_PRACTICE_EXT,
            "valueReference": {"reference": practice_reference(record.practiceid)},
        }
    )
    return out


def _names(record: PatientRecord) -> list[dict[str, Any]]:
    given = [g for g in (record.text("firstname"), record.text("middlename")) if g]
    official: dict[str, Any] = {
        "use": "official",
        "family": record.text("lastname"),
        "given": given,
    }
    if record.text("suffix"):
        official["suffix"] = [record.text("suffix")]
    names = [official]
    if record.text("preferredname"):
        names.append(
            {
                "use": "usual",
                "family": record.text("lastname"),
                "given": [record.text("preferredname")],
            }
        )
    for previous in record.previous_names:
        names.append(
            {
                "use": "old",
                "family": previous.lastname,
                "given": [previous.firstname],
                "period": {"end": previous.end},
            }
        )
    return names


def _telecom(record: PatientRecord) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for field_name, use in (
        ("homephone", "home"),
        ("mobilephone", "mobile"),
        ("workphone", "work"),
    ):
        if record.text(field_name):
            out.append({"system": "phone", "value": record.text(field_name), "use": use})
    if record.text("email"):
        out.append({"system": "email", "value": record.text("email"), "use": "home"})
    elif record.declined_email:
        # the value is missing, and why: US Core's missing data, on ContactPoint.value
        dar = {"extension": [{"url": DAR_EXTENSION, "valueCode": "asked-declined"}]}
        out.append({"system": "email", "use": "home", "_value": dar})
    return out


def _communication(record: PatientRecord) -> list[dict[str, Any]]:
    code = record.text("language6392code")
    if code == DECLINED:
        # athena quirk: "declined" (as for race and ethnicity) [G]; no language code
        # applies, so the CodeableConcept carries the data-absent-reason code instead
        coding = {"system": DAR_SYSTEM, "code": "asked-declined", "display": "Asked But Declined"}
        return [{"language": {"coding": [coding], "text": "Declined to specify"}}]
    language = LANGUAGES.get(code)
    if not language:
        return []
    bcp47, display = language
    return [
        {
            "language": {
                "coding": [{"system": BCP47_SYSTEM, "code": bcp47, "display": display}],
                "text": display,
            },
            "preferred": True,
        }
    ]


def _address(record: PatientRecord) -> list[dict[str, Any]]:
    lines = [line for line in (record.text("address1"), record.text("address2")) if line]
    if not lines and not record.text("city") and not record.text("zip"):
        return []
    address: dict[str, Any] = {"use": "home", "type": "physical"}
    if lines:
        address["line"] = lines
    for field_name, key in (("city", "city"), ("state", "state"), ("zip", "postalCode")):
        if record.text(field_name):
            address[key] = record.text(field_name)
    address["country"] = record.text("countrycode3166") or "US"
    if record.address_since:
        address["period"] = {"start": record.address_since}
    return [address]


def patient_resource(record: PatientRecord) -> dict[str, Any]:
    """The FHIR R4 Patient athena's FHIR server would return for ``record``."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_fhir_id(record.practiceid, record.patientid),
        "meta": {"lastUpdated": record.last_updated, "profile": [f"{US_CORE}/us-core-patient"]},
        "extension": _extensions(record),
        "identifier": [
            {
                "use": "usual",
                "system": identifier_system(record.practiceid),
                "value": str(record.patientid),
            }
        ],
        "active": record.text("status") != "inactive",
        "name": _names(record),
    }
    telecom = _telecom(record)
    if telecom:
        resource["telecom"] = telecom
    resource["gender"] = GENDERS.get(record.text("sex"), "unknown")
    birth = iso_from_us(record.text("dob"))
    if birth:
        resource["birthDate"] = birth
    deceased = iso_from_us(record.text("deceaseddate"))
    if deceased:
        resource["deceasedDateTime"] = deceased
    address = _address(record)
    if address:
        resource["address"] = address
    marital = MARITAL_STATUSES.get(record.text("maritalstatus"))
    if marital:
        system, code, display = marital
        resource["maritalStatus"] = {
            "coding": [{"system": system, "code": code, "display": display}],
            "text": display,
        }
    communication = _communication(record)
    if communication:
        resource["communication"] = communication
    resource["managingOrganization"] = {"reference": practice_reference(record.practiceid)}
    return resource
