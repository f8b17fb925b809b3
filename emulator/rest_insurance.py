"""Proprietary patient-insurance and insurance-package endpoints (API-NOTES 3.4, 4.1, 4.2).

- ``GET /v1/{pid}/patients/{id}/insurances``: ``{"insurances": [...], "totalcount"}``,
  ``showcancelled``, ``limit``/``offset`` paging.
- ``POST /v1/{pid}/patients/{id}/insurances``: form fields; a one-element array
  with the created insurance (GO, NET recordings).
- ``PUT /v1/{pid}/patients/{id}/insurances/{iid}``: edits (member id, group
  number, dates, policy holder, ``relationshiptoinsuredid``, ``newsequencenumber``);
  ``{"success": true, "message": ""}`` (GO). A different ``insurancepackageid``
  is refused: athena wants delete + post.
- ``DELETE`` the same path: cancels (optional ``cancellationnote``); same body.
- ``GET /v1/{pid}/insurancepackages``: ``insuranceplanname`` (words matched in
  plan name, ircname or affiliations) and/or ``memberid`` (member-id prefix),
  ``stateofcoverage``; ``{"insurances": [{insurancepackageid, insuranceplanname,
  affiliations, addresslist}], "totalcount"}`` (NET ``Search.json``).
- ``GET /v1/{pid}/misc/topinsurancepackages``: the practice's most used
  primaries, ranked, with string ids and percentages (NET ``GetTop.json``).

Required on POST [G, from what GO always sends]: ``insurancepackageid``,
``sequencenumber``; unless self-pay also ``insuranceidnumber`` and the policy
holder's first name, last name and sex.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.eligibility import settle_patient
from emulator.errors import AthenaError, invalid, json_response, not_found
from emulator.form import request_params
from emulator.insurance import RELATIONSHIPS, WRITABLE, InsuranceRecord
from emulator.insurance_catalog import PACKAGES, InsurancePackage
from emulator.paging import lenient_int, paged
from emulator.records import PatientRecord, parse_us_date
from emulator.rest_patients import PATIENT_NOT_FOUND
from emulator.rest_practice import page_of, practice_of, world_of

DATE_FIELDS = ("issuedate", "expirationdate", "insurancepolicyholderdob")
HOLDER_REQUIRED = (
    "insuranceidnumber",
    "insurancepolicyholderfirstname",
    "insurancepolicyholderlastname",
    "insurancepolicyholdersex",
)
SUCCESS = {"success": True, "message": ""}
TOP_COUNT = 10  # [G] how many packages topinsurancepackages ranks


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"true", "1", "y", "yes"}


def patient_of(request: Request) -> PatientRecord:
    world, practiceid = world_of(request), practice_of(request)
    patientid = lenient_int("patientid", str(request.path_params["patientid"]))
    record = world.patient(practiceid, patientid)
    if record is None:
        raise AthenaError(404, PATIENT_NOT_FOUND)
    return record


def insurance_of(request: Request, patient: PatientRecord) -> InsuranceRecord:
    """The path's insurance of that patient (cancelled ones included); 404 otherwise."""
    insuranceid = lenient_int("insuranceid", str(request.path_params["insuranceid"]))
    record = world_of(request).insurances.get(patient.practiceid, insuranceid)
    if record is None or record.patientid != patient.patientid:
        raise not_found()
    return record


def _package_param(text: str) -> InsurancePackage:
    pkg = PACKAGES.get(lenient_int("insurancepackageid", text))
    if pkg is None:
        raise AthenaError(
            400,
            "The data provided is invalid.",
            detailedmessage=f"Invalid insurance package ID: {text.strip()}.",  # [G] text
            invalidfields=["insurancepackageid"],
        )
    return pkg


def _sequence_param(name: str, text: str) -> int:
    value = lenient_int(name, text)
    if value not in {1, 2, 3}:
        raise invalid(f"The value '{text}' did not match any of the enum values for {name.upper()}")
    return value


def _relationship_param(text: str) -> int:
    value = lenient_int("relationshiptoinsuredid", text)
    if value not in RELATIONSHIPS:
        raise invalid(
            f"The value '{text}' did not match any of the enum values for RELATIONSHIPTOINSUREDID"
        )
    return value


