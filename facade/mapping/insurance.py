"""Named conversions for the Coverage table (registered in ``transforms.TRANSFORMS``).

athena's patient insurance (``GET /patients/{id}/insurances``, API-NOTES §3.4) ->
US Core Coverage 6.1 (REVENUE-CYCLE §2.1, §8.1). Pure functions, no I/O, no clock:
"today" arrives as a record field the engine adds (``context: [today]``).

>>> coverage_status(("", "12/31/2024", "2025-06-30"))
'cancelled'
>>> member_identifier(("XKB884412078", 8477))["type"]["coding"][0]["code"]
'MB'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
COPAY_TYPE = "http://terminology.hl7.org/CodeSystem/coverage-copay-type"
PACKAGE_SYSTEM = "urn:athenahealth:athenanet:insurancepackage"  # + ":{insurancepackageid}"
SELF = "1"  # athena relationshiptoinsuredid of the patient's own policy
# athena ``copaytype`` -> coverage-copay-type (Coverage.costToBeneficiary.type, example binding).
# "Office Visit" is recorded (NET GetPatientInsurances.json); the others are the emulator's [G].
COPAY_CODES = {
    "Office Visit": ("gpvisit", "GP Office Visit"),
    "Specialist": ("spvisit", "Specialist Office Visit"),
    "Urgent Care": ("urgentcare", "Urgent Care"),
    "Emergency Room": ("emergency", "Emergency"),
}


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def date_us_to_iso(value: Any) -> str | None:
    """athena ``MM/DD/YYYY`` -> ISO (as ``transforms.date_us_to_iso``, which imports this)."""
    try:
        return datetime.strptime(_text(value), "%m/%d/%Y").date().isoformat()
    except ValueError:
        return None


def member_identifier(value: Any) -> dict[str, Any] | None:
    """``(insuranceidnumber, insurancepackageid)`` -> the us-core-coverage ``memberid``
    identifier (type v2-0203 MB), scoped by the package like athena's FHIR Coverage."""
    member, package = value
    if not _text(member):
        return None
    return {
        "type": {
            "coding": [{"system": V2_0203, "code": "MB", "display": "Member Number"}],
            "text": "Member Number",
        },
        "system": f"{PACKAGE_SYSTEM}:{_text(package)}",
        "value": _text(member),
    }


def coverage_status(value: Any) -> str:
    """``(cancelled, expirationdate, today)`` -> ``Coverage.status`` (fm-status).

    athena's DELETE sets ``cancelled``; a policy whose ``expirationdate`` is before today
    is no longer in force either ("active: the instance is currently in-force"), so it
    reads ``cancelled`` too (its ``period.end`` says when it ended).

    >>> coverage_status(("", "", "2025-06-30")), coverage_status(("06/30/2025", "", "2025-06-30"))
    ('active', 'cancelled')
    """
    cancelled, expires, today = value
    ended = date_us_to_iso(expires) if _text(expires) else None
    if _text(cancelled) or (ended is not None and today and ended < str(today)):
        return "cancelled"
    return "active"


def group_class(value: Any) -> dict[str, Any] | None:
    """``policynumber`` (athena: "the insurance group number") -> ``class:group``."""
    if not _text(value):
        return None
    return {
        "type": {"coding": [{"system": COVERAGE_CLASS, "code": "group", "display": "Group"}]},
        "value": _text(value),
    }


def plan_class(value: Any) -> dict[str, Any] | None:
    """``(insurancepackageid, insuranceplanname)`` -> ``class:plan`` (the package is the plan)."""
    package, name = value
    if not _text(package):
        return None
    found: dict[str, Any] = {
        "type": {"coding": [{"system": COVERAGE_CLASS, "code": "plan", "display": "Plan"}]},
        "value": _text(package),
    }
    if _text(name):
        found["name"] = _text(name)
    return found


def copay_costs(value: Any) -> list[dict[str, Any]] | None:
    """athena ``copays[]`` -> ``costToBeneficiary[]`` (a copay per visit type, in USD).

    >>> copay_costs([{"copaytype": "Office Visit", "copayamount": "25"}])[0]["valueMoney"]
    {'value': 25.0, 'currency': 'USD'}
    """
    if not isinstance(value, list):
        return None
    found = []
    for copay in value:
        if not isinstance(copay, dict):
            continue
        kind = _text(copay.get("copaytype"))
        try:
            amount = float(_text(copay.get("copayamount")))
        except ValueError:
            continue
        concept: dict[str, Any] = {}
        if kind in COPAY_CODES:
            code, display = COPAY_CODES[kind]
            concept["coding"] = [{"system": COPAY_TYPE, "code": code, "display": display}]
        if kind:
            concept["text"] = kind
        found.append({"type": concept, "valueMoney": {"value": amount, "currency": "USD"}})
    return found or None


def _relationship(value: Any) -> str:
    return _text(value) or SELF


def self_only(value: Any) -> Any:
    """``(relationshiptoinsuredid, patientid)`` -> the patient id when she holds the policy."""
    relationship, patient = value
    return patient if _relationship(relationship) == SELF else None


def unless_self(value: Any) -> Any:
    """``(relationshiptoinsuredid, value)`` -> the value when someone else holds the policy
    (the contained RelatedPerson carries the policy holder athena records).

    >>> unless_self((2, "MARCO")), unless_self((1, "DONNA"))
    ('MARCO', None)
    """
    relationship, found = value
    return None if _relationship(relationship) == SELF or not _text(found) else found


def holder_date(value: Any) -> str | None:
    """``(relationshiptoinsuredid, insurancepolicyholderdob)`` -> the holder's birthDate."""
    found = unless_self(value)
    return None if found is None else date_us_to_iso(found)


def holder_kind(value: Any) -> str | None:
    """``relationshiptoinsuredid`` -> ``RelatedPerson`` when someone else holds the policy."""
    return None if _relationship(value) == SELF else "RelatedPerson"


def holder_ref(value: Any) -> str | None:
    """``relationshiptoinsuredid`` -> ``holder``, the contained RelatedPerson's id (``#holder``)."""
    return None if _relationship(value) == SELF else "holder"
