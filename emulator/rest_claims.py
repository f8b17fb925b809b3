"""Claim endpoints (API-NOTES 3.7; lifecycle and adjudication in :mod:`emulator.claims`).

- ``POST /v1/{pid}/claims``: one claim outside an appointment. Required ``patientid``,
  ``departmentid``, ``supervisingproviderid``, ``claimcharges`` (a JSON array string of
  ``{procedurecode, units, icd10code1..4, unitamount?, linenote?}``); optional
  ``servicedate`` (MM/DD/YYYY, default today), ``renderingproviderid``,
  ``orderingproviderid``, ``referringproviderid``, ``primarypatientinsuranceid``,
  ``secondarypatientinsuranceid`` (default: the patient's sequence 1 and 2 insurances).
  Answers ``{"success": true, "claimids": ["…"], "errormessage": ""}`` (C2+).
- ``POST /v1/{pid}/appointments/{id}/claim``: ``claimcharges`` with every charge of a
  checked-in appointment (patient, department, provider and date are the appointment's);
  optional ``referringproviderid``; one claim per appointment [G]; same answer [G].
- ``GET /v1/{pid}/claims/{id}``: the bare claim (C2+); ``GET /v1/{pid}/claims`` with
  ``patientid``, ``departmentid``, ``providerid``, ``servicestartdate``,
  ``serviceenddate``, ``limit``, ``offset`` → ``{"claims", "totalcount", "next"?}``.
- ``POST /v1/{pid}/claims/{id}/note``: ``claimnote`` [G name]; releases a HOLD [G].

athena's rules (DOCS): one claim per call, no edit or delete (PUT/DELETE are not routed:
404), at most four diagnosis codes per charge, the patient active with at least one
insurance, the provider an active person, the department one of the practice's,
procedure codes known to the fee schedule. Every refusal is a 400 with athena's
``error`` and the ``invalidfields`` / ``missingfields`` it names [G texts].
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from emulator.claims import (
    FEE_SCHEDULE,
    ICD10,
    MAX_DIAGNOSES,
    Charge,
    ClaimRecord,
    Payer,
    canonical_code,
)
from emulator.errors import AthenaError, json_response, not_found
from emulator.form import request_params
from emulator.insurance import InsuranceRecord
from emulator.paging import PageRequest, lenient_int, paged
from emulator.records import parse_us_date
from emulator.rest_practice import practice_of, world_of
from emulator.world import EASTERN, World

INVALID = "The data provided is invalid."
REQUIRED = ("patientid", "departmentid", "supervisingproviderid", "claimcharges")


def _refuse(detail: str, *fields: str) -> AthenaError:
    return AthenaError(400, INVALID, detailedmessage=detail, invalidfields=list(fields))


def _int(params: dict[str, str], name: str) -> int | None:
    text = params.get(name, "").strip()
    return lenient_int(name, text) if text else None


def _charges(text: str) -> list[Charge]:
    """``claimcharges``: a JSON array string; athena's limits per charge."""
    try:
        rows = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _refuse("CLAIMCHARGES must be a JSON array.", "claimcharges") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise _refuse("CLAIMCHARGES must be a non-empty JSON array of charges.", "claimcharges")
    charges = []
    for index, row in enumerate(rows, start=1):
        row = {str(k).lower(): v for k, v in row.items()}
        code = str(row.get("procedurecode") or "").strip().upper()
        if code not in FEE_SCHEDULE:
            raise _refuse(
                f"Charge {index}: procedure code {code or '(none)'} is not valid per the fee"
                " schedule.",
                "claimcharges",
            )
        extra = sorted(
            k
            for k in row
            if k.startswith("icd10code") and k[9:].isdigit() and int(k[9:]) > MAX_DIAGNOSES
        )
        if extra:
            raise _refuse(
                f"Charge {index}: at most {MAX_DIAGNOSES} diagnosis codes per procedure"
                f" ({', '.join(extra).upper()} given).",
                "claimcharges",
            )  # fmt: skip
        codes = [
            str(row[f"icd10code{n}"]).strip()
            for n in range(1, MAX_DIAGNOSES + 1)
            if str(row.get(f"icd10code{n}") or "").strip()
        ]
        if not codes:
            raise _refuse(f"Charge {index}: ICD10CODE1 is required.", "claimcharges")
        bad = [c for c in codes if not ICD10.match(c.upper())]
        if bad:
            raise _refuse(f"Charge {index}: invalid ICD-10 code {bad[0]}.", "claimcharges")
        try:
            units = int(str(row.get("units") or "1"))
            amount = float(str(row.get("unitamount") or FEE_SCHEDULE[code].charge))
        except ValueError:
            raise _refuse(
                f"Charge {index}: UNITS and UNITAMOUNT are numbers.", "claimcharges"
            ) from None
        if units < 1 or amount < 0:
            raise _refuse(f"Charge {index}: UNITS must be positive.", "claimcharges")
        charges.append(
            Charge(0, code, units, [canonical_code(c) for c in codes], amount, str(row.get("linenote") or ""))
        )  # fmt: skip
    return charges


