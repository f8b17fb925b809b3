"""Changes made "inside athena" (emulator only): what a front desk or a biller does in
athenaOne, so tests cause events the facade did not write. JSON bodies, under
``/_emulator/athena/{practiceid}``; every change goes through the same store as the API's,
so it shows on both surfaces and in the changed-data feeds.

| route | what |
|---|---|
| ``POST …/appointments/{id}/book`` ``{"patientid", "appointmenttypeid"?}`` | book an open slot |
| ``POST …/appointments/{id}/cancel`` ``{"reasonid"?, "note"?}`` | cancel (patient cancelled by default) |
| ``POST …/appointments/{id}/reschedule`` ``{"newappointmentid"}`` | move to another open slot |
| ``POST …/appointments/{id}/checkin`` / ``checkout`` / ``freeze`` / ``unfreeze`` | the visit's states |
| ``POST …/patients/{id}`` ``{field: value, …}`` | edit demographics (/v1 field names) |
| ``GET`` / ``POST /_emulator/clock`` ``{"advance": seconds}`` | read or move the emulator's clock forward (claims move through their lifecycle, emulator/claims.py) |

Answers: the record as /v1 renders it, or athena's error body.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.catalog import CANCEL_REASONS
from emulator.errors import AthenaError, EmulatorError, json_response, render
from emulator.faults import ADMIN_PREFIX
from emulator.records import WRITABLE_FIELDS
from emulator.world import World

FRONT_DESK = "FRONTDESK"
BASE = f"{ADMIN_PREFIX}/athena/{{practiceid}}"


def _world(request: Request) -> World:
    world: World = request.app.state.emulator
    return world


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise AthenaError(400, "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise AthenaError(400, "The body must be a JSON object.")
    return body


def _int(value: Any, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise AthenaError(400, f"{name} must be a number.") from None


async def appointment_action(request: Request) -> Response:
    world = _world(request)
    practiceid = str(request.path_params["practiceid"])
    appointmentid = _int(request.path_params["appointmentid"], "appointmentid")
    action = str(request.path_params["action"])
    schedule = world.schedule
    try:
        body = await _body(request)
        record = schedule.appointment(practiceid, appointmentid)
        if record is None:
            raise AthenaError(404, "The requested ID does not exist.")
        if action == "book":
            schedule.book(
                practiceid,
                appointmentid,
                _int(body.get("patientid"), "patientid"),
                appointmenttypeid=_int(body["appointmenttypeid"], "appointmenttypeid")
                if body.get("appointmenttypeid")
                else None,
                reasonid=None,
                ignore_permission=True,
                by=FRONT_DESK,
            )
        elif action == "cancel":
            reason = CANCEL_REASONS[_int(body.get("reasonid", 1), "reasonid")]
            schedule.cancel(
                practiceid,
                appointmentid,
                record.patientid or -1,
                reason,
                FRONT_DESK,
                note=body.get("note"),
            )
        elif action == "reschedule":
            new = _int(body.get("newappointmentid"), "newappointmentid")
            schedule.reschedule(
                practiceid,
                appointmentid,
                new,
                record.patientid or -1,
                reasonid=None,
                ignore_permission=True,
                by=FRONT_DESK,
            )
            appointmentid = new
        elif action == "checkin":
            schedule.checkin(practiceid, appointmentid, FRONT_DESK)
        elif action == "checkout":
            schedule.checkout(practiceid, appointmentid, FRONT_DESK)
        elif action in ("freeze", "unfreeze"):
            schedule.freeze(practiceid, appointmentid, action == "freeze", FRONT_DESK)
        else:
            raise AthenaError(404, f"Unknown action {action}.")
    except EmulatorError as error:
        return render(error)
    after = schedule.appointment(practiceid, appointmentid)
    return json_response(after.v1() if after else {})


async def edit_patient(request: Request) -> Response:
    world = _world(request)
    practiceid = str(request.path_params["practiceid"])
    try:
        record = world.patient(practiceid, _int(request.path_params["patientid"], "patientid"))
        if record is None:
            raise AthenaError(404, "The Patient ID or Department ID is invalid.")
        body = await _body(request)
        unknown = sorted(set(body) - set(WRITABLE_FIELDS))
        if unknown:
            raise AthenaError(400, "The data provided is invalid.", invalidfields=unknown)
        world.update_patient(record, {k: str(v) for k, v in body.items()})
    except EmulatorError as error:
        return render(error)
    return json_response(record.v1())


async def clock(request: Request) -> Response:
    world = _world(request)
    try:
        if request.method == "POST":
            body = await _body(request)
            try:
                seconds = float(body.get("advance", 0))
            except (TypeError, ValueError):
                raise AthenaError(400, "advance must be a number of seconds.") from None
            if seconds < 0:
                raise AthenaError(400, "The clock only moves forward.")
            world.advance_clock(seconds)
    except EmulatorError as error:
        return render(error)
    return json_response({"now": world.now_instant(), "schedule": world.schedule_now().isoformat()})


ADMIN_ROUTES = [
    Route(f"{ADMIN_PREFIX}/clock", clock, methods=["GET", "POST"]),
    Route(
        f"{BASE}/appointments/{{appointmentid}}/{{action}}", appointment_action, methods=["POST"]
    ),
    Route(f"{BASE}/patients/{{patientid}}", edit_patient, methods=["POST"]),
]
