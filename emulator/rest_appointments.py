"""Proprietary scheduling endpoints (API-NOTES sections 3.5, 4.1, 6.1; section 7 items 12-17).

- ``GET /appointmenttypes``, ``/appointmenttypes/{id}`` (one-element array).
- ``GET /patientappointmentreasons[/newpatient|/existingpatient]``: departmentid
  and providerid required; ``reasontype`` new|existing|all.
- ``GET /appointmentcancelreasons`` [G shape].
- ``GET /appointments/open``: open-slot search; ``POST /appointments/open``
  creates slots; ``PUT /appointments/{id}/freeze``; ``DELETE /appointments/{id}``.
- ``PUT /appointments/{id}`` books; ``.../cancel``, ``.../reschedule``;
  ``POST .../startcheckin|checkin|cancelcheckin|checkout``.
- ``GET /appointments/{id}``, ``GET /appointments/booked[/multipledepartment]``,
  ``GET /patients/{id}/appointments``.

Write parameters come from the form body or the query string (section 3.0).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from emulator.access import bearer_token
from emulator.catalog import APPOINTMENT_TYPES, CANCEL_REASONS, REASONS, Reason
from emulator.errors import AthenaError, invalid, json_response, not_found
from emulator.form import request_pairs
from emulator.paging import PageRequest, lenient_int, paged
from emulator.records import parse_us_date, us_date
from emulator.rest_practice import page_of, practice_of, world_of
from emulator.schedule import order_key
from emulator.visits import AppointmentRecord
from emulator.world import EASTERN, World

REQUIRED = "Additional fields are required."
TYPE_OR_REASON = "An appointment type or reason must be provided."
PATIENT_NOT_FOUND = "The Patient ID or Department ID is invalid."
TRUE = {"true", "1", "y", "yes"}


async def lower_pairs(request: Request) -> list[tuple[str, str]]:
    """Request pairs with lower-cased names: athena's ``next`` links echo names in
    upper case and clients follow them verbatim (section 4.1)."""
    return [(name.lower(), value) for name, value in await request_pairs(request)]


def _truthy(params: dict[str, str], name: str) -> bool:
    return params.get(name, "").strip().lower() in TRUE


def _multi(pairs: list[tuple[str, str]], name: str) -> list[str]:
    """A multi-valued parameter: comma lists and/or repeats (section 3.5)."""
    return [
        item.strip()
        for key, value in pairs
        if key.lower() == name
        for item in value.split(",")
        if item.strip()
    ]


def _ints(pairs: list[tuple[str, str]], name: str) -> list[int]:
    return [lenient_int(name, value) for value in _multi(pairs, name)]


def _require(params: dict[str, str], *names: str) -> None:
    missing = [name for name in names if not params.get(name, "").strip()]
    if missing:
        raise AthenaError(400, REQUIRED, missingfields=missing)


def _date(text: str) -> date:
    parsed = parse_us_date(text)
    if parsed is None:
        raise invalid(f"Expecting format date, but value is {text}")
    return parsed


def _stamp(text: str, end: bool) -> datetime:
    """MM/DD/YYYY[ HH:MM:SS] in US Eastern (section 3.0); a bare end date covers its day."""
    text = text.strip()
    try:
        return datetime.strptime(text, "%m/%d/%Y %H:%M:%S").replace(tzinfo=EASTERN)
    except ValueError:
        day = _date(text)
        moment = datetime.combine(day, datetime.min.time(), EASTERN)
        return moment + timedelta(days=1, microseconds=-1) if end else moment


def _by(request: Request) -> str:
    """``scheduledby``/``lastmodifiedby`` for API writes, like athena's "API-2530"."""
    return f"API-{bearer_token(world_of(request), request).client_id}"


def _appointment_id(request: Request) -> int:
    return lenient_int("appointmentid", str(request.path_params["appointmentid"]))


def _type_id(text: str) -> int:
    typeid = lenient_int("appointmenttypeid", text)
    if typeid not in APPOINTMENT_TYPES:
        raise invalid(f"Invalid appointment type ID {typeid}.")
    return typeid


def _reason_id(text: str) -> int:
    reasonid = lenient_int("reasonid", text)
    if reasonid not in REASONS:
        raise invalid(f"Invalid reason ID {reasonid}.")
    return reasonid


def _patient_exists(world: World, practiceid: str, patientid: int) -> None:
    if world.patient(practiceid, patientid) is None:
        raise AthenaError(404, PATIENT_NOT_FOUND)


