"""Scheduling through the real emulator (fixed today, frozen clock) and a real facade.

find -> book -> read -> search by date -> cancel -> search shows cancelled; booking
by start/end + actors; 404 / 409 / 400 / 422 answers; concurrent double booking;
retries with the same Idempotency-Key; a key reused with another body; a timeout
resolved by read-back; a pending ledger record resolved after a restart.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from emulator.server import ServerThread
from tests.api.scheduling.support import (
    FHIR_JSON,
    OTHER_PATIENT,
    PATIENT,
    PID,
    _client,
)
from tests.conftest import dev_token, facade_settings, start_facade
from tests.support.profiles import _base_errors

_used: set[str] = set()


def free_slot(fhir: httpx.Client, day: str = "2025-07-02") -> dict[str, Any]:
    """A free slot no other test has taken (tests share one emulator)."""
    found = fhir.get(
        "Slot",
        params=[("start", f"ge{day}"), ("start", f"lt{day}T23:59:59-05:00"), ("_count", "100")],
    )
    assert found.status_code == 200, found.text
    for entry in found.json()["entry"]:
        slot: dict[str, Any] = entry["resource"]
        if slot["id"] not in _used:
            _used.add(slot["id"])
            return slot
    raise AssertionError("no free slot left")


def booking(slot: dict[str, Any], patient: str = PATIENT) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": [{"actor": {"reference": patient}, "status": "accepted"}],
    }


def puts(admin: httpx.Client, local: str) -> int:
    """Booking calls athena received for one slot (PUT /appointments/{id})."""
    del local
    calls = admin.get("calls").json()["calls"]
    return sum(
        c["count"]
        for c in calls
        if c["method"] == "PUT" and c["path"].rstrip("/").endswith("appointments/{appointmentid}")
    )


def test_find_book_read_search_cancel(fhir: httpx.Client) -> None:
    found = fhir.get(
        "Appointment/$find",
        params={"start": "2025-07-02T00:00:00-05:00", "end": "2025-07-03T00:00:00-05:00"},
    )
    assert found.status_code == 200, found.text
    proposals = [e["resource"] for e in found.json()["entry"]]
    assert proposals and all(p["status"] == "proposed" for p in proposals)
    assert all(_base_errors(p) == [] for p in proposals)
    proposal = next(
        p for p in proposals if p["slot"][0]["reference"].removeprefix("Slot/") not in _used
    )
    _used.add(proposal["slot"][0]["reference"].removeprefix("Slot/"))
    assert {pa["status"] for pa in proposal["participant"]} == {"needs-action"}

    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "appt-id", "valueUri": f"Appointment/{proposal['id']}"},
            {"name": "patient-id", "valueUri": PATIENT},
        ],
    }
    booked = fhir.post("Appointment/$book", json=params, headers=FHIR_JSON)
    assert booked.status_code == 200, booked.text
    appointment = booked.json()["entry"][0]["resource"]
    assert appointment["id"] == proposal["id"] and appointment["status"] == "booked"
    assert appointment["participant"][0]["actor"]["reference"] == PATIENT
    assert _base_errors(appointment) == []

    read = fhir.get(f"Appointment/{proposal['id']}")
    assert read.status_code == 200 and read.json()["status"] == "booked"
    assert read.headers["etag"].startswith('W/"')

    day = proposal["start"][:10]
    search = fhir.get("Appointment", params={"date": day, "patient": PATIENT})
    assert search.status_code == 200
    assert proposal["id"] in [e["resource"]["id"] for e in search.json()["entry"]]
    ranged = fhir.get(
        "Appointment",
        params=[("date", f"ge{day}"), ("date", f"lt{day}T23:59:59-05:00"), ("actor", PATIENT)],
    )
    assert proposal["id"] in [e["resource"]["id"] for e in ranged.json()["entry"]]

    cancel = fhir.patch(
        f"Appointment/{proposal['id']}",
        content=json.dumps([{"op": "replace", "path": "/status", "value": "cancelled"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "cancelled"

    after = fhir.get(
        "Appointment", params={"date": day, "patient": PATIENT, "status": "cancelled,noshow"}
    )
    assert proposal["id"] in [e["resource"]["id"] for e in after.json()["entry"]]
    booked_only = fhir.get(
        "Appointment", params={"date": day, "patient": PATIENT, "status": "booked"}
    )
    assert proposal["id"] not in [e["resource"]["id"] for e in booked_only.json()["entry"]]
    assert fhir.get(f"Appointment/{proposal['id']}").json()["status"] == "cancelled"


def test_create_by_start_and_actors_then_cancel_by_put(fhir: httpx.Client) -> None:
    slot = free_slot(fhir, "2025-07-03")
    provider, department = slot["schedule"]["reference"].rsplit("-", 2)[-2:]
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": slot["start"],
        "end": slot["end"],
        "participant": [
            {
                "actor": {"reference": f"Practitioner/a-{PID}.Provider-{provider}"},
                "status": "accepted",
            },
            {
                "actor": {"reference": f"Location/a-{PID}.Department-{department}"},
                "status": "accepted",
            },
            {"actor": {"reference": OTHER_PATIENT}, "status": "accepted"},
        ],
    }
    created = fhir.post("Appointment", json=body, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    appointment = created.json()
    assert created.headers["location"].endswith(f"/Appointment/{appointment['id']}")
    assert created.headers["etag"].startswith('W/"')
    assert appointment["slot"][0]["reference"] == f"Slot/{slot['id']}"
    cancelled = {**appointment, "status": "cancelled", "cancelationReason": {"text": "moved away"}}
    put = fhir.put(f"Appointment/{appointment['id']}", json=cancelled, headers=FHIR_JSON)
    assert put.status_code == 200, put.text
    assert put.json()["status"] == "cancelled"
    again = fhir.put(f"Appointment/{appointment['id']}", json=cancelled, headers=FHIR_JSON)
    assert again.status_code == 200  # already cancelled: nothing to do


def test_errors_point_at_the_element(fhir: httpx.Client) -> None:
    slot = free_slot(fhir)
    missing = fhir.post(
        "Appointment",
        json={**booking(slot), "slot": [{"reference": f"Slot/a-{PID}.Slot-99999999"}]},
        headers=FHIR_JSON,
    )
    assert missing.status_code == 404
    assert missing.json()["issue"][0]["code"] == "not-found"
    status = fhir.post(
        "Appointment", json={**booking(slot), "status": "pending"}, headers=FHIR_JSON
    )
    assert status.status_code == 422
    assert status.json()["issue"][0]["expression"] == ["Appointment.status"]
    no_patient = fhir.post(
        "Appointment", json={**booking(slot), "participant": []}, headers=FHIR_JSON
    )
    assert no_patient.status_code == 422
    assert no_patient.json()["issue"][0]["expression"] == [
        "Appointment.participant.actor.reference"
    ]
    wrong_type = fhir.post("Appointment", json={"resourceType": "Patient"}, headers=FHIR_JSON)
    assert wrong_type.status_code == 400
    assert wrong_type.json()["issue"][0]["expression"] == ["resourceType"]
    bad_start = fhir.post(
        "Appointment",
        json={
            "resourceType": "Appointment",
            "status": "booked",
            "start": "tomorrow",
            "participant": [
                {"actor": {"reference": PATIENT}, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/a-{PID}.Provider-1"}, "status": "accepted"},
                {"actor": {"reference": f"Location/a-{PID}.Department-1"}, "status": "accepted"},
            ],
        },
        headers=FHIR_JSON,
    )
    assert bad_start.status_code == 400
    assert bad_start.json()["issue"][0]["expression"] == ["Appointment.start"]
    with fhir_token_client(fhir, "system/*.rs") as read_only:
        denied = read_only.post("Appointment", json=booking(slot), headers=FHIR_JSON)
        assert denied.status_code == 403


def fhir_token_client(fhir: httpx.Client, scope: str) -> httpx.Client:
    base = str(fhir.base_url).removesuffix("/fhir/r4/").removesuffix("/fhir/r4")
    token = dev_token(base, scope)
    return httpx.Client(base_url=fhir.base_url, headers={"Authorization": f"Bearer {token}"})


def test_taken_slot_is_409(fhir: httpx.Client) -> None:
    slot = free_slot(fhir)
    assert fhir.post("Appointment", json=booking(slot), headers=FHIR_JSON).status_code == 201
    taken = fhir.post("Appointment", json=booking(slot, OTHER_PATIENT), headers=FHIR_JSON)
    assert taken.status_code == 409
    assert taken.json()["issue"][0]["code"] == "conflict"


def test_concurrent_double_booking_gives_one_201(fhir: httpx.Client) -> None:
    for _ in range(3):
        slot = free_slot(fhir)
        bodies = [booking(slot, PATIENT), booking(slot, OTHER_PATIENT)] * 3
        with ThreadPoolExecutor(len(bodies)) as pool:
            answers = list(
                pool.map(lambda b: fhir.post("Appointment", json=b, headers=FHIR_JSON), bodies)
            )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201, 409, 409, 409, 409, 409], [a.text for a in answers]


def test_retry_with_same_key_books_once(
    fhir: httpx.Client, admin: httpx.Client, clinic: tuple[str, Any]
) -> None:
    slot = free_slot(fhir)
    admin.delete("calls")
    headers = {**FHIR_JSON, "Idempotency-Key": "retry-1"}
    first = fhir.post("Appointment", json=booking(slot), headers=headers)
    second = fhir.post("Appointment", json=booking(slot), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert first.headers["location"] == second.headers["location"]
    assert puts(admin, slot["id"]) == 1
    with ThreadPoolExecutor(4) as pool:  # concurrent retries: the first answer, replayed
        answers = list(
            pool.map(
                lambda _: fhir.post("Appointment", json=booking(slot), headers=headers), range(4)
            )
        )
    assert all(a.status_code == 201 and a.json() == first.json() for a in answers)
    assert puts(admin, slot["id"]) == 1
    reused = fhir.post("Appointment", json=booking(slot, OTHER_PATIENT), headers=headers)
    assert reused.status_code == 422
    local = int(slot["id"].rsplit("-", 1)[1])
    record = clinic[1].schedule.appointment(PID, local)
    assert record.status == "f" and record.patientid == 60178


def test_if_none_exist_returns_the_match(fhir: httpx.Client) -> None:
    slot = free_slot(fhir)
    created = fhir.post("Appointment", json=booking(slot), headers=FHIR_JSON)
    assert created.status_code == 201
    local = created.json()["identifier"][0]["value"]
    again = fhir.post(
        "Appointment",
        json=booking(slot),
        headers={
            **FHIR_JSON,
            "If-None-Exist": f"identifier=urn:athenahealth:athenanet:appointment:{PID}|{local}",
        },
    )
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]


def _facade(clinic_url: str, data_dir: Path, **overrides: Any) -> tuple[ServerThread, httpx.Client]:
    settings = facade_settings(
        clinic_url,
        data_dir,
        upstream_read_timeout=0.3,
        upstream_retry_attempts=1,
        request_deadline_seconds=6.0,
        **overrides,
    )
    server = start_facade(settings)
    return server, _client(settings.base_url)


def _booked_for(clinic: tuple[str, Any], slot: dict[str, Any], patientid: int) -> bool:
    record = clinic[1].schedule.appointment(PID, int(slot["id"].rsplit("-", 1)[1]))
    return bool(record.status == "f" and record.patientid == patientid)


def test_timeout_is_read_back_then_retried_once(
    clinic: tuple[str, Any], admin: httpx.Client, fhir: httpx.Client, tmp_path: Path
) -> None:
    """athena never got the booking (the emulator drops a request whose client left):
    read-back finds the slot still open, the client gets 504, the ledger keeps the
    record pending, and the retry with the same key books exactly once."""
    slot = free_slot(fhir)
    server, client = _facade(
        clinic[0], tmp_path, write_readback_attempts=2, write_readback_interval=0.1
    )
    try:
        rule = {
            "kind": "timeout",
            "methods": ["PUT"],
            "path": "/appointments/",
            "count": 1,
            "delay_seconds": 0.6,
        }
        assert admin.post("faults/rules", json=rule).status_code < 300
        headers = {**FHIR_JSON, "Idempotency-Key": "timeout-1"}
        first = client.post("Appointment", json=booking(slot), headers=headers)
        assert first.status_code == 504, first.text
        time.sleep(0.7)
        assert not _booked_for(clinic, slot, 60178)
        retried = client.post("Appointment", json=booking(slot), headers=headers)
        assert retried.status_code == 201, retried.text
        assert _booked_for(clinic, slot, 60178)
        replay = client.post("Appointment", json=booking(slot), headers=headers)
        assert replay.json() == retried.json()
    finally:
        client.close()
        server.stop()


def test_pending_record_is_resolved_by_read_back_after_restart(
    clinic: tuple[str, Any], admin: httpx.Client, fhir: httpx.Client, tmp_path: Path
) -> None:
    """The booking reached athena although the facade timed out: after a restart the
    pending ledger record is resolved by reading the slot back, with no new booking."""
    slot = free_slot(fhir)
    headers = {**FHIR_JSON, "Idempotency-Key": "restart-1"}
    server, client = _facade(
        clinic[0], tmp_path, write_readback_attempts=1, write_readback_interval=0.05
    )
    try:
        rule = {
            "kind": "timeout",
            "methods": ["PUT"],
            "path": "/appointments/",
            "count": 1,
            "delay_seconds": 0.6,
        }
        assert admin.post("faults/rules", json=rule).status_code < 300
        first = client.post("Appointment", json=booking(slot), headers=headers)
        assert first.status_code == 504, first.text
    finally:
        client.close()
        server.stop()
    time.sleep(0.7)
    local = int(slot["id"].rsplit("-", 1)[1])  # athena applied it after all
    clinic[1].schedule.book(
        PID,
        local,
        60178,
        appointmenttypeid=None,
        reasonid=None,
        ignore_permission=False,
        by="API-TEST",
    )
    admin.delete("calls")
    server, client = _facade(clinic[0], tmp_path)  # same data dir: same ledger
    try:
        retried = client.post("Appointment", json=booking(slot), headers=headers)
        assert retried.status_code == 201, retried.text
        assert retried.json()["id"] == slot["id"].replace(".Slot-", ".Appointment-")
        assert puts(admin, slot["id"]) == 0  # resolved by read-back, not booked again
        replay = client.post("Appointment", json=booking(slot), headers=headers)
        assert replay.status_code == 201 and replay.json() == retried.json()
        other = client.post("Appointment", json=booking(slot, OTHER_PATIENT), headers=headers)
        assert other.status_code == 422
    finally:
        client.close()
        server.stop()


def test_metadata_advertises_what_works(fhir: httpx.Client) -> None:
    statement = fhir.get("metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    appointment = resources["Appointment"]
    assert {i["code"] for i in appointment["interaction"]} == {
        "read",
        "search-type",
        "create",
        "update",
        "patch",
    }
    for op in appointment["operation"]:
        definition = fhir.get(op["definition"])
        assert definition.status_code == 200
        assert definition.json()["url"] == op["definition"]
        assert _base_errors(definition.json()) == []
    assert "Slot" in resources and "create" not in {
        i["code"] for i in resources["Slot"]["interaction"]
    }
