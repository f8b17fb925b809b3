"""$find with dates, JSON Merge Patch, and the cancellation reason a client sends.

Through the real clinic emulator (fixed today) and a real facade; every write is
checked in the emulator's records, not only in the answer.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api.scheduling.support import FHIR_JSON, PATIENT, PID
from tests.api.scheduling.test_scheduling import booking, free_slot

MERGE = {"Content-Type": "application/merge-patch+json"}


def _record(clinic: tuple[str, Any], appointment_id: str) -> Any:
    return clinic[1].schedule.appointment(PID, int(appointment_id.rsplit("-", 1)[1]))


def test_find_takes_dates_as_whole_local_days(fhir: httpx.Client) -> None:
    day = {"start": "2025-07-02", "end": "2025-07-02", "_count": "100"}
    by_date = fhir.get("Appointment/$find", params=day)
    assert by_date.status_code == 200, by_date.text
    entries = by_date.json()["entry"]
    assert entries and {e["resource"]["start"][:10] for e in entries} == {"2025-07-02"}
    # The departments span several US zones, each slot kept by its own local date.
    assert len({e["resource"]["start"][19:] for e in entries}) > 1

    # Within US zones the same day as dateTimes gives exactly the same proposals.
    by_time = fhir.get(
        "Appointment/$find",
        params={
            "start": "2025-07-02T00:00:00-05:00",
            "end": "2025-07-02T23:59:59-08:00",
            "_count": "100",
        },
    )
    assert by_time.status_code == 200, by_time.text
    assert {e["resource"]["id"] for e in entries} == {
        e["resource"]["id"] for e in by_time.json()["entry"]
    }

    # Several days: every proposal is on one of them, and both days are there.
    span = fhir.get(
        "Appointment/$find", params={"start": "2025-07-02", "end": "2025-07-03", "_count": "100"}
    )
    assert {e["resource"]["start"][:10] for e in span.json()["entry"]} == {
        "2025-07-02",
        "2025-07-03",
    }


def test_find_still_refuses_a_datetime_without_zone_and_garbage(fhir: httpx.Client) -> None:
    for value in ("2025-07-02T09:00:00", "July 2nd", "2025-13-01"):
        answer = fhir.get("Appointment/$find", params={"start": value, "end": "2025-07-03"})
        assert answer.status_code == 400, (value, answer.text)
        assert answer.json()["issue"][0]["expression"] == ["start"]


def test_cancel_by_merge_patch_keeps_the_reason(
    fhir: httpx.Client, clinic: tuple[str, Any]
) -> None:
    created = fhir.post("Appointment", json=booking(free_slot(fhir)), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    patched = fhir.patch(
        f"Appointment/{rid}",
        content=json.dumps(
            {"status": "cancelled", "cancelationReason": {"text": "Feeling better"}}
        ),
        headers=MERGE,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "cancelled"
    assert patched.json()["cancelationReason"]["text"] == "Feeling better"
    record = _record(clinic, rid)
    assert record.status == "x" and record.cancelnote == "Feeling better"
    assert fhir.get(f"Appointment/{rid}").json()["cancelationReason"]["text"] == "Feeling better"


def test_cancel_without_a_reason_reads_athenas(fhir: httpx.Client, clinic: tuple[str, Any]) -> None:
    created = fhir.post("Appointment", json=booking(free_slot(fhir)), headers=FHIR_JSON)
    rid = created.json()["id"]
    put = fhir.put(
        f"Appointment/{rid}", json={**created.json(), "status": "cancelled"}, headers=FHIR_JSON
    )
    assert put.status_code == 200, put.text
    assert put.json()["cancelationReason"]["text"] == "CANCELLED FROM API"
    assert _record(clinic, rid).cancelnote is None


def test_merge_patch_only_changes_what_a_patch_may(
    fhir: httpx.Client, clinic: tuple[str, Any]
) -> None:
    created = fhir.post("Appointment", json=booking(free_slot(fhir)), headers=FHIR_JSON)
    rid = created.json()["id"]
    for document, element in (
        ({"start": "2030-01-01T09:00:00Z"}, "Appointment.start"),
        ({"id": "a-195900.Appointment-1"}, "Appointment.id"),
        ({"participant": None}, "Appointment.participant"),
    ):
        answer = fhir.patch(f"Appointment/{rid}", content=json.dumps(document), headers=MERGE)
        assert answer.status_code == 422, answer.text
        assert answer.json()["issue"][0]["expression"] == [element]
    not_object = fhir.patch(f"Appointment/{rid}", content="[1]", headers=MERGE)
    assert not_object.status_code == 400
    assert _record(clinic, rid).status == "f"  # nothing changed in athena
    assert _record(clinic, rid).patientid == int(PATIENT.rsplit("-", 1)[1])


def test_patch_with_another_media_type_is_415(fhir: httpx.Client) -> None:
    answer = fhir.patch(
        "Appointment/a-195900.Appointment-1",
        content="{}",
        headers={"Content-Type": "text/plain"},
    )
    assert answer.status_code == 415
    assert "merge-patch+json" in answer.json()["issue"][0]["diagnostics"]
