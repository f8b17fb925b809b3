"""Helpers of the idempotency-ledger tests: free slots, the two keyed writes, what athena
holds afterwards, and the ledger record behind a key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from facade.store.ledger import LedgerRecord, SqliteLedger
from tests.api.scheduling.support import FHIR_JSON, PATIENT, PID, TODAY

Json = dict[str, Any]
BOOK = "/v1/{practiceid}/appointments/{appointmentid}"
RESCHEDULE = "/v1/{practiceid}/appointments/{appointmentid}/reschedule"
CANCEL = "/v1/{practiceid}/appointments/{appointmentid}/cancel"


class Slots:
    """Free slots, day after day from two days out, each handed out once."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._day = TODAY + timedelta(days=2)

    def take(self, fhir: httpx.Client) -> Json:
        for _ in range(60):
            day = self._day.isoformat()
            found = fhir.get(
                "Slot",
                params=[
                    ("start", f"ge{day}"),
                    ("start", f"lt{day}T23:59:59-05:00"),
                    ("_count", "100"),
                ],
            )
            assert found.status_code == 200, found.text
            for entry in found.json().get("entry", []):
                slot: Json = entry["resource"]
                if slot["id"] not in self._used:
                    self._used.add(slot["id"])
                    return slot
            self._day += timedelta(days=1)
        raise AssertionError("no free slot left")


def local(slot: Json) -> int:
    return int(slot["id"].rsplit("-", 1)[1])


def appointment_body(slot: Json, patient: str = PATIENT) -> Json:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": [{"actor": {"reference": patient}, "status": "accepted"}],
    }


def book_params(slot: Json, patient: str = PATIENT, **extra: str) -> Json:
    parameters = [
        {
            "name": "appt-id",
            "valueUri": f"Appointment/{slot['id'].replace('.Slot-', '.Appointment-')}",
        },
        {"name": "patient-id", "valueUri": patient},
    ]
    parameters += [{"name": k.replace("_", "-"), "valueUri": v} for k, v in extra.items()]
    return {"resourceType": "Parameters", "parameter": parameters}


Write = Callable[[httpx.Client, Json, str], httpx.Response]


def create(fhir: httpx.Client, slot: Json, key: str) -> httpx.Response:
    """POST Appointment with an Idempotency-Key (201)."""
    headers = {**FHIR_JSON, "Idempotency-Key": key}
    return fhir.post("Appointment", json=appointment_body(slot), headers=headers)


def book(fhir: httpx.Client, slot: Json, key: str) -> httpx.Response:
    """Appointment/$book with an Idempotency-Key (200, a Bundle)."""
    headers = {**FHIR_JSON, "Idempotency-Key": key}
    return fhir.post("Appointment/$book", json=book_params(slot), headers=headers)


WRITES = {"create": (create, 201), "book": (book, 200)}


def booked_for(world: Any, slot: Json, patientid: int = 60178) -> bool:
    """What athena holds: the slot is booked, for this patient."""
    record = world.schedule.appointment(PID, local(slot))
    return bool(record is not None and record.status == "f" and record.patientid == patientid)


def still_open(world: Any, slot: Json) -> bool:
    record = world.schedule.appointment(PID, local(slot))
    return bool(record is not None and record.status == "o" and record.patientid is None)


def ledger_record(data_dir: Path, key: str, client_id: str = "local-dev") -> LedgerRecord | None:
    ledger = SqliteLedger(data_dir / "idempotency.sqlite3")
    try:
        return asyncio.run(ledger.get(f"{client_id}\n{key}"))
    finally:
        ledger.close()


def add_rule(admin: httpx.Client, **rule: Any) -> None:
    response = admin.post("faults/rules", json=rule)
    assert response.status_code == 201, response.text