def _view(world: World, record: AppointmentRecord, params: dict[str, str]) -> object:
    """The record's row as athena lists it (JSON), with ``patient`` when asked."""
    if _truthy(params, "showpatientdetail") and record.patientid is not None:
        patient = world.patient(record.practiceid, record.patientid)
        if patient is not None:
            return {**record.v1(), "patient": patient.v1()}
    return record.v1_json()


# -- reference data -------------------------------------------------------------------------


async def appointment_types(request: Request) -> Response:
    """``GET /v1/{practiceid}/appointmenttypes`` (section 3.5)."""
    practiceid = practice_of(request)
    params = dict(await lower_pairs(request))
    rows = [kind.v1() for _, kind in sorted(APPOINTMENT_TYPES.items())]
    path = f"/v1/{practiceid}/appointmenttypes"
    return json_response(paged(rows, "appointmenttypes", path, params, page_of(request, params)))


async def appointment_type(request: Request) -> Response:
    """``GET /v1/{practiceid}/appointmenttypes/{id}``: a one-element array."""
    practice_of(request)
    wanted = lenient_int("appointmenttypeid", str(request.path_params["appointmenttypeid"]))
    if wanted not in APPOINTMENT_TYPES:
        raise not_found()
    return json_response([APPOINTMENT_TYPES[wanted].v1()])


def _reasons_handler(fixed_type: str | None) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        """``GET /v1/{practiceid}/patientappointmentreasons[/newpatient|/existingpatient]``."""
        practiceid = practice_of(request)
        params = dict(await lower_pairs(request))
        _require(params, "departmentid", "providerid")
        providerid = lenient_int("providerid", params["providerid"])
        lenient_int("departmentid", params["departmentid"])
        kind = fixed_type or params.get("reasontype", "all").strip().lower() or "all"
        if kind not in {"new", "existing", "all"}:
            raise invalid(
                f"The value '{params['reasontype']}' did not match any of the enum values for REASONTYPE"
            )
        allowed = {"new": {"new", "all"}, "existing": {"existing", "all"}}.get(
            kind, {"new", "existing", "all"}
        )
        rows = [
            r.v1()
            for _, r in sorted(REASONS.items())
            if r.reasontype in allowed and (r.providers is None or providerid in r.providers)
        ]
        path = f"/v1/{practiceid}/patientappointmentreasons"
        if fixed_type:
            path += "/newpatient" if fixed_type == "new" else "/existingpatient"
        return json_response(
            paged(rows, "patientappointmentreasons", path, params, page_of(request, params))
        )

    handler.__name__ = f"reasons_{fixed_type or 'all'}"
    return handler


reasons = _reasons_handler(None)
new_patient_reasons = _reasons_handler("new")
existing_patient_reasons = _reasons_handler("existing")


async def cancel_reasons(request: Request) -> Response:
    """``GET /v1/{practiceid}/appointmentcancelreasons`` [G shape]."""
    practiceid = practice_of(request)
    params = dict(await lower_pairs(request))
    rows = [
        {
            "appointmentcancelreasonid": str(r.appointmentcancelreasonid),
            "name": r.name,
            "noshow": r.noshow,
            "slotavailable": r.slotavailable,
        }
        for _, r in sorted(CANCEL_REASONS.items())
    ]
    path = f"/v1/{practiceid}/appointmentcancelreasons"
    return json_response(
        paged(rows, "appointmentcancelreasons", path, params, page_of(request, params))
    )


# -- open slots -----------------------------------------------------------------------------


def _slot_reasons(record: AppointmentRecord, wanted: list[int]) -> list[Reason]:
    """The requested reasons a slot can serve; -1 means any web-schedulable reason."""
    out = []
    for reason in sorted(REASONS.values(), key=lambda r: r.reasonid):
        if -1 not in wanted and reason.reasonid not in wanted:
            continue
        if record.appointmenttypeid not in reason.appointmenttypeids:
            continue
        if reason.providers is not None and record.providerid not in reason.providers:
            continue
        out.append(reason)
    return out