def _provider(world: World, practiceid: str, params: dict[str, str], name: str) -> int | None:
    providerid = _int(params, name)
    if providerid is None:
        return None
    row = world.provider(practiceid, providerid)
    if row is None or row.get("entitytype") != "Person" or not row.get("billable", True):
        raise _refuse(f"{name.upper()} is not an active provider.", name)
    return providerid


def _payers(world: World, practiceid: str, patientid: int, params: dict[str, str]) -> list[Payer]:
    live = [r for r in world.insurances.for_patient(practiceid, patientid) if r.is_coverage]
    if not live:
        raise _refuse(
            "The patient must have at least one insurance to create a claim.",
            "primarypatientinsuranceid",
        )
    by_sequence = {r.sequencenumber: r for r in live}
    payers: list[Payer] = []
    for role, sequence in (("primary", 1), ("secondary", 2)):
        name = f"{role}patientinsuranceid"
        given = _int(params, name)
        record: InsuranceRecord | None
        if given is None:
            record = by_sequence.get(sequence) if role == "primary" or payers else None
            if role == "primary" and record is None:
                record = sorted(live, key=lambda r: r.sequencenumber)[0]
        else:
            record = next((r for r in live if r.insuranceid == given), None)
            if record is None:
                raise _refuse(f"{name.upper()} is not an active insurance of the patient.", name)
        if record is not None and all(p.insurance is not record for p in payers):
            payers.append(Payer(role, record))
    return payers


def _service_date(world: World, params: dict[str, str]) -> datetime:
    now = world.schedule_now().astimezone(EASTERN)
    text = params.get("servicedate", "").strip()
    if not text:
        return now
    day = parse_us_date(text)
    if day is None:
        raise _refuse(f"Expecting format date, but value is {text}", "servicedate")
    if day > now.date():
        raise _refuse("SERVICEDATE cannot be in the future.", "servicedate")
    return now.replace(year=day.year, month=day.month, day=day.day)


def _patient(world: World, practiceid: str, patientid: int) -> None:
    record = world.patient(practiceid, patientid)
    if record is None:
        raise _refuse("PATIENTID is not a patient of the practice.", "patientid")
    if record.text("status") not in ("", "active"):
        raise _refuse("The patient must be active to create a claim.", "patientid")


def _created(claim: ClaimRecord) -> Response:
    return json_response({"success": True, "claimids": [str(claim.claimid)], "errormessage": ""})


async def create_claim(request: Request) -> Response:
    """``POST /v1/{pid}/claims``."""
    world, practiceid = world_of(request), practice_of(request)
    params = {k.lower(): v for k, v in (await request_params(request)).items()}
    missing = [n for n in REQUIRED if not params.get(n, "").strip()]
    if missing:
        raise AthenaError(400, "Additional fields are required.", missingfields=missing)
    patientid = _int(params, "patientid")
    assert patientid is not None
    _patient(world, practiceid, patientid)
    departmentid = _int(params, "departmentid")
    if departmentid is None or world.department(practiceid, str(departmentid)) is None:
        raise _refuse("DEPARTMENTID is not a billing department of the practice.", "departmentid")
    supervising = _provider(world, practiceid, params, "supervisingproviderid")
    assert supervising is not None
    charges = _charges(params["claimcharges"])
    payers = _payers(world, practiceid, patientid, params)
    rendering = _provider(world, practiceid, params, "renderingproviderid")
    referring = _provider(world, practiceid, params, "referringproviderid")
    ordering = _provider(world, practiceid, params, "orderingproviderid")
    served = _service_date(world, params)
    claim = ClaimRecord(
        practiceid=practiceid,
        claimid=0,
        patientid=patientid,
        departmentid=departmentid,
        supervisingproviderid=supervising,
        servicedate=served.date(),
        created=world.schedule_clock(),
        charges=charges,
        payers=payers,
        renderingproviderid=rendering,
        referringproviderid=referring,
        orderingproviderid=ordering,
    )
    return _created(world.claims.add(claim))