def _check_dates(issued_text: str, expires_text: str) -> None:
    issued, expires = parse_us_date(issued_text), parse_us_date(expires_text)
    if issued and expires and expires < issued:
        raise invalid("The expiration date is before the issue date.")  # [G] text


def _changes(params: dict[str, str]) -> dict[str, str]:
    """Validated WRITABLE fields present in the request ("" clears a field on PUT)."""
    out: dict[str, str] = {}
    for name in WRITABLE:
        if name not in params:
            continue
        value = params[name].strip()
        if name in DATE_FIELDS and value and parse_us_date(value) is None:
            raise invalid(f"Expecting format date, but value is {value}")
        if name == "insurancepolicyholdersex" and value:
            value = value.upper()[:1]
            if value not in {"M", "F", "U", "N"}:
                raise invalid(
                    f"The value '{params[name]}' did not match any of the enum values for "
                    "INSURANCEPOLICYHOLDERSEX"
                )
        if name.startswith("insurancepolicyholder") and name not in {
            "insurancepolicyholderdob",
            "insurancepolicyholdersex",
        }:
            value = value.upper()
        out[name] = value
    _check_dates(out.get("issuedate", ""), out.get("expirationdate", ""))
    return out


async def list_insurances(request: Request) -> Response:
    """``GET /v1/{practiceid}/patients/{patientid}/insurances`` (section 3.4)."""
    world, patient = world_of(request), patient_of(request)
    params = await request_params(request)
    rows = world.insurances.for_patient(
        patient.practiceid, patient.patientid, cancelled=_truthy(params.get("showcancelled"))
    )
    settle_patient(world, patient.practiceid, rows)
    path = f"/v1/{patient.practiceid}/patients/{patient.patientid}/insurances"
    body = paged(rows, "insurances", path, params, page_of(request, params))
    body["insurances"] = [r.v1() for r in body["insurances"]]
    return json_response(body)


async def create_insurance(request: Request) -> Response:
    """``POST /v1/{practiceid}/patients/{patientid}/insurances`` (section 3.4)."""
    world, patient = world_of(request), patient_of(request)
    params = await request_params(request)
    missing = [n for n in ("insurancepackageid", "sequencenumber") if not params.get(n, "").strip()]
    if missing:
        raise AthenaError(
            400, "Additional fields are required.", invalidfields=[], missingfields=missing
        )
    pkg = _package_param(params["insurancepackageid"])
    sequence = _sequence_param("sequencenumber", params["sequencenumber"])
    relationship = 1
    if params.get("relationshiptoinsuredid", "").strip():
        relationship = _relationship_param(params["relationshiptoinsuredid"])
    fields = _changes(params)
    if pkg.is_insurance:
        missing = [n for n in HOLDER_REQUIRED if not fields.get(n)]
        if missing:
            raise AthenaError(
                400, "Additional fields are required.", invalidfields=[], missingfields=missing
            )
        fields.setdefault("insurancepolicyholdercountrycode", "USA")
        fields.setdefault("insurancepolicyholdercountryiso3166", "US")
    record = world.insurances.add(
        patient.practiceid,
        patient.patientid,
        pkg,
        sequence,
        relationship,
        fields,
        world.now_instant(),
    )
    return json_response([record.v1()])