async def open_slots(request: Request) -> Response:
    """``GET /v1/{practiceid}/appointments/open`` (section 3.5).

    The lead time and horizon are the matched reasons' ``schedulingminhours`` /
    ``schedulingmaxdays`` when searching by reason, else the practice defaults
    (24 h, 90 days) [G]; ``bypassscheduletimechecks`` switches both off.
    """
    world, practiceid = world_of(request), practice_of(request)
    pairs = await lower_pairs(request)
    params = dict(pairs)
    departments = _multi(pairs, "departmentid")
    if not departments:
        raise AthenaError(400, REQUIRED, missingfields=["departmentid"])
    departments = [str(lenient_int("departmentid", d)) for d in departments]
    reasonids = _ints(pairs, "reasonid")
    typeids = _ints(pairs, "appointmenttypeid")
    providers = set(_ints(pairs, "providerid"))
    if any(r != -1 for r in reasonids) and not providers:
        raise AthenaError(400, REQUIRED, missingfields=["providerid"])
    config = world.config
    page = PageRequest.from_params(
        params, config.open_slots_default_limit, config.open_slots_max_limit
    )
    path = f"/v1/{practiceid}/appointments/open"
    if not reasonids and not typeids:
        # athena quirk: neither reason nor type -> an empty result, not an error.
        return json_response(paged([], "appointments", path, pairs, page))
    now = world.schedule_now()
    today = now.astimezone(EASTERN).date()
    start = _date(params["startdate"]) if params.get("startdate", "").strip() else today
    end = (
        _date(params["enddate"]) if params.get("enddate", "").strip() else start + timedelta(days=7)
    )
    bypass = _truthy(params, "bypassscheduletimechecks")
    show_frozen = _truthy(params, "showfrozenslots")
    ignore_permission = _truthy(params, "ignoreschedulablepermission")
    rows = []
    for record in world.schedule.dated(practiceid, start, end):  # in order_key order
        if record.status != "o" or record.departmentid not in departments:
            continue
        if providers and record.providerid not in providers:
            continue
        if record.frozen and not show_frozen:
            continue
        if not record.api_released and not ignore_permission:
            continue
        matched = _slot_reasons(record, reasonids) if reasonids else []
        by_type = record.appointmenttypeid in typeids
        if not matched and not by_type:
            continue
        if not bypass:
            lead = min((r.schedulingminhours for r in matched), default=None)
            horizon = max((r.schedulingmaxdays for r in matched), default=None)
            if by_type or lead is None or horizon is None:
                lead, horizon = config.schedule_lead_hours, config.schedule_horizon_days
            tz = world.department_tz(practiceid, record.departmentid)
            if record.starts_at(tz) < now + timedelta(hours=lead):
                continue
            if record.date > today + timedelta(days=horizon):
                continue
        reasonlist = [r.reasonid for r in matched] or [
            r.reasonid for r in _slot_reasons(record, [-1])
        ]
        rows.append((record, reasonlist))
    body = paged(rows, "appointments", path, pairs, page)
    body["appointments"] = [record.v1_slot(ids) for record, ids in body["appointments"]]
    return json_response(body)


def _hhmm(text: str) -> str:
    try:
        moment = datetime.strptime(text.strip(), "%H:%M")
    except ValueError:
        raise invalid(f"Expecting format time (HH:MM), but value is {text}") from None
    return moment.strftime("%H:%M")


async def create_slots(request: Request) -> Response:
    """``POST /v1/{practiceid}/appointments/open``: ``{"appointmentids": {id: "HH:MM"}}``."""
    world, practiceid = world_of(request), practice_of(request)
    params = dict(await lower_pairs(request))
    _require(params, "departmentid", "providerid", "appointmentdate", "appointmenttime")
    if not params.get("appointmenttypeid", "").strip() and not params.get("reasonid", "").strip():
        raise AthenaError(400, REQUIRED, detailedmessage=TYPE_OR_REASON)
    departmentid = str(lenient_int("departmentid", params["departmentid"]))
    if world.department(practiceid, departmentid) is None:
        raise AthenaError(400, "The data provided is invalid.", invalidfields=["departmentid"])
    providerid = lenient_int("providerid", params["providerid"])
    if world.provider(practiceid, providerid) is None:
        raise AthenaError(400, "The data provided is invalid.", invalidfields=["providerid"])
    if params.get("appointmenttypeid", "").strip():
        typeid = _type_id(params["appointmenttypeid"])
    else:
        typeid = REASONS[_reason_id(params["reasonid"].split(",")[0])].appointmenttypeids[0]
    times = [_hhmm(t) for t in params["appointmenttime"].split(",") if t.strip()]
    created = world.schedule.create_slots(
        practiceid,
        departmentid,
        providerid,
        _date(params["appointmentdate"]),
        times,
        typeid,
        _by(request),
    )
    return json_response({"appointmentids": {str(r.appointmentid): r.starttime for r in created}})


