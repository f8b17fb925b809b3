"""Patient tools: search patients; a bounded summary of one patient (FHIR Patient, Appointment,
Encounter through the engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from facade.engine import reads
from facade.errors import Forbidden, InvalidRequest
from facade.mcp.query import Count, Cursor, PatientId, more, page, patient_id
from facade.mcp.render import (
    appointment_line,
    appointment_row,
    encounter_line,
    encounter_row,
    patient_line,
    patient_row,
)
from facade.mcp.tool import Arguments, Hints, ToolCall, ToolResult, tool

Json = dict[str, Any]
UPCOMING = "booked,arrived,checked-in"


class SearchPatients(Arguments):
    name: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=100,
            description="Name or its start (family or given; case and accents ignored).",
        ),
    ] = None
    birth_date: Annotated[
        str | None,
        Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="Date of birth, YYYY-MM-DD."),
    ] = None
    identifier: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=120,
            description="An identifier: the athena patient id (e.g. 60178) or system|value.",
        ),
    ] = None
    count: Count = 20
    cursor: Cursor = None


@tool(
    "search_patients",
    title="Search patients",
    arguments=SearchPatients,
    hints=Hints(read_only=True),
)
async def search_patients(call: ToolCall, args: SearchPatients) -> ToolResult:
    """Find patients by name, date of birth and/or identifier (give at least one; several
    narrow the match). Answers each patient's FHIR id (what the other tools take as
    patient_id), name, birth date, gender and identifiers, at most `count` per page; pass
    `cursor` for the next page. A token limited to one patient only ever finds that patient."""
    items = [
        (name, value)
        for name, value in (
            ("name", args.name),
            ("birthdate", args.birth_date),
            ("identifier", args.identifier),
        )
        if value
    ]
    if not items:
        raise InvalidRequest("Give a name, a birth_date or an identifier")
    found = await page(call, "Patient", items, count=args.count, cursor=args.cursor)
    rows = [patient_row(p) for p in found.resources]
    text = f"{len(rows)} patient(s)" + (": " if rows else ".")
    text += "; ".join(patient_line(r) for r in rows) + more(found.next_cursor)
    return ToolResult(
        text, {"patients": rows, "next_cursor": found.next_cursor, "total": found.total}
    )


class PatientSummary(Arguments):
    patient_id: PatientId
    appointments: Annotated[
        int, Field(ge=0, le=20, description="How many upcoming appointments (0-20, default 5).")
    ] = 5
    encounters: Annotated[
        int, Field(ge=0, le=20, description="How many recent encounters (0-20, default 5).")
    ] = 5


@tool(
    "get_patient_summary",
    title="Patient summary",
    arguments=PatientSummary,
    hints=Hints(read_only=True),
)
async def get_patient_summary(call: ToolCall, args: PatientSummary) -> ToolResult:
    """One patient at a glance: demographics (name, birth date, gender, identifiers, phone,
    city), the next upcoming appointments (booked or arrived, soonest first) and the most
    recent encounters of the last year (newest first), each list bounded by its argument. Use it after
    search_patients to orient yourself; list_appointments and list_encounters give more.
    A section the access token may not see says so in `*_error` instead of failing."""
    pid = patient_id(args.patient_id)
    patient = (await reads.read(call.services, call.auth, "Patient", pid)).resource
    data: Json = {"patient": patient_row(patient)}
    lines = [f"Patient {patient_line(data['patient'])}."]
    if args.appointments:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            found = await page(
                call,
                "Appointment",
                [("patient", f"Patient/{pid}"), ("date", f"ge{now}"), ("status", UPCOMING)],
                count=100,
            )
            upcoming = sorted(found.resources, key=lambda a: str(a.get("start", "")))
            rows = [appointment_row(a) for a in upcoming[: args.appointments]]
            data["upcoming_appointments"] = rows
            lines.append(
                f"Upcoming appointments: {len(rows)}"
                + "".join(f"\n- {appointment_line(r)}" for r in rows)
            )
        except Forbidden as exc:
            data["appointments_error"] = exc.diagnostics
    if args.encounters:
        try:
            # athena lists a patient's encounters oldest first: ask for the last year's
            # (the local date filter reads on), else whatever comes first
            year_ago = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
            found = await page(
                call,
                "Encounter",
                [("patient", f"Patient/{pid}"), ("date", f"ge{year_ago}")],
                count=100,
            )
            if not found.resources:
                found = await page(call, "Encounter", [("patient", f"Patient/{pid}")], count=100)
            recent = sorted(
                found.resources,
                key=lambda e: str((e.get("period") or {}).get("start", "")),
                reverse=True,
            )
            rows = [encounter_row(e) for e in recent[: args.encounters]]
            data["recent_encounters"] = rows
            lines.append(
                f"Recent encounters: {len(rows)}"
                + "".join(f"\n- {encounter_line(r)}" for r in rows)
            )
        except Forbidden as exc:
            data["encounters_error"] = exc.diagnostics
    return ToolResult("\n".join(lines), data)
