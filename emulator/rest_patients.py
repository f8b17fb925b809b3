"""Proprietary patient endpoints (API-NOTES sections 3.3, 4.1, 4.2).

- ``GET /v1/{pid}/patients``: filters ``firstname``/``lastname`` (exact,
  case-insensitive), ``dob`` (MM/DD/YYYY), ``departmentid`` (department or
  primary department), ``status``, ``homephone``/``mobilephone`` (digits);
  ordered by patientid ascending; deleted patients never listed.
- ``GET /v1/{pid}/patients/{id}``: one-element array; ``showinsurance`` adds ``insurances``.
- ``GET /v1/{pid}/patients/enhancedbestmatch``: bare array with string ``score``.
- ``POST /v1/{pid}/patients``: ``[{"patientid": "..."}]``.
- ``PUT /v1/{pid}/patients/{id}``: ``[{"patientid": "..."}]``; ``status=deleted`` deletes.
"""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response

from emulator.errors import AthenaError, invalid, json_response
from emulator.form import request_params
from emulator.matching import BEST_MATCHES_COUNT, BEST_MATCHES_MINSCORE, DEFAULT_MINSCORE, score
from emulator.paging import lenient_int, paged
from emulator.records import STATUS_CODES, WRITABLE_FIELDS, PatientRecord, V1Value, parse_us_date
from emulator.rest_practice import page_of, practice_of, world_of
from emulator.terminology import race_name

PATIENT_NOT_FOUND = "The Patient ID or Department ID is invalid."
REQUIRED_FOR_CREATE = ("firstname", "lastname", "dob", "departmentid")
PHONES = ("homephone", "mobilephone", "workphone")


def _digits(text: str) -> str:
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def _date_param(text: str) -> date:
    parsed = parse_us_date(text)
    if parsed is None:
        raise invalid(f"Expecting format date, but value is {text}")
    return parsed


def _status(text: str) -> str:
    status = STATUS_CODES.get(text.strip().lower())
    if status is None:
        raise invalid(f"The value '{text}' did not match any of the enum values for STATUS")
    return status


def _patient_id(request: Request) -> int:
    return lenient_int("patientid", str(request.path_params["patientid"]))


async def list_patients(request: Request) -> Response:
    """``GET /v1/{practiceid}/patients`` (section 3.3)."""
    world, practiceid = world_of(request), practice_of(request)
    params = await request_params(request)
    page = page_of(request, params)
    first = params.get("firstname", "").strip().lower()
    last = params.get("lastname", "").strip().lower()
    dob = _date_param(params["dob"]) if params.get("dob", "").strip() else None
    department = (
        str(lenient_int("departmentid", params["departmentid"]))
        if params.get("departmentid")
        else ""
    )
    status = _status(params["status"]) if params.get("status", "").strip() else ""
    phones = {k: _digits(params[k]) for k in ("homephone", "mobilephone") if params.get(k)}
    rows = []
    for record in world.live_patients(practiceid):
        if first and record.text("firstname").lower() != first:
            continue
        if last and record.text("lastname").lower() != last:
            continue
        if dob is not None and parse_us_date(record.text("dob")) != dob:
            continue
        if department and department not in {
            record.text("departmentid"),
            record.text("primarydepartmentid"),
        }:
            continue
        if status and record.text("status") != status:
            continue
        if any(_digits(record.text(k)) != v for k, v in phones.items()):
            continue
        rows.append(record)
    body = paged(rows, "patients", f"/v1/{practiceid}/patients", params, page)
    body["patients"] = [r.v1() for r in body["patients"]]
    return json_response(body)


async def read_patient(request: Request) -> Response:
    """``GET /v1/{practiceid}/patients/{patientid}``: a one-element array (section 3.3)."""
    world, practiceid = world_of(request), practice_of(request)
    params = await request_params(request)
    record = world.patient(practiceid, _patient_id(request))
    if record is None:
        raise AthenaError(404, PATIENT_NOT_FOUND)
    if params.get("departmentid"):
        wanted = str(lenient_int("departmentid", params["departmentid"]))
        if wanted not in {record.text("departmentid"), record.text("primarydepartmentid")}:
            message = "The specified patient does not exist in that department."
            raise AthenaError(404, message, detailedmessage=message)
    body = record.v1()
    if params.get("showinsurance", "").strip().lower() in {"true", "1", "y"}:
        # The patient's active insurances, as GET .../insurances lists them (section 3.3).
        rows = world.insurances.for_patient(practiceid, record.patientid)
        body["insurances"] = [row.v1() for row in rows]
    return json_response([body])