async def freeze(request: Request) -> Response:
    """``PUT /v1/{practiceid}/appointments/{id}/freeze`` (``freeze=true|false``) [C1 GO]."""
    world, practiceid = world_of(request), practice_of(request)
    params = dict(await lower_pairs(request))
    _require(params, "freeze")
    message = world.schedule.freeze(
        practiceid, _appointment_id(request), _truthy(params, "freeze"), _by(request)
    )
    # athena quirk: refusing a freeze is an HTTP 200 soft failure.
    return json_response({"success": not message, "errormessage": message})


async def delete_slot(request: Request) -> Response:
    """``DELETE /v1/{practiceid}/appointments/{id}``: an open slot only [G]."""
    world, practiceid = world_of(request), practice_of(request)
    world.schedule.delete_slot(practiceid, _appointment_id(request))
    return json_response({"success": True})


# -- booking --------------------------------------------------------------------------------


async def book(request: Request) -> Response:
    """``PUT /v1/{practiceid}/appointments/{id}``: o -> f; 409 when taken (section 3.5)."""
    world, practiceid = world_of(request), practice_of(request)
    params = dict(await lower_pairs(request))
    _require(params, "patientid")
    typetext, reasontext = params.get("appointmenttypeid", ""), params.get("reasonid", "")
    if not typetext.strip() and not reasontext.strip():
        raise AthenaError(400, REQUIRED, detailedmessage=TYPE_OR_REASON)
    patientid = lenient_int("patientid", params["patientid"])
    _patient_exists(world, practiceid, patientid)
    record = world.schedule.book(
        practiceid,
        _appointment_id(request),
        patientid,
        appointmenttypeid=_type_id(typetext) if typetext.strip() else None,
        reasonid=_reason_id(reasontext) if reasontext.strip() else None,
        ignore_permission=_truthy(params, "ignoreschedulablepermission"),
        by=_by(request),
        note=params.get("bookingnote", "").strip(),
    )
    return json_response([_view(world, record, params)])


async def cancel(request: Request) -> Response:
    """``PUT /v1/{practiceid}/appointments/{id}/cancel``: ``{"status": "x"}`` (section 3.5)."""
    world, practiceid = world_of(request), practice_of(request)
    params = dict(await lower_pairs(request))
    _require(params, "patientid")
    reason = None
    if params.get("appointmentcancelreasonid", "").strip():
        reasonid = lenient_int("appointmentcancelreasonid", params["appointmentcancelreasonid"])
        reason = CANCEL_REASONS.get(reasonid)
        if reason is None:
            raise invalid(f"Invalid appointment cancel reason ID {reasonid}.")
    world.schedule.cancel(
        practiceid,
        _appointment_id(request),
        lenient_int("patientid", params["patientid"]),
        reason,
        _by(request),
        note=params.get("cancellationreason"),
    )
    return json_response({"status": "x"})


async def reschedule(request: Request) -> Response:
    """``PUT /v1/{practiceid}/appointments/{id}/reschedule``: ``[ {new appointment} ]``."""
    world, practiceid = world_of(request), practice_of(request)
    params = dict(await lower_pairs(request))
    _require(params, "patientid", "newappointmentid")
    reasontext = params.get("reasonid", "")
    record = world.schedule.reschedule(
        practiceid,
        _appointment_id(request),
        lenient_int("newappointmentid", params["newappointmentid"]),
        lenient_int("patientid", params["patientid"]),
        reasonid=_reason_id(reasontext) if reasontext.strip() else None,
        ignore_permission=_truthy(params, "ignoreschedulablepermission"),
        by=_by(request),
    )
    return json_response([_view(world, record, params)])


def _checkin_handler(action: str) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        """``POST /v1/{practiceid}/appointments/{id}/{action}`` (section 3.5, check-in family)."""
        world, practiceid = world_of(request), practice_of(request)
        schedule, appointmentid, by = world.schedule, _appointment_id(request), _by(request)
        if action == "startcheckin":
            schedule.start_checkin(practiceid, appointmentid, by)
        elif action == "checkin":
            schedule.checkin(practiceid, appointmentid, by)
        elif action == "cancelcheckin":
            schedule.cancel_checkin(practiceid, appointmentid, by)
        else:
            schedule.checkout(practiceid, appointmentid, by)
        return json_response({"success": True, "message": ""})

    handler.__name__ = action
    return handler


start_checkin = _checkin_handler("startcheckin")
checkin = _checkin_handler("checkin")
cancel_checkin = _checkin_handler("cancelcheckin")
checkout = _checkin_handler("checkout")


# -- reads ----------------------------------------------------------------------------------


