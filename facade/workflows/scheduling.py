"""Scheduling workflow: the booking resolver, read-back and the $find / $book operations.

Argonaut Scheduling / IHE ITI Scheduling (US-CORE-NOTES §4.1) over athena's
open slots and booking (API-NOTES §3.5). Registered by name with the engine
(:mod:`facade.engine.registry`), which the Appointment table points at:

- resolver ``open-slot``: the slot a booking takes, from ``slot`` or from
  start (+ end) + practitioner + location naming exactly one free slot; it must
  exist (404) and be open (409);
- read-back ``booked-slot``: after an ambiguous booking, did the slot become
  this patient's appointment?
- operations ``Appointment/$find`` and ``Appointment/$book``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.engine import registry, searches, writes
from facade.engine.idempotency import condition_key, create, existing_match
from facade.engine.operations import OperationCall, parameters
from facade.engine.services import Services
from facade.engine.writes import WriteContext, WriteOutcome
from facade.errors import Conflict, InvalidRequest, NotFound, Unprocessable
from facade.fhir.bundle import searchset
from facade.mapping.transforms import local_start
from facade.search import parse_query
from facade.upstream.client import raise_for_bad_request

Json = dict[str, Any]
BOOKED = {"f", "2", "3", "4"}
_REF = re.compile(r"^(?:([A-Za-z]+)/)?a-(\d+)\.([A-Za-z]+)-(\d+(?:-\d+)?)$")


def _ref(value: Any, prefix: str) -> tuple[str, str] | None:
    """``Type/a-{practice}.{prefix}-{id}`` (or the bare id) -> (practice, id)."""
    m = _REF.match(str(value or "").strip())
    if not m or m.group(3) != prefix:
        return None
    return m.group(2), m.group(4)


async def _athena_record(services: Services, practice: str, appointmentid: str) -> Json | None:
    response = await services.athena.rest("GET", practice, f"/appointments/{appointmentid}")
    if response.status == 404:
        return None
    raise_for_bad_request(response)
    body = response.body
    record = body[0] if isinstance(body, list) and len(body) == 1 else body
    return record if isinstance(record, dict) else None


def _instant(value: Any, element: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidRequest(
            f"{element} must be a dateTime with a time zone", expression=(element,)
        )
    return moment


_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def _day(value: str) -> date | None:
    """A ``$find`` bound given as a date (the whole local day), else None."""
    return date.fromisoformat(value.strip()) if _DATE.match(value.strip()) else None


async def _offsets(services: Services, practice: str) -> tuple[int, int]:
    """The easternmost and westernmost UTC offsets (hours) of the practice's departments."""
    known = (await services.directory.offsets(practice)).range
    return (known[1], known[0]) if known else (14, -12)


async def _slot_at(ctx: WriteContext) -> str:
    """The one free slot at ``start`` (and ``end``) for the practitioner and location."""
    res, fields = ctx.resource, ctx.fields
    if not res.get("start") or not fields.get("providerid") or not fields.get("departmentid"):
        raise Unprocessable(
            "Give a slot reference, or start with a practitioner and a location participant",
            expression=("Appointment.slot",),
        )
    start = _instant(res["start"], "Appointment.start")
    end = _instant(res["end"], "Appointment.end") if res.get("end") else None
    tz = await ctx.services.directory.timezone(ctx.practice, fields["departmentid"])
    if tz is None:
        raise NotFound("The location is not a department of this practice")
    day = start.astimezone(timezone(timedelta(hours=tz))).strftime("%m/%d/%Y")
    response = await ctx.services.athena.rest(
        "GET",
        ctx.practice,
        "/appointments/open",
        params=[
            ("departmentid", str(fields["departmentid"])),
            ("providerid", str(fields["providerid"])),
            ("reasonid", "-1"),
            ("startdate", day),
            ("enddate", day),
        ],
    )
    raise_for_bad_request(response)
    rows = response.body.get("appointments", []) if isinstance(response.body, dict) else []
    found = []
    for row in rows:
        at = local_start((row.get("date"), row.get("starttime"), tz))
        if at is None or datetime.fromisoformat(at) != start:
            continue
        stop = datetime.fromisoformat(at) + timedelta(minutes=int(row.get("duration") or 0))
        if end is None or stop == end:
            found.append(str(row["appointmentid"]))
    if not found:
        raise NotFound("No free slot matches start, end, practitioner and location")
    if len(found) > 1:
        raise Unprocessable(
            "Several free slots match; give a slot reference", expression=("Appointment.slot",)
        )
    return found[0]


