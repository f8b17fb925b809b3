"""Proprietary chart endpoints: encounters and encounter diagnoses
(API-NOTES sections 3.6, 4.1, 6.2; section 7 item 20).

- ``GET /chart/{patientid}/encounters?departmentid=`` (required):
  ``{"encounters": [...], "totalcount"}``; encounters of the department's chart
  sharing group [G]; optional ``providerid``, ``startdate``/``enddate``;
  encounters whose check-in was cancelled are left out [G].
- ``GET /chart/encounter/{id}``: a one-element array.
- ``GET /chart/encounters/{id}/summary`` (plural!): ``{"summaryhtml": "<html>..."}``.
- ``GET|POST /chart/encounter/{id}/diagnoses``: a bare array / ``{"success": true, ...}``.
"""

from __future__ import annotations

import html
import re

from starlette.requests import Request
from starlette.responses import Response

from emulator.catalog import ENCOUNTER_CLASSES, snomed_concept_valid
from emulator.errors import AthenaError, invalid, json_response, not_found
from emulator.paging import lenient_int, paged
from emulator.records import parse_us_date, us_date
from emulator.rest_appointments import lower_pairs
from emulator.rest_practice import page_of, practice_of, world_of
from emulator.visits import EncounterRecord
from emulator.world import World

ICD10 = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")


def _encounter(request: Request) -> tuple[World, EncounterRecord]:
    world, practiceid = world_of(request), practice_of(request)
    encounterid = lenient_int("encounterid", str(request.path_params["encounterid"]))
    record = world.schedule.encounter(practiceid, encounterid)
    if record is None:
        raise not_found()
    return world, record


async def patient_encounters(request: Request) -> Response:
    """``GET /v1/{practiceid}/chart/{patientid}/encounters`` (section 3.6)."""
    world, practiceid = world_of(request), practice_of(request)
    params = dict(await lower_pairs(request))
    if not params.get("departmentid", "").strip():
        raise AthenaError(400, "Additional fields are required.", missingfields=["departmentid"])
    departmentid = str(lenient_int("departmentid", params["departmentid"]))
    department = world.department(practiceid, departmentid)
    if department is None:
        raise AthenaError(404, "The Patient ID or Department ID is invalid.")
    patientid = lenient_int("patientid", str(request.path_params["patientid"]))
    if world.patient(practiceid, patientid) is None:
        raise AthenaError(404, "The Patient ID or Department ID is invalid.")
    group = department["chartsharinggroupid"]
    shared = {
        d["departmentid"]
        for d in world.departments[practiceid]
        if d["chartsharinggroupid"] == group
    }
    providerid = (
        lenient_int("providerid", params["providerid"])
        if params.get("providerid", "").strip()
        else None
    )
    bounds = []
    for name in ("startdate", "enddate"):
        text = params.get(name, "").strip()
        parsed = parse_us_date(text) if text else None
        if text and parsed is None:
            raise invalid(f"Expecting format date, but value is {text}")
        bounds.append(parsed)
    rows = sorted(
        (
            e
            for e in world.schedule.all_encounters(practiceid)
            if e.patientid == patientid
            and e.departmentid in shared
            and not e.cancelled
            and (providerid is None or e.providerid == providerid)
            and (bounds[0] is None or e.encounterdate >= bounds[0])
            and (bounds[1] is None or e.encounterdate <= bounds[1])
        ),
        key=lambda e: (e.encounterdate, e.encounterid),
    )
    path = f"/v1/{practiceid}/chart/{patientid}/encounters"
    body = paged(rows, "encounters", path, params, page_of(request, params))
    body["encounters"] = [e.v1() for e in body["encounters"]]
    return json_response(body)


async def read_encounter(request: Request) -> Response:
    """``GET /v1/{practiceid}/chart/encounter/{id}``: a one-element array (section 3.6)."""
    _, record = _encounter(request)
    return json_response([record.v1()])


def summary_html(world: World, record: EncounterRecord) -> str:
    """A small, self-contained visit summary in HTML [G content]."""
    patient = world.patient(record.practiceid, record.patientid)
    provider = world.provider(record.practiceid, record.providerid)
    department = world.department(record.practiceid, record.departmentid)
    name = f"{patient.text('firstname')} {patient.text('lastname')}" if patient else "Unknown"
    rows = [
        ("Patient", name),
        ("Date", us_date(record.encounterdate)),
        ("Visit", record.visitname),
        ("Provider", provider["displayname"] if provider else str(record.providerid)),
        ("Department", department["patientdepartmentname"] if department else ""),
        ("Status", f"{record.status} / {record.stage}"),
        ("Mode", ENCOUNTER_CLASSES.get(record.enc_class or "", "unknown")),
    ]
    if record.reason:
        rows.append(("Reason for visit", record.reason[1]))
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    items = "".join(
        f"<li>{html.escape(d.description)} ({html.escape(', '.join(c for c, _ in d.icd10))})</li>"
        for d in record.diagnoses
    )
    return (
        "<html><head><title>Encounter Summary</title></head><body>"
        f"<h1>Encounter Summary</h1><table>{table}</table>"
        f"<h2>Assessment</h2><ul>{items}</ul></body></html>"
    )


async def encounter_summary(request: Request) -> Response:
    """``GET /v1/{practiceid}/chart/encounters/{id}/summary`` (plural path, section 3.6)."""
    world, record = _encounter(request)
    return json_response({"summaryhtml": summary_html(world, record)})


async def encounter_diagnoses(request: Request) -> Response:
    """``GET /v1/{practiceid}/chart/encounter/{id}/diagnoses``: a bare array (section 4.1)."""
    _, record = _encounter(request)
    return json_response([d.v1() for d in record.diagnoses])


async def add_diagnosis(request: Request) -> Response:
    """``POST /v1/{practiceid}/chart/encounter/{id}/diagnoses`` (section 3.6)."""
    world, record = _encounter(request)
    params = dict(await lower_pairs(request))
    snomed = params.get("snomedcode", "").strip()
    if not snomed:
        raise AthenaError(400, "Additional fields are required.", missingfields=["snomedcode"])
    if not snomed_concept_valid(snomed):
        raise invalid("SNOMED code not valid.")
    codes = [c.strip().upper() for c in params.get("icd10codes", "").split(",") if c.strip()]
    bad = [c for c in codes if not ICD10.match(c)]
    if bad:
        # [G] athena's exact text for a bad ICD-10 code is unknown.
        raise invalid(f"ICD10 code not valid: {bad[0]}")
    codes = [c if "." in c or len(c) <= 3 else f"{c[:3]}.{c[3:]}" for c in codes]
    diagnosis = world.schedule.add_diagnosis(record, snomed, codes, params.get("note", "").strip())
    row = diagnosis.v1()
    return json_response(
        {
            "success": True,
            "diagnosisid": row["diagnosisid"],
            "snomedcode": row["snomedcode"],
            "icdcodes": row["icdcodes"],
            "ranking": row["ranking"],
        }
    )
