"""Schedules, Slot states, reschedule, conditional $book and the references scheduling emits.

Through the real emulator (fixed today, frozen clock) and a real facade:
Schedule read/search (actor, _id, identifier, service-type; 404 for a pair athena
does not list) leading to Slots and a booking; ``Appointment?_id``; frozen slots are
``busy-unavailable`` and never ``free``; booked slots read ``busy``; ``$book`` with
``If-None-Exist``; reschedule via ``$book`` with ``cancelled-appt-id`` (idempotent);
every reference an Appointment, Slot, Schedule or Encounter emits resolves.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.clinical_support import PROFILES, references, search
from tests.api.scheduling.support import (
    FHIR_JSON,
    PATIENT,
    PID,
)
from tests.api.scheduling.test_scheduling import booking
from tests.support.profiles import ProfileValidator, _base_errors

Json = dict[str, Any]
APPOINTMENT_SYSTEM = f"urn:athenahealth:athenanet:appointment:{PID}"
REASON_SYSTEM = f"urn:athenahealth:athenanet:appointmentreason:{PID}"


_used: set[str] = set()


def slots(fhir: httpx.Client, day: str, **params: str) -> list[Json]:
    query = [("start", f"ge{day}"), ("start", f"lt{day}T23:59:59-05:00"), ("_count", "200")]
    return search(fhir, "Slot", [*query, *params.items()])[0]


def free_slot(fhir: httpx.Client, day: str = "2025-07-08") -> Json:
    for slot in slots(fhir, day):
        if slot["id"] not in _used:
            _used.add(slot["id"])
            return slot
    raise AssertionError("no free slot left")


def local(rid: str) -> int:
    return int(rid.rsplit("-", 1)[1])


def upstream_calls(admin: httpx.Client, method: str, suffix: str) -> int:
    calls = admin.get("calls").json()["calls"]
    return sum(
        c["count"]
        for c in calls
        if c["method"] == method and c["path"].rstrip("/").endswith(suffix)
    )


def _without_horizon_start(resource: Json) -> Json:
    """planningHorizon.start moves with the clock (now + lead time)."""
    return {**resource, "planningHorizon": {"end": resource["planningHorizon"]["end"]}}


# -- Schedule ---------------------------------------------------------------------------


def test_schedules_lead_to_slots_and_a_booking(fhir: httpx.Client) -> None:
    schedules = search(fhir, "Schedule", {})[0]
    assert len(schedules) == 20  # one per provider in each department the provider works in
    assert all(_base_errors(s) == [] for s in schedules)
    schedule = next(s for s in schedules if s["id"] == f"a-{PID}.Schedule-23-1")
    assert [a["reference"] for a in schedule["actor"]] == [
        f"Practitioner/a-{PID}.Provider-23",
        f"Location/a-{PID}.Department-1",
    ]
    assert schedule["active"] is True and schedule["serviceType"]
    assert {c["system"] for t in schedule["serviceType"] for c in t["coding"]} == {REASON_SYSTEM}
    horizon = schedule["planningHorizon"]
    assert horizon["start"][:10] < horizon["end"]

    read = fhir.get(f"Schedule/{schedule['id']}")
    assert read.status_code == 200 and read.headers["etag"].startswith('W/"')
    assert _without_horizon_start(read.json()) == _without_horizon_start(schedule)

    def ids(params: Any) -> set[str]:
        return {s["id"] for s in search(fhir, "Schedule", params)[0]}

    by_provider = ids({"actor": f"Practitioner/a-{PID}.Provider-23"})
    assert schedule["id"] in by_provider
    assert all(s.startswith(f"a-{PID}.Schedule-23-") for s in by_provider)
    by_location = ids({"actor": f"Location/a-{PID}.Department-1"})
    assert schedule["id"] in by_location and all(s.endswith("-1") for s in by_location)
    assert ids({"_id": schedule["id"]}) == {schedule["id"]}
    system = f"urn:athenahealth:athenanet:providerdepartment:{PID}"
    assert ids({"identifier": f"{system}|23-1"}) == {schedule["id"]}
    code = schedule["serviceType"][0]["coding"][0]["code"]
    typed = ids({"service-type": f"{REASON_SYSTEM}|{code}"})
    assert schedule["id"] in typed
    assert all(
        code in {c["code"] for t in s["serviceType"] for c in t["coding"]}
        for s in schedules
        if s["id"] in typed
    )

    # Schedule -> its free Slots (same reference as Slot.schedule) -> a booking
    wanted = f"Schedule/{schedule['id']}"
    free = search(
        fhir,
        "Slot",
        [("schedule", wanted), ("start", "ge2025-07-07"), ("start", "lt2025-07-12")],
    )[0]
    assert free and all(s["schedule"]["reference"] == wanted for s in free)
    slot = next(s for s in free if s["id"] not in _used)
    _used.add(slot["id"])
    booked = fhir.post("Appointment", json=booking(slot), headers=FHIR_JSON)
    assert booked.status_code == 201, booked.text
    actors = [p["actor"]["reference"] for p in booked.json()["participant"]]
    assert actors[1:] == [a["reference"] for a in schedule["actor"]]


def test_schedule_of_an_unknown_pair_is_404(fhir: httpx.Client) -> None:
    for rid in (f"a-{PID}.Schedule-23-999", f"a-{PID}.Schedule-999999-1"):
        missing = fhir.get(f"Schedule/{rid}")
        assert missing.status_code == 404, rid
        assert missing.json()["resourceType"] == "OperationOutcome"
    malformed = fhir.get(f"Schedule/a-{PID}.Schedule-23")
    assert malformed.status_code in (400, 404)
    assert malformed.json()["resourceType"] == "OperationOutcome"


def test_metadata_advertises_schedule_and_appointment_id(fhir: httpx.Client) -> None:
    statement = fhir.get("metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    schedule = resources["Schedule"]
    assert {i["code"] for i in schedule["interaction"]} == {"read", "search-type"}
    assert {p["name"] for p in schedule["searchParam"]} == {
        "_id",
        "identifier",
        "actor",
        "service-type",
    }
    assert "_id" in {p["name"] for p in resources["Appointment"]["searchParam"]}


# -- Appointment?_id ----------------------------------------------------------------------


def test_appointment_id_search(fhir: httpx.Client) -> None:
    slot = free_slot(fhir)
    created = fhir.post("Appointment", json=booking(slot), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    found = search(fhir, "Appointment", {"_id": rid})[0]
    assert [a["id"] for a in found] == [rid]
    assert found[0]["status"] == "booked"
    open_slot = free_slot(fhir)  # an open slot is no Appointment
    as_appointment = open_slot["id"].replace(".Slot-", ".Appointment-")
    assert search(fhir, "Appointment", {"_id": as_appointment})[0] == []
    assert search(fhir, "Appointment", {"_id": f"a-{PID}.Appointment-99999999"})[0] == []
    assert search(fhir, "Appointment", {"_id": rid, "status": "cancelled"})[0] == []
    both = fhir.get("Appointment", params={"_id": f"{rid},{as_appointment}"})
    assert both.status_code == 400  # one id per search (athena reads one appointment)
    assert both.json()["resourceType"] == "OperationOutcome"


# -- Slot states --------------------------------------------------------------------------


def test_frozen_slot_is_never_free(fhir: httpx.Client, clinic: tuple[str, Any]) -> None:
    slot = free_slot(fhir, "2025-07-09")
    assert fhir.get(f"Slot/{slot['id']}").json()["status"] == "free"
    assert clinic[1].schedule.freeze(PID, local(slot["id"]), True, "API-TEST") == ""
    read = fhir.get(f"Slot/{slot['id']}")
    assert read.status_code == 200 and read.json()["status"] == "busy-unavailable"
    day = slot["start"][:10]
    assert slot["id"] not in {s["id"] for s in slots(fhir, day, status="free")}
    assert slot["id"] not in {s["id"] for s in slots(fhir, day)}
    assert all(s["status"] == "free" for s in slots(fhir, day))
    taken = fhir.post("Appointment", json=booking(slot), headers=FHIR_JSON)
    assert taken.status_code == 409, taken.text
    assert taken.json()["issue"][0]["code"] == "conflict"


def test_booked_slot_is_busy_and_a_cancelled_appointment_fills_none(fhir: httpx.Client) -> None:
    slot = free_slot(fhir, "2025-07-09")
    created = fhir.post("Appointment", json=booking(slot), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    appointment = created.json()
    assert appointment["slot"] == [{"reference": f"Slot/{slot['id']}"}]
    busy = fhir.get(f"Slot/{slot['id']}")
    assert busy.status_code == 200 and busy.json()["status"] == "busy"
    assert busy.json()["schedule"] == slot["schedule"]
    cancelled = fhir.put(
        f"Appointment/{appointment['id']}",
        json={**appointment, "status": "cancelled"},
        headers=FHIR_JSON,
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and "slot" not in cancelled.json()
    gone = fhir.get(f"Slot/{slot['id']}")
    assert gone.status_code == 404 and gone.json()["resourceType"] == "OperationOutcome"


# -- $book: If-None-Exist and reschedule ----------------------------------------------------


def _book_params(slot: Json, **extra: str) -> Json:
    parameters = [
        {
            "name": "appt-id",
            "valueUri": f"Appointment/{slot['id'].replace('.Slot-', '.Appointment-')}",
        },
        {"name": "patient-id", "valueUri": PATIENT},
    ]
    parameters += [{"name": k.replace("_", "-"), "valueUri": v} for k, v in extra.items()]
    return {"resourceType": "Parameters", "parameter": parameters}


def test_book_honours_if_none_exist(fhir: httpx.Client, admin: httpx.Client) -> None:
    slot = free_slot(fhir)
    admin.delete("calls")
    condition = {"If-None-Exist": f"identifier={APPOINTMENT_SYSTEM}|{local(slot['id'])}"}
    first = fhir.post(
        "Appointment/$book", json=_book_params(slot), headers={**FHIR_JSON, **condition}
    )
    assert first.status_code == 200, first.text
    appointment = first.json()["entry"][0]["resource"]
    assert appointment["status"] == "booked"
    again = fhir.post(
        "Appointment/$book", json=_book_params(slot), headers={**FHIR_JSON, **condition}
    )
    assert again.status_code == 200, again.text
    assert again.json()["entry"][0]["resource"]["id"] == appointment["id"]
    assert upstream_calls(admin, "PUT", "/appointments/{appointmentid}") == 1
    # a condition naming several appointments is refused, nothing is booked
    other = free_slot(fhir)
    several = fhir.post(
        "Appointment/$book",
        json=_book_params(other),
        headers={**FHIR_JSON, "If-None-Exist": f"patient={PATIENT}"},
    )
    assert several.status_code == 400
    assert several.json()["resourceType"] == "OperationOutcome"
    assert fhir.get(f"Slot/{other['id']}").json()["status"] == "free"


def test_reschedule_via_book_is_idempotent(
    fhir: httpx.Client, admin: httpx.Client, clinic: tuple[str, Any]
) -> None:
    old_slot, new_slot = free_slot(fhir), free_slot(fhir)
    created = fhir.post("Appointment", json=booking(old_slot), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    old = created.json()
    admin.delete("calls")
    body = _book_params(new_slot, cancelled_appt_id=f"Appointment/{old['id']}")
    headers = {**FHIR_JSON, "Idempotency-Key": "reschedule-1"}
    moved = fhir.post("Appointment/$book", json=body, headers=headers)
    assert moved.status_code == 200, moved.text
    new = moved.json()["entry"][0]["resource"]
    assert new["id"] == new_slot["id"].replace(".Slot-", ".Appointment-")
    assert new["status"] == "booked" and new["start"] == new_slot["start"]
    assert new["participant"][0]["actor"]["reference"] == PATIENT
    assert fhir.get(f"Appointment/{old['id']}").json()["status"] == "cancelled"
    assert fhir.get(f"Appointment/{new['id']}").json()["status"] == "booked"

    retried = fhir.post("Appointment/$book", json=body, headers=headers)
    assert retried.status_code == 200 and retried.json()["entry"][0]["resource"] == new
    assert upstream_calls(admin, "PUT", "/reschedule") == 1  # the retry replayed the answer
    record = clinic[1].schedule.appointment(PID, local(old["id"]))
    assert record.status == "x" and record.rescheduledappointmentid == local(new["id"])
    reused = fhir.post(
        "Appointment/$book",
        json=_book_params(free_slot(fhir), cancelled_appt_id=f"Appointment/{old['id']}"),
        headers=headers,
    )
    assert reused.status_code == 422  # the same key with another body
    day = new["start"][:10]
    found = search(fhir, "Appointment", {"date": day, "patient": PATIENT})[0]
    assert {a["id"]: a["status"] for a in found}.get(new["id"]) == "booked"


# -- references ---------------------------------------------------------------------------


def _resolve_all(
    fhir: httpx.Client, validator: ProfileValidator, wanted: set[str]
) -> dict[str, Json]:
    resolved: dict[str, Json] = {}
    pending = set(wanted)
    while pending:
        ref = pending.pop()
        response = fhir.get(ref)
        assert response.status_code == 200, (ref, response.text)
        target = response.json()
        rtype, rid = ref.split("/")
        assert (target["resourceType"], target["id"]) == (rtype, rid)
        resolved[ref] = target
        pending |= set(references(target)) - set(resolved)
    for ref, target in resolved.items():
        profile = PROFILES.get(target["resourceType"])
        errors = validator.validate(target, profile) if profile else _base_errors(target)
        assert errors == [], (ref, errors)
    return resolved


def test_every_scheduling_reference_resolves(
    fhir: httpx.Client, validator: ProfileValidator
) -> None:
    appointments = search(
        fhir, "Appointment", [("date", "ge2025-06-27"), ("date", "le2025-07-03"), ("_count", "200")]
    )[0]
    appointments += search(fhir, "Appointment", {"patient": PATIENT})[0]
    statuses = {a["status"] for a in appointments}
    assert {"booked", "fulfilled", "cancelled"} <= statuses
    free = slots(fhir, "2025-07-10")
    schedules = search(fhir, "Schedule", {})[0]
    encounters = search(fhir, "Encounter", {"patient": PATIENT})[0]
    read_encounters = [fhir.get(f"Encounter/{e['id']}").json() for e in encounters[:8]]
    linked = [e for e in read_encounters if e.get("appointment")]
    assert linked, "checked-in visits name their Appointment"
    wanted: set[str] = set()
    for resource in [*appointments, *free, *schedules, *read_encounters]:
        wanted.update(references(resource))
    kinds = {ref.split("/")[0] for ref in wanted}
    assert kinds >= {
        "Patient",
        "Practitioner",
        "Location",
        "Slot",
        "Schedule",
        "Appointment",
        "Organization",
    }
    resolved = _resolve_all(fhir, validator, wanted)
    for encounter in linked:
        target = resolved[encounter["appointment"][0]["reference"]]
        assert target["resourceType"] == "Appointment"
        assert target["participant"][0]["actor"]["reference"] == encounter["subject"]["reference"]
        assert target["status"] in {"arrived", "fulfilled", "cancelled", "noshow"}
    for appointment in appointments:
        for slot in appointment.get("slot", []):
            assert resolved[slot["reference"]]["status"] == "busy"
