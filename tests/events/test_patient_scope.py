"""A patient's own Subscription: full-resource payloads stay inside its compartment, and
revoking the grant turns the Subscription off. The token comes from the real SMART code
flow (patient.demo, whose record is Donna's)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from tests.auth.smart_support import DONNA, PUBLIC, exchange, run_flow
from tests.events.support import (
    FHIR_JSON,
    Receiver,
    booking,
    events_of,
    open_slot,
    subscription,
    wait_status,
)

TAKEN: set[int] = set()
OTHER = "a-195900.E-60180"


def _patient_token(facade: str) -> str:
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        flow = run_flow(
            http, facade, scope="launch/patient openid fhirUser offline_access patient/*.cruds"
        )
        token = exchange(http, facade, flow).json()
    assert token["patient"] == DONNA
    return str(token["access_token"])


def test_full_resource_stays_in_the_patient_compartment_and_revocation_turns_it_off(
    facade: str, fhir: httpx.Client, receiver: Receiver, clinic: tuple[str, Any], data_dir: Path
) -> None:
    token = _patient_token(facade)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{facade}/fhir/r4", headers=headers, timeout=30) as mine:
        body = subscription(
            receiver.base + "/patient", "appointment-booked", content="full-resource"
        )
        created = mine.post("Subscription", json=body, headers=FHIR_JSON)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        wait_status(mine, sid, "active")
        # the system client (not the patient) books for someone else, then for Donna
        for patient in (OTHER, DONNA, OTHER):
            slot = open_slot(clinic[1], skip=TAKEN)
            made = fhir.post("Appointment", json=booking(slot, patient), headers=FHIR_JSON)
            assert made.status_code == 201, made.text
        got = receiver.wait("/patient", lambda got: len(events_of(got)) >= 1)
        time.sleep(1.5)
        (event,) = events_of(receiver.at("/patient"))
        resources = [e["resource"] for e in event.json["entry"][1:] if "resource" in e]
        assert [r["participant"][0]["actor"]["reference"] for r in resources] == [
            f"Patient/{DONNA}"
        ]
        assert got
        # another patient's Subscription is not this patient's to see
        assert fhir.get(f"Subscription/{sid}").status_code == 404

        revoked = httpx.post(f"{facade}/auth/revoke", data={"token": token, "client_id": PUBLIC})
        assert revoked.status_code == 200
        assert mine.get(f"Subscription/{sid}").status_code == 401
    slot = open_slot(clinic[1], skip=TAKEN)
    assert fhir.post("Appointment", json=booking(slot, DONNA), headers=FHIR_JSON).status_code == 201
    _wait_off(data_dir / "events.sqlite3", sid)
    time.sleep(1.0)
    assert len(events_of(receiver.at("/patient"))) == 1  # nothing after the revocation


def _wait_off(store: Path, sid: str) -> None:
    """The owner's token no longer works, so read the status from the store."""
    deadline = time.monotonic() + 30
    while True:
        with sqlite3.connect(store) as db:
            row = db.execute(
                "SELECT status, error FROM subscriptions WHERE id = ?", (sid,)
            ).fetchone()
        if row and row[0] == "off":
            assert "revoked" in row[1]
            return
        assert time.monotonic() < deadline, row
        time.sleep(0.05)