@registry.resolver("open-slot")
async def open_slot(ctx: WriteContext) -> None:
    """Resolver ``open-slot``: complete a booking's athena fields from its slot."""
    res, fields = ctx.resource, ctx.fields
    if res.get("status") != "booked":
        raise Unprocessable(
            "A new Appointment is created with status booked", expression=("Appointment.status",)
        )
    if not fields.get("appointmentid"):
        if res.get("slot"):
            raise InvalidRequest(
                "slot must reference Slot/a-{practiceid}.Slot-{id}",
                expression=("Appointment.slot[0].reference",),
            )
        fields["appointmentid"] = await _slot_at(ctx)
    slot = await _athena_record(ctx.services, ctx.practice, str(fields["appointmentid"]))
    reference = f"Slot/a-{ctx.practice}.Slot-{fields['appointmentid']}"
    if slot is None:
        raise NotFound(f"{reference} is not known")
    if slot.get("appointmentstatus") != "o":
        raise Conflict(f"{reference} is already booked")
    for name in ("departmentid", "providerid"):
        if fields.get(name) and str(fields[name]) != str(slot.get(name)):
            raise Unprocessable(
                f"The participants do not match {reference}",
                expression=("Appointment.participant",),
            )
    fields["departmentid"] = slot.get("departmentid")
    if not fields.get("appointmenttypeid") and not fields.get("reasonid"):
        fields["appointmenttypeid"] = slot.get("appointmenttypeid")
    if fields.get("cancelledid"):
        fields["newappointmentid"] = fields["appointmentid"]
    ctx.facts["slot"] = slot


@registry.readback("booked-slot")
async def booked_slot(ctx: WriteContext, intent: dict[str, Any]) -> Json | None:
    """Read-back ``booked-slot``: the slot's record when it is booked for this patient."""
    record = await _athena_record(ctx.services, ctx.practice, str(intent.get("appointmentid")))
    if record is None or record.get("appointmentstatus") not in BOOKED:
        return None
    return record if str(record.get("patientid")) == str(intent.get("patientid")) else None


# -- $find ----------------------------------------------------------------------------


def _default_practice(services: Services, auth: AuthContext) -> str:
    """The practice a $find without practitioner or location searches (as a Slot search)."""
    return searches.search_practice(services, auth, parse_query("Slot", []))


def _proposal(slot: Json, patient: str | None) -> Json:
    """A free Slot as a proposed Appointment (IHE ITI Scheduling $find output)."""
    practice, local = slot["id"].split(".", 1)
    provider, department = slot["schedule"]["reference"].rsplit("-", 2)[-2:]
    pid = practice.removeprefix("a-")
    actors = [
        *([f"Patient/{patient}"] if patient else []),
        f"Practitioner/a-{pid}.Provider-{provider}",
        f"Location/a-{pid}.Department-{department}",
    ]
    proposal: Json = {
        "resourceType": "Appointment",
        "id": f"{practice}.Appointment-{local.removeprefix('Slot-')}",
        "status": "proposed",
        **{k: slot[k] for k in ("serviceType", "appointmentType") if k in slot},
        "start": slot["start"],
        "end": slot["end"],
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": [
            {"actor": {"reference": a}, "required": "required", "status": "needs-action"}
            for a in actors
        ],
    }
    return proposal


@registry.operation("Appointment", "find")
async def find_operation(
    services: Services, auth: AuthContext, call: OperationCall
) -> WriteOutcome:
    """``Appointment/$find`` (GET query, or POST Parameters added to the query)."""
    items = list(call.params)
    if call.method == "POST":
        items += parameters(call.body)
    return WriteOutcome(200, await find(services, auth, items), {})