async def read_appointment(request: Request) -> Response:
    """``GET /v1/{practiceid}/appointments/{id}``: a one-element array; open slots read "o"."""
    world, practiceid = world_of(request), practice_of(request)
    params = dict(await lower_pairs(request))
    record = world.schedule.appointment(practiceid, _appointment_id(request))
    if record is None:
        raise not_found()
    return json_response([_view(world, record, params)])


def _booked_handler(suffix: str) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        """``GET /v1/{practiceid}/appointments/booked[/multipledepartment]`` (section 3.5)."""
        world, practiceid = world_of(request), practice_of(request)
        pairs = await lower_pairs(request)
        params = dict(pairs)
        departments = {str(lenient_int("departmentid", d)) for d in _multi(pairs, "departmentid")}
        missing = [] if departments else ["departmentid"]
        missing += [n for n in ("startdate", "enddate") if not params.get(n, "").strip()]
        if missing:
            raise AthenaError(400, REQUIRED, missingfields=missing)
        start, end = _date(params["startdate"]), _date(params["enddate"])
        providers = set(_ints(pairs, "providerid"))
        types = set(_ints(pairs, "appointmenttypeid"))
        statuses = set(_multi(pairs, "appointmentstatus"))
        patientid = (
            lenient_int("patientid", params["patientid"])
            if params.get("patientid", "").strip()
            else None
        )
        show_cancelled = _truthy(params, "showcancelled") or "x" in statuses
        modified_from = (
            _stamp(params["startlastmodified"], False)
            if params.get("startlastmodified", "").strip()
            else None
        )
        modified_to = (
            _stamp(params["endlastmodified"], True)
            if params.get("endlastmodified", "").strip()
            else None
        )
        scheduled_from = (
            _stamp(params["scheduledstartdate"], False)
            if params.get("scheduledstartdate", "").strip()
            else None
        )
        scheduled_to = (
            _stamp(params["scheduledenddate"], True)
            if params.get("scheduledenddate", "").strip()
            else None
        )
        rows = []
        for record in world.schedule.dated(practiceid, start, end):  # in order_key order
            if record.status == "o" or record.departmentid not in departments:
                continue
            if record.status == "x" and not show_cancelled:
                continue
            if providers and record.providerid not in providers:
                continue
            if types and record.appointmenttypeid not in types:
                continue
            if statuses and record.status not in statuses:
                continue
            if patientid is not None and record.patientid != patientid:
                continue
            if modified_from is not None and record.lastmodified < modified_from:
                continue
            if modified_to is not None and record.lastmodified > modified_to:
                continue
            if scheduled_from is not None and (
                record.scheduled is None or record.scheduled < scheduled_from
            ):
                continue
            if scheduled_to is not None and (
                record.scheduled is None or record.scheduled > scheduled_to
            ):
                continue
            rows.append(record)
        config = world.config
        page = PageRequest.from_params(params, config.booked_default_limit, config.max_limit)
        path = f"/v1/{practiceid}/appointments/booked{suffix}"
        body = paged(rows, "appointments", path, pairs, page)
        body["appointments"] = [_view(world, r, params) for r in body["appointments"]]
        return json_response(body)

    handler.__name__ = "booked" + suffix.replace("/", "_")
    return handler


booked = _booked_handler("")
booked_multiple_departments = _booked_handler("/multipledepartment")


async def patient_appointments(request: Request) -> Response:
    """``GET /v1/{practiceid}/patients/{id}/appointments``: ``{appointments, totalcount, next}``.

    Cancelled appointments only with ``showcancelled`` [G]; past and future by default.
    """
    world, practiceid = world_of(request), practice_of(request)
    params = dict(await lower_pairs(request))
    patientid = lenient_int("patientid", str(request.path_params["patientid"]))
    _patient_exists(world, practiceid, patientid)
    show_cancelled = _truthy(params, "showcancelled")
    rows = sorted(
        (
            r
            for r in world.schedule.all_appointments(practiceid)
            if r.patientid == patientid and r.status != "o" and (show_cancelled or r.status != "x")
        ),
        key=order_key,
    )
    path = f"/v1/{practiceid}/patients/{patientid}/appointments"
    body = paged(rows, "appointments", path, params, page_of(request, params))
    body["appointments"] = [_view(world, r, params) for r in body["appointments"]]
    return json_response(body)


def today_us(world: World) -> str:
    """The scheduling today as MM/DD/YYYY (US Eastern)."""
    return us_date(world.schedule_now().astimezone(EASTERN).date())