async def update_insurance(request: Request) -> Response:
    """``PUT /v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}`` (section 3.4)."""
    world, patient = world_of(request), patient_of(request)
    record = insurance_of(request, patient)
    if not record.active:
        raise not_found()
    params = await request_params(request)
    if params.get("insurancepackageid", "").strip():
        wanted = lenient_int("insurancepackageid", params["insurancepackageid"])
        if wanted != record.packageid:
            # athena quirk: a package never changes; DOCS say delete it and post a new one.
            raise AthenaError(
                400,
                "The data provided is invalid.",
                detailedmessage=(
                    "The insurance package of an existing insurance cannot be changed. "
                    "Delete the insurance and add a new one."
                ),  # [G] text
                invalidfields=["insurancepackageid"],
            )
    changes = _changes(params)
    _check_dates(
        changes.get("issuedate", record.text("issuedate")),
        changes.get("expirationdate", record.text("expirationdate")),
    )
    if record.package.is_insurance:
        cleared = [n for n in HOLDER_REQUIRED if n in changes and not changes[n]]
        if cleared:
            raise AthenaError(400, "Additional fields are required.", missingfields=cleared)
    relationship = None
    if params.get("relationshiptoinsuredid", "").strip():
        relationship = _relationship_param(params["relationshiptoinsuredid"])
    new_sequence = None
    if params.get("newsequencenumber", "").strip():
        new_sequence = _sequence_param("newsequencenumber", params["newsequencenumber"])
    world.insurances.update(record, changes, relationship, new_sequence, world.now_instant())
    return json_response(SUCCESS)


async def delete_insurance(request: Request) -> Response:
    """``DELETE /v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}``: cancels it."""
    world, patient = world_of(request), patient_of(request)
    record = insurance_of(request, patient)
    if not record.active:
        raise not_found()
    params = await request_params(request)
    world.insurances.cancel(
        record, world.now_us_date(), params.get("cancellationnote", "").strip(), world.now_instant()
    )
    return json_response(SUCCESS)


def _package_row(pkg: InsurancePackage) -> dict[str, Any]:
    return {
        "insurancepackageid": pkg.insurancepackageid,
        "insuranceplanname": pkg.insuranceplanname,
        "affiliations": list(pkg.affiliations),
        "addresslist": [pkg.address_line()] if pkg.address1 else [],
    }


async def search_packages(request: Request) -> Response:
    """``GET /v1/{practiceid}/insurancepackages`` (section 3.4)."""
    practiceid = practice_of(request)
    params = await request_params(request)
    name = params.get("insuranceplanname", "").strip().lower()
    member = params.get("memberid", "").strip().upper()
    state = params.get("stateofcoverage", "").strip().upper()
    if not name and not member:
        raise AthenaError(
            400,
            "Additional fields are required.",
            detailedmessage="Either insuranceplanname or memberid is required.",  # [G]
            missingfields=["insuranceplanname"],
        )
    rows = []
    for _, pkg in sorted(PACKAGES.items()):
        if not pkg.is_insurance:
            continue
        words = " ".join([pkg.insuranceplanname, pkg.ircname, *pkg.affiliations]).lower()
        if name and not all(word in words for word in name.split()):
            continue
        if member and not (pkg.member_prefix and member.startswith(pkg.member_prefix)):
            continue
        if state and pkg.states and state not in pkg.states:
            continue
        rows.append(_package_row(pkg))
    path = f"/v1/{practiceid}/insurancepackages"
    return json_response(paged(rows, "insurances", path, params, page_of(request, params)))


async def top_packages(request: Request) -> Response:
    """``GET /v1/{practiceid}/misc/topinsurancepackages``: ranked by share of primaries."""
    world, practiceid = world_of(request), practice_of(request)
    params = await request_params(request)
    counts = Counter(
        r.packageid for r in world.insurances.all(practiceid) if r.active and r.sequencenumber == 1
    )
    total = sum(counts.values()) or 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_COUNT]
    rows, rank, previous = [], 0, -1
    for position, (packageid, count) in enumerate(ranked, start=1):
        if count != previous:  # athena quirk: ties share a ranking (NET GetTop.json)
            rank, previous = position, count
        pkg = PACKAGES[packageid]
        row: dict[str, Any] = {
            "ranking": str(rank),
            "name": pkg.insuranceplanname,
            "percentage": repr(100 * count / total),
            "insurancepackageid": str(packageid),
        }
        if pkg.is_insurance:
            row.update(
                insuranceproducttypename=pkg.producttype,
                address=pkg.address1,
                city=pkg.city,
                state=pkg.state,
                zip=pkg.zip,
                phone=pkg.phone,
            )
        rows.append(row)
    path = f"/v1/{practiceid}/misc/topinsurancepackages"
    return json_response(paged(rows, "insurancepackages", path, params, page_of(request, params)))