async def find(services: Services, auth: AuthContext, items: list[tuple[str, str]]) -> Json:
    """``Appointment/$find``: proposals from free slots between ``start`` and ``end``."""
    auth.require("Appointment", "s")
    params: dict[str, list[str]] = {}
    for name, value in items:
        params.setdefault(name, []).append(value)
    for name in ("start", "end"):
        if not params.get(name):
            raise InvalidRequest(f"$find needs {name}", expression=(name,))
    first_day, last_day = _day(params["start"][0]), _day(params["end"][0])
    start = None if first_day else _instant(params["start"][0], "start")
    end = None if last_day else _instant(params["end"][0], "end")
    providers = {_ref(v, "Provider") for v in params.get("practitioner", [])}
    locations = {_ref(v, "Department") for v in params.get("location-reference", [])}
    patient = params.get("patient-reference", [None])[0]
    patient_id = patient.removeprefix("Patient/") if patient else None
    practices = {r[0] for r in [*providers, *locations] if r}
    if None in providers or None in locations or len(practices) > 1:
        raise InvalidRequest(
            "practitioner and location-reference take Practitioner/a-{practiceid}.Provider-{id}"
            " and Location/a-{practiceid}.Department-{id} in one practice",
            expression=("practitioner",),
        )
    practice = practices.pop() if practices else None
    if first_day or last_day:
        # A date is the whole local day of each slot's department: search the span every
        # department's version of it covers, then keep slots by their own local date.
        east, west = await _offsets(services, practice or _default_practice(services, auth))
        if first_day:
            start = datetime.combine(first_day, time(), timezone(timedelta(hours=east)))
        if last_day:
            after = last_day + timedelta(days=1)
            end = datetime.combine(after, time(), timezone(timedelta(hours=west)))
    assert start is not None and end is not None
    query = [("start", f"ge{start.isoformat()}"), ("start", f"le{end.isoformat()}")]
    query.append(("_count", str(services.settings.max_count)))
    if practice:
        query.append(("ah-practice", f"Organization/a-1.Practice-{practice}"))
    if len(providers) == 1 and len(locations) == 1:
        (_, provider), (practice, department) = providers.pop(), locations.pop()  # type: ignore[misc]
        query.append(("schedule", f"Schedule/a-{practice}.Schedule-{provider}-{department}"))
        providers, locations = set(), set()
    # Slots are not PHI: the slot search runs with Slot access for the caller's practices.
    slot_auth = replace(auth, scopes=ScopeSet.parse("system/Slot.rs"), patient=None, fhir_user=None)
    bundle = await searches.search(
        services, slot_auth, "Slot", parse_query("Slot", query), strict=False
    )
    wanted_types = {v.rpartition("|")[2] for v in params.get("visit-type", [])}
    proposals = []
    for entry in bundle.get("entry", []):
        slot = entry["resource"]
        provider, department = slot["schedule"]["reference"].rsplit("-", 2)[-2:]
        if providers and not any(p and p[1] == provider for p in providers):
            continue
        if locations and not any(loc and loc[1] == department for loc in locations):
            continue
        day = str(slot.get("start", ""))[:10]  # the slot's local date (athena's local time)
        if (first_day and day < first_day.isoformat()) or (last_day and day > last_day.isoformat()):
            continue
        codes = {c.get("code") for c in slot.get("appointmentType", {}).get("coding", [])}
        if wanted_types and not wanted_types & codes:
            continue
        proposals.append(_proposal(slot, patient_id))
    count = int(params.get("_count", ["20"])[0] or 20)
    base = services.settings.fhir_base
    return searchset(
        base=base,
        matches=proposals[: max(0, min(count, services.settings.max_count))],
        self_url=f"{base}/Appointment/$find",
    )


# -- $book ----------------------------------------------------------------------------


def _value(parameter: Json) -> Any:
    for key in ("valueUri", "valueString", "valueId", "valueCanonical"):
        if key in parameter:
            return parameter[key]
    if isinstance(parameter.get("valueReference"), dict):
        return parameter["valueReference"].get("reference")
    return None


