"""Scheduling tools: find open slots (``Appointment/$find``) and book one (``Appointment/$book``),
both through the engine's operation dispatch (facade/workflows/scheduling.py); a booking
goes through the write path with an idempotency key derived from the tool call."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from facade.engine import operations
from facade.engine.operations import OperationCall
from facade.errors import InvalidRequest
from facade.mcp.query import (
    MAX_COUNT,
    Count,
    Cursor,
    DateOrTime,
    PatientId,
    checked,
    confine,
    displays,
    patient_id,
    typed_reference,
)
from facade.mcp.render import appointment_line, appointment_row, proposal_line, proposal_row
from facade.mcp.tool import Arguments, Hints, ToolCall, ToolResult, tool

Json = dict[str, Any]
OFFSET = "offset:"


class FindSlots(Arguments):
    date_from: Annotated[DateOrTime, Field(description="Start of the window (inclusive).")]
    date_to: Annotated[DateOrTime, Field(description="End of the window (inclusive).")]
    practitioner_id: Annotated[
        str | None,
        Field(max_length=80, description="Only this practitioner, e.g. a-195900.Provider-1."),
    ] = None
    location_id: Annotated[
        str | None,
        Field(max_length=80, description="Only this location, e.g. a-195900.Department-1."),
    ] = None
    visit_type: Annotated[
        str | None,
        Field(
            max_length=40,
            description="Only this visit (appointment) type: its code from a previous answer's "
            "visit_type.code, e.g. 82.",
        ),
    ] = None
    patient_id: Annotated[PatientId | None, Field(description="Whom the visit is for.")] = None
    count: Count = 20
    cursor: Cursor = None


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    value = cursor.removeprefix(OFFSET)
    if not cursor.startswith(OFFSET) or not value.isdigit():
        raise InvalidRequest("cursor is not a next_cursor of find_open_slots")
    return int(value)


@tool(
    "find_open_slots",
    title="Find open appointment slots",
    arguments=FindSlots,
    hints=Hints(read_only=True),
)
async def find_open_slots(call: ToolCall, args: FindSlots) -> ToolResult:
    """Find free appointment times between date_from and date_to, optionally for one
    practitioner, one location and/or one visit type. Each result is a proposed
    appointment: its appointment_id is what book_appointment takes, with start, end,
    practitioner, location and visit type. athena offers slots from 24 hours ahead up to
    90 days; the first 100 free slots of the window are considered (narrow the window
    for more), at most `count` per page, `cursor` for the next page."""
    params = [("start", args.date_from), ("end", args.date_to), ("_count", str(MAX_COUNT))]
    if args.practitioner_id:
        params.append(("practitioner", typed_reference("Practitioner", args.practitioner_id)))
    if args.location_id:
        params.append(("location-reference", typed_reference("Location", args.location_id)))
    if args.visit_type:
        params.append(("visit-type", args.visit_type))
    if args.patient_id:
        params.append(
            ("patient-reference", f"Patient/{confine(call, 'Appointment', args.patient_id)}")
        )
    outcome = await operations.invoke(
        call.services, call.auth, OperationCall("Appointment", "find", "GET", params=params)
    )
    proposals = [e["resource"] for e in checked(outcome).get("entry", [])]
    start = _offset(args.cursor)
    rows = [proposal_row(p) for p in proposals[start : start + args.count]]
    names = await displays(
        call, {r[k] for r in rows for k in ("practitioner", "location") if r.get(k)}
    )
    for row in rows:
        for kind in ("practitioner", "location"):
            if row.get(kind) in names:
                row[f"{kind}_name"] = names[row[kind]]
    following = start + args.count
    next_cursor = f"{OFFSET}{following}" if following < len(proposals) else None
    text = f"{len(rows)} open slot(s)" + "".join(f"\n- {proposal_line(r)}" for r in rows)
    if next_cursor:
        text += " More results: call again with cursor=next_cursor."
    return ToolResult(text, {"slots": rows, "next_cursor": next_cursor})


class BookAppointment(Arguments):
    appointment_id: Annotated[
        str,
        Field(
            pattern=r"^(Appointment/)?a-\d+\.Appointment-\d+$",
            description="appointment_id of a find_open_slots result.",
        ),
    ]
    patient_id: PatientId
    comment: Annotated[str | None, Field(max_length=500, description="A note for the booking.")] = (
        None
    )


@tool(
    "book_appointment",
    title="Book an appointment",
    arguments=BookAppointment,
    hints=Hints(read_only=False, destructive=False, idempotent=False),
)
async def book_appointment(call: ToolCall, args: BookAppointment) -> ToolResult:
    """Book an open slot found with find_open_slots for a patient: give the slot's
    appointment_id and the patient_id. Answers the booked appointment (id, status booked,
    start, end, practitioner, location). A slot someone else took meanwhile is an error
    (find another). Sending the same request again (a retry) books once; if an answer was
    lost, list_appointments shows whether the booking happened. Needs write access to
    appointments; a token limited to one patient can only book for that patient."""
    reference = typed_reference("Appointment", args.appointment_id)
    parameters: list[Json] = [
        {"name": "appt-id", "valueUri": reference},
        {"name": "patient-id", "valueUri": f"Patient/{patient_id(args.patient_id)}"},
    ]
    if args.comment:
        parameters.append({"name": "comment", "valueString": args.comment})
    body = {"resourceType": "Parameters", "parameter": parameters}
    outcome = await operations.invoke(
        call.services,
        call.auth,
        OperationCall("Appointment", "book", "POST", body=body, key=call.idempotency_key(args)),
    )
    booked = checked(outcome)["entry"][0]["resource"]
    row = appointment_row(booked)
    return ToolResult(f"Booked: {appointment_line(row)}", {"appointment": row})