async def create_appointment_claim(request: Request) -> Response:
    """``POST /v1/{pid}/appointments/{id}/claim``."""
    world, practiceid = world_of(request), practice_of(request)
    appointmentid = lenient_int("appointmentid", str(request.path_params["appointmentid"]))
    appointment = world.schedule.appointment(practiceid, appointmentid)
    if appointment is None or appointment.patientid is None:
        raise not_found()
    params = {k.lower(): v for k, v in (await request_params(request)).items()}
    if not params.get("claimcharges", "").strip():
        raise AthenaError(400, "Additional fields are required.", missingfields=["claimcharges"])
    if appointment.status not in ("2", "3", "4") or appointment.encounterid is None:
        raise _refuse("Only a checked-in appointment can be billed.", "appointmentid")  # [G]
    if world.claims.for_appointment(practiceid, appointmentid) is not None:
        raise _refuse("A claim already exists for this appointment.", "appointmentid")  # [G]
    _patient(world, practiceid, appointment.patientid)
    charges = _charges(params["claimcharges"])
    payers = _payers(world, practiceid, appointment.patientid, params)
    claim = ClaimRecord(
        practiceid=practiceid,
        claimid=0,
        patientid=appointment.patientid,
        departmentid=int(appointment.departmentid),
        supervisingproviderid=appointment.providerid,
        servicedate=appointment.date,
        created=world.schedule_clock(),
        charges=charges,
        payers=payers,
        renderingproviderid=appointment.providerid,
        referringproviderid=_provider(world, practiceid, params, "referringproviderid"),
        appointmentid=appointmentid,
        encounterid=appointment.encounterid,
    )
    return _created(world.claims.add(claim))


def _claim_of(request: Request) -> tuple[World, ClaimRecord]:
    world, practiceid = world_of(request), practice_of(request)
    claimid = lenient_int("claimid", str(request.path_params["claimid"]))
    claim = world.claims.get(practiceid, claimid)
    if claim is None:
        raise not_found("The claim ID is invalid.")  # [G]
    return world, claim


async def read_claim(request: Request) -> Response:
    """``GET /v1/{pid}/claims/{id}``: the bare object."""
    _, claim = _claim_of(request)
    return json_response(claim.v1())


async def list_claims(request: Request) -> Response:
    """``GET /v1/{pid}/claims``: filtered, ordered by claim id, paged."""
    world, practiceid = world_of(request), practice_of(request)
    params = {k.lower(): v for k, v in (await request_params(request)).items()}
    filters: dict[str, Any] = {}
    for name in ("patientid", "departmentid", "providerid"):
        value = _int(params, name)
        if value is not None:
            filters[name] = value
    window = []
    for name in ("servicestartdate", "serviceenddate"):
        text = params.get(name, "").strip()
        day = parse_us_date(text) if text else None
        if text and day is None:
            raise _refuse(f"Expecting format date, but value is {text}", name)
        window.append(day)
    start, end = window
    rows = []
    for claim in sorted(world.claims.all(practiceid), key=lambda c: c.claimid):
        if "patientid" in filters and claim.patientid != filters["patientid"]:
            continue
        if "departmentid" in filters and claim.departmentid != filters["departmentid"]:
            continue
        if "providerid" in filters and claim.supervisingproviderid != filters["providerid"]:
            continue
        if (start and claim.servicedate < start) or (end and claim.servicedate > end):
            continue
        rows.append(claim.v1())
    page = PageRequest.from_params(params, world.config.default_limit, world.config.max_limit)
    pairs = [(k, v) for k, v in params.items() if k not in ("limit", "offset")]
    return json_response(paged(rows, "claims", f"/v1/{practiceid}/claims", pairs, page))


async def add_note(request: Request) -> Response:
    """``POST /v1/{pid}/claims/{id}/note``: ``claimnote``."""
    world, claim = _claim_of(request)
    params = {k.lower(): v for k, v in (await request_params(request)).items()}
    text = params.get("claimnote", "").strip()
    if not text:
        raise AthenaError(400, "Additional fields are required.", missingfields=["claimnote"])
    world.claims.add_note(claim, text, "API")
    return json_response({"success": True})