@registry.operation("Appointment", "book")
async def book_operation(
    services: Services, auth: AuthContext, call: OperationCall
) -> WriteOutcome:
    """``Appointment/$book``; ``If-None-Exist`` as for create: a matching Appointment is the
    answer and nothing is booked."""
    key = call.key
    if call.condition:
        auth.require("Appointment", "c")
        existing = await existing_match(services, auth, "Appointment", call.condition)
        if existing is not None:
            return WriteOutcome(200, book_result(services, existing.body), {})
        key = key or condition_key("Appointment", "/$book", call.condition)
    return await book(services, auth, call.body, key=key)


async def book(
    services: Services, auth: AuthContext, body: Any, *, key: str | None
) -> WriteOutcome:
    """``Appointment/$book``: appt-id or appt-resource; cancelled-appt-id reschedules."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidRequest("$book takes a Parameters resource", expression=("Parameters",))
    given: dict[str, Json] = {}
    for index, parameter in enumerate(body.get("parameter") or []):
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise InvalidRequest(
                "Malformed parameter", expression=(f"Parameters.parameter[{index}]",)
            )
        given[parameter["name"]] = parameter
    if "appt-resource" in given:
        appointment = dict(given["appt-resource"].get("resource") or {})
    elif "appt-id" in given:
        ref = _ref(_value(given["appt-id"]), "Appointment")
        if ref is None:
            raise InvalidRequest(
                "appt-id must be Appointment/a-{practiceid}.Appointment-{id} (from $find)",
                expression=("Parameters.parameter.where(name='appt-id')",),
            )
        appointment = {
            "resourceType": "Appointment",
            "slot": [{"reference": f"Slot/a-{ref[0]}.Slot-{ref[1]}"}],
            "participant": [],
        }
    else:
        raise InvalidRequest(
            "$book needs appt-id or appt-resource", expression=("Parameters.parameter",)
        )
    appointment["resourceType"] = appointment.get("resourceType", "Appointment")
    appointment["status"] = "booked"
    appointment.pop("id", None)
    participants = [
        {**p, "status": "accepted"}
        for p in appointment.get("participant") or []
        if isinstance(p, dict)
    ]
    patient = _value(given["patient-id"]) if "patient-id" in given else None
    if patient:
        reference = patient if str(patient).startswith("Patient/") else f"Patient/{patient}"
        participants.insert(0, {"actor": {"reference": reference}, "status": "accepted"})
    appointment["participant"] = participants
    if "comment" in given:
        appointment["comment"] = _value(given["comment"])
    table = writes.writable_table(services, "Appointment")
    assert table.writes is not None
    step, extra = None, {}
    if "cancelled-appt-id" in given:
        old = _ref(_value(given["cancelled-appt-id"]), "Appointment")
        if old is None:
            raise InvalidRequest(
                "cancelled-appt-id must be Appointment/a-{practiceid}.Appointment-{id}",
                expression=("Parameters.parameter.where(name='cancelled-appt-id')",),
            )
        practice = writes.body_practice(auth, appointment, services.settings.default_practice)
        if old[0] != practice:  # athena reschedules within one practice
            raise Unprocessable(
                f"cancelled-appt-id must be an appointment of practice {practice}, the new slot's",
                expression=("Parameters.parameter.where(name='cancelled-appt-id')",),
            )
        # the engine re-reads the old appointment (it must be the caller's and this
        # patient's: the table declares cancelledid writable) and forgets it afterwards
        step = next(s for s in table.writes.steps if s.name == "reschedule")
        extra = {"cancelledid": old[1]}
    outcome = await create(
        services, auth, "Appointment", appointment, key=key, step=step, extra=extra
    )
    if outcome.status >= 400:
        return outcome
    return WriteOutcome(200, book_result(services, outcome.body), {})


def book_result(services: Services, appointment: Json) -> Json:
    """The $book answer: a Bundle holding the booked Appointment (IHE ITI Scheduling)."""
    base = services.settings.fhir_base
    return searchset(base=base, matches=[appointment], self_url=f"{base}/Appointment/$book")