async def best_match(request: Request) -> Response:
    """``GET /v1/{practiceid}/patients/enhancedbestmatch`` (section 3.3; scoring in matching)."""
    world, practiceid = world_of(request), practice_of(request)
    params = await request_params(request)
    missing = [
        name for name in ("firstname", "lastname", "dob") if not params.get(name, "").strip()
    ]
    if missing:
        raise AthenaError(400, "Additional fields are required.", missingfields=missing)
    dob = _date_param(params["dob"])
    best = params.get("returnbestmatches", "").strip().lower() in {"true", "1", "y"}
    threshold = BEST_MATCHES_MINSCORE if best else DEFAULT_MINSCORE
    if params.get("minscore", "").strip():
        threshold = lenient_int("minscore", params["minscore"])
    department = params.get("departmentid", "").strip()
    scored: list[tuple[int, PatientRecord]] = []
    for record in world.live_patients(practiceid):
        if department and department not in {
            record.text("departmentid"),
            record.text("primarydepartmentid"),
        }:
            continue
        points = score(record, params, dob)
        if points >= threshold:
            scored.append((points, record))
    scored.sort(key=lambda pair: (-pair[0], pair[1].patientid))
    if best:
        scored = scored[:BEST_MATCHES_COUNT]
    # athena quirk: a bare array, and ``score`` is a string.
    return json_response([{**record.v1(), "score": str(points)} for points, record in scored])


def _changes(request: Request, params: dict[str, str], practiceid: str) -> dict[str, V1Value]:
    """Validated, normalised field changes from a create/update request."""
    world = world_of(request)
    changes: dict[str, V1Value] = {}
    for name in WRITABLE_FIELDS:
        if name not in params:
            continue
        value = params[name].strip()
        if name == "dob" and value:
            parsed = parse_us_date(value)
            if parsed is None or parsed > date.fromtimestamp(world.clock()) or parsed.year < 1880:
                raise AthenaError(400, "Improper DOB.")
        if name in PHONES:
            value = _digits(value)
        if name == "deceaseddate" and value and parse_us_date(value) is None:
            raise invalid(f"Expecting format date, but value is {value}")
        if name in {"departmentid", "primarydepartmentid"} and value:
            value = str(lenient_int(name, value))
            if value not in {d["departmentid"] for d in world.departments[practiceid]}:
                raise AthenaError(
                    400, "The data provided is invalid.", invalidfields=[name], missingfields=[]
                )
        if name == "primaryproviderid" and value:
            value = str(lenient_int(name, value))
        if name in {"sex", "assignedsexatbirth"} and value:
            value = value.upper()[:1]
            if value not in {"M", "F", "U", "N"}:
                raise invalid(
                    f"The value '{params[name]}' did not match any of the enum values for {name.upper()}"
                )
        if name == "status" and value:
            value = _status(value)
        if name == "race":
            codes = [code for code in value.replace("\t", ",").replace(" ", ",").split(",") if code]
            changes["race"] = codes
            changes["racename"] = race_name(codes) if codes else ""
            continue
        changes[name] = value
    return changes


async def create_patient(request: Request) -> Response:
    """``POST /v1/{practiceid}/patients`` (section 3.3)."""
    world, practiceid = world_of(request), practice_of(request)
    params = await request_params(request)
    missing = [name for name in REQUIRED_FOR_CREATE if not params.get(name, "").strip()]
    if missing:
        raise AthenaError(
            400, "Additional fields are required.", invalidfields=[], missingfields=missing
        )
    if not any(params.get(phone, "").strip() for phone in PHONES):
        # The DOCS scheduling workflow requires one phone number [G on the body].
        raise AthenaError(
            400,
            "Additional fields are required.",
            detailedmessage="At least one phone number (homephone, mobilephone or workphone) is required.",
            invalidfields=[],
            missingfields=list(PHONES),
        )
    changes = _changes(request, params, practiceid)
    if params.get("bypasspatientmatching", "").strip().lower() not in {"true", "1", "y"}:
        # [G] with patient matching on, a duplicate returns the existing patientid.
        for record in world.live_patients(practiceid):
            if (
                record.text("firstname").lower() == str(changes["firstname"]).lower()
                and record.text("lastname").lower() == str(changes["lastname"]).lower()
                and parse_us_date(record.text("dob")) == parse_us_date(str(changes["dob"]))
            ):
                return json_response([{"patientid": str(record.patientid)}])
    changes.setdefault("status", "active")
    changes.setdefault("primarydepartmentid", changes["departmentid"])
    if changes.get("address1") or changes.get("zip"):
        changes.setdefault("countrycode", "USA")
        changes.setdefault("countrycode3166", "US")
    record = world.add_patient(practiceid, {k: v for k, v in changes.items() if v not in ("", [])})
    return json_response([{"patientid": str(record.patientid)}])


async def update_patient(request: Request) -> Response:
    """``PUT /v1/{practiceid}/patients/{patientid}``; ``status=deleted`` deletes (section 3.3)."""
    world, practiceid = world_of(request), practice_of(request)
    params = await request_params(request)
    record = world.patient(practiceid, _patient_id(request))
    if record is None:
        raise AthenaError(404, PATIENT_NOT_FOUND)
    changes = _changes(request, params, practiceid)
    for name in ("firstname", "lastname", "dob", "departmentid", "status"):
        if changes.get(name) == "":
            raise AthenaError(400, "Additional fields are required.", missingfields=[name])
    world.update_patient(record, changes)
    return json_response([{"patientid": str(record.patientid)}])
