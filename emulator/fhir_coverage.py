"""athena's FHIR ``Coverage`` and the insurance-package ``Organization``
(API-NOTES 5.3, 5.4; REVENUE-CYCLE 2.1, 5.3, 8.1; us-core-coverage 6.1.0).

Rendered on every read from the same :class:`~emulator.insurance.InsuranceRecord`
as ``/v1/{pid}/patients/{id}/insurances``, so a /v1 write shows at once.
Only live, non-self-pay insurances are Coverages [G]: a cancelled insurance
or ``*SELF PAY*`` reads as 404 and never matches a search.

- ``GET /fhir/r4/Coverage/{id}``: id ``a-{pid}.Coverage-{insuranceid}`` [G prefix].
- ``GET /fhir/r4/Coverage?patient=`` (required, CAPS), ``_lastUpdated``,
  ``ah-practice``, ``_count``, ``cursor``; ordered by sequence number.
- payor ``Organization/a-{pid}.InsurancePackage-{packageid}`` [G prefix], readable
  and searchable by ``_id`` through the Organization handlers.

Mapping (REVENUE-CYCLE 8.1): ``insuranceidnumber`` -> ``identifier:memberid`` and
``subscriberId``; ``policynumber`` -> ``class:group``; package -> ``class:plan``
and ``payor``; ``sequencenumber`` -> ``order``; ``relationshiptoinsuredid`` ->
``relationship``; ``issuedate``/``expirationdate`` -> ``period``; ``copays[]``
-> ``costToBeneficiary``; the package's kind -> ``type`` (Source of Payment
Typology). An expired policy stays ``active`` with a past ``period.end`` [G].
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from emulator.errors import FhirError, invalid_fhir_request, json_response
from emulator.fhir_patient import PATIENT_ID, US_CORE, patient_fhir_id
from emulator.fhir_payer import PACKAGE_SYSTEM, package_reference
from emulator.fhir_resources import SEARCHES, bundle, parse_query
from emulator.fhir_search import compare_instant, date_interval
from emulator.form import request_pairs
from emulator.insurance import RELATIONSHIPS, InsuranceRecord
from emulator.insurance_catalog import SOP_SYSTEM
from emulator.records import iso_from_us
from emulator.rest_practice import world_of

COVERAGE_ID: Final = re.compile(r"^a-(?P<practice>\d+)\.Coverage-(?P<id>\d+)$")
FHIR_JSON: Final = "application/fhir+json"
SUBSCRIBER_RELATIONSHIP: Final = {1: "self", 2: "spouse", 3: "child", 4: "other", 25: "common"}
# athena copaytype -> coverage-copay-type (copaytype names other than "Office Visit" are [G]).
COPAY_CODES: Final = {
    "Office Visit": ("gpvisit", "GP Office Visit"),
    "Specialist": ("spvisit", "Specialist Office Visit"),
    "Urgent Care": ("urgentcare", "Urgent Care"),
    "Emergency Room": ("emergency", "Emergency"),
}


def coverage_fhir_id(practiceid: str, insuranceid: int) -> str:
    return f"a-{practiceid}.Coverage-{insuranceid}"


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def coverage_resource(record: InsuranceRecord) -> dict[str, Any]:
    pkg = record.package
    pid = record.practiceid
    member = record.text("insuranceidnumber")
    patient_ref = {"reference": f"Patient/{patient_fhir_id(pid, record.patientid)}"}
    relationship = SUBSCRIBER_RELATIONSHIP.get(record.relationshiptoinsuredid, "other")
    holder = patient_ref if relationship == "self" else {"display": record.holder_name()}
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": coverage_fhir_id(pid, record.insuranceid),
        "meta": {"lastUpdated": record.last_updated, "profile": [f"{US_CORE}/us-core-coverage"]},
        "identifier": [
            {
                "type": {
                    "coding": [
                        _coding(
                            "http://terminology.hl7.org/CodeSystem/v2-0203", "MB", "Member Number"
                        )
                    ],
                    "text": "Member Number",
                },
                "system": f"{PACKAGE_SYSTEM}:{pkg.insurancepackageid}",  # [G]
                "value": member,
            },
            {
                "system": f"urn:athenahealth:athenanet:patientinsurance:{pid}",
                "value": str(record.insuranceid),
            },
        ],
        "status": "active",
        "type": {"coding": [_coding(SOP_SYSTEM, *pkg.sop)], "text": pkg.insurancetype},
        "policyHolder": holder,
        "subscriber": holder,
        "subscriberId": member,
        "beneficiary": patient_ref,
        "relationship": {
            "coding": [
                _coding(
                    "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                    relationship,
                    RELATIONSHIPS.get(record.relationshiptoinsuredid, "Other"),
                )
            ],
            "text": RELATIONSHIPS.get(record.relationshiptoinsuredid, "Other"),
        },
        "payor": [
            {
                "reference": package_reference(pid, pkg.insurancepackageid),
                "display": pkg.insuranceplanname,
            }
        ],
        "order": record.sequencenumber,
    }
    if not member:
        del resource["subscriberId"]
        resource["identifier"] = resource["identifier"][1:]
    if record.holder_name() == "" and relationship != "self":
        del resource["policyHolder"], resource["subscriber"]
    period = {
        key: iso
        for key, name in (("start", "issuedate"), ("end", "expirationdate"))
        if (iso := iso_from_us(record.text(name)))
    }
    if period:
        resource["period"] = period
    classes = []
    if record.text("policynumber"):
        classes.append(_class("group", "Group", record.text("policynumber"), None))
    classes.append(_class("plan", "Plan", str(pkg.insurancepackageid), pkg.insuranceplanname))
    resource["class"] = classes
    costs = [
        {
            "type": {
                "coding": [
                    _coding(
                        "http://terminology.hl7.org/CodeSystem/coverage-copay-type",
                        *COPAY_CODES[kind],
                    )
                ],
                "text": kind,
            },
            "valueMoney": {"value": float(amount), "currency": "USD"},
        }
        for kind, amount in record.copays
        if kind in COPAY_CODES
    ]
    if costs:
        resource["costToBeneficiary"] = costs
    return resource


def _class(code: str, display: str, value: str, name: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": {
            "coding": [
                _coding("http://terminology.hl7.org/CodeSystem/coverage-class", code, display)
            ]
        },
        "value": value,
    }
    if name:
        out["name"] = name
    return out


def _fhir(body: Any) -> Response:
    return json_response(body, 200, FHIR_JSON)


async def read_coverage(request: Request) -> Response:
    """``GET /fhir/r4/Coverage/{id}``."""
    world, ident = world_of(request), str(request.path_params["id"])
    match = COVERAGE_ID.match(ident)
    if match is None:
        raise invalid_fhir_request()
    record = world.insurances.get(match["practice"], int(match["id"]))
    if (
        record is None
        or not record.is_coverage
        or world.patient(record.practiceid, record.patientid) is None
    ):
        # [G] athena's exact not-found text is unknown; same string-details quirk.
        raise FhirError(404, "not-found", f"Resource Coverage/{ident} not found")
    return _fhir(coverage_resource(record))


async def search_coverage(request: Request) -> Response:
    """``GET /fhir/r4/Coverage`` (required: ``patient``; CAPS, REVENUE-CYCLE 5.3)."""
    world, pairs = world_of(request), await request_pairs(request)
    query = parse_query(world, SEARCHES["Coverage"], pairs)
    pid = query.practiceid
    tests: list[Callable[[InsuranceRecord], bool]] = []
    for value in query.values("patient"):
        wanted: set[int] = set()
        for item in value.split(","):
            match = PATIENT_ID.match(item.strip().removeprefix("Patient/"))
            if match is None:
                raise invalid_fhir_request()
            if match["practice"] == pid:
                wanted.add(int(match["patient"]))
        tests.append(lambda r, w=wanted: r.patientid in w)  # type: ignore[misc]
    for value in query.values("_lastUpdated"):
        prefix, start, end = date_interval(value)
        tests.append(
            lambda r, p=prefix, s=start, e=end: compare_instant(  # type: ignore[misc]
                p, s, e, datetime.fromisoformat(r.last_updated).astimezone(UTC)
            )
        )
    hits = sorted(
        (
            r
            for r in world.insurances.all(pid)
            if r.is_coverage and all(t(r) for t in tests) and world.patient(pid, r.patientid)
        ),
        key=lambda r: (r.patientid, r.sequencenumber, r.insuranceid),
    )
    return bundle(request, "Coverage", query, pairs, hits, coverage_resource)
