"""Appointment tools: list appointments; cancel one (the engine's update write path)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from facade.engine import writes
from facade.mcp.query import (
    Count,
    Cursor,
    DateOrTime,
    PatientId,
    bounds,
    checked,
    confine,
    more,
    page,
    typed_reference,
)
from facade.mcp.render import appointment_line, appointment_row
from facade.mcp.tool import Arguments, Hints, ToolCall, ToolResult, tool

Status = Literal["booked", "arrived", "checked-in", "fulfilled", "cancelled", "noshow"]
AppointmentId = Annotated[
    str,
    Field(
        pattern=r"^(Appointment/)?a-\d+\.Appointment-\d+$",
        description="FHIR Appointment id, e.g. a-195900.Appointment-1002436.",
    ),
]


class ListAppointments(Arguments):
    patient_id: PatientId | None = None
    date_from: Annotated[DateOrTime | None, Field(description="Earliest start (inclusive).")] = None
    date_to: Annotated[DateOrTime | None, Field(description="Latest start (inclusive).")] = None
    status: Annotated[
        list[Status] | None,
        Field(max_length=6, description="Only these statuses (any of them)."),
    ] = None
    practitioner_id: Annotated[
        str | None,
        Field(max_length=80, description="Practitioner id, e.g. a-195900.Provider-1."),
    ] = None
    location_id: Annotated[
        str | None,
        Field(max_length=80, description="Location (department) id, e.g. a-195900.Department-1."),
    ] = None
    count: Count = 20
    cursor: Cursor = None


@tool(
    "list_appointments",
    title="List appointments",
    arguments=ListAppointments,
    hints=Hints(read_only=True),
)
async def list_appointments(call: ToolCall, args: ListAppointments) -> ToolResult:
    """List appointments of a patient and/or in a date range (give patient_id, or both
    date_from and date_to), optionally only some statuses, one practitioner or one location.
    Each appointment has its id (what cancel_appointment takes), status, start and end,
    visit type and the patient, practitioner and location references; at most `count`
    per page, `cursor` for the next page."""
    items: list[tuple[str, str]] = []
    if args.patient_id:
        items.append(("patient", f"Patient/{confine(call, 'Appointment', args.patient_id)}"))
    items += bounds("date", args.date_from, args.date_to)
    if args.status:
        items.append(("status", ",".join(args.status)))
    if args.practitioner_id:
        items.append(("practitioner", typed_reference("Practitioner", args.practitioner_id)))
    if args.location_id:
        items.append(("location", typed_reference("Location", args.location_id)))
    found = await page(call, "Appointment", items, count=args.count, cursor=args.cursor)
    rows = [appointment_row(a) for a in found.resources]
    text = f"{len(rows)} appointment(s)" + "".join(f"\n- {appointment_line(r)}" for r in rows)
    return ToolResult(
        text + more(found.next_cursor),
        {"appointments": rows, "next_cursor": found.next_cursor, "total": found.total},
    )


class CancelAppointment(Arguments):
    appointment_id: AppointmentId
    reason: Annotated[
        str | None, Field(max_length=200, description="Why it is cancelled (free text).")
    ] = None


@tool(
    "cancel_appointment",
    title="Cancel an appointment",
    arguments=CancelAppointment,
    hints=Hints(read_only=False, destructive=True, idempotent=True),
)
async def cancel_appointment(call: ToolCall, args: CancelAppointment) -> ToolResult:
    """Cancel a booked appointment by its id, with an optional reason. The time becomes
    free again for others (under a new slot id). Cancelling an appointment that is
    already cancelled changes nothing. Needs write access to appointments; a token
    limited to one patient can only cancel that patient's appointments."""
    rid = args.appointment_id.removeprefix("Appointment/")
    operations: list[dict[str, object]] = [
        {"op": "replace", "path": "/status", "value": "cancelled"}
    ]
    if args.reason:
        operations.append(
            {"op": "add", "path": "/cancelationReason", "value": {"text": args.reason}}
        )
    outcome = await writes.patch(call.services, call.auth, "Appointment", rid, operations)
    row = appointment_row(checked(outcome))
    return ToolResult(f"Cancelled: {appointment_line(row)}", {"appointment": row})
