"""athena's FHIR Event Subscription Platform pushing to the facade (no feed polling here):
the X-Hub-Signature is checked, athena's duplicates make one notification."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.event_platform import TOPIC_BASE
from emulator.server import ServerThread
from tests.conftest import facade_settings, start_facade
from tests.events.conftest import FAST, TODAY
from tests.events.support import FHIR_JSON, PID, Receiver, events_of, subscription, wait_status

SECRET = "athena-push-secret"


@pytest.fixture(scope="module")
def clinic() -> Iterator[tuple[str, Any]]:
    config = EmulatorConfig(
        today=TODAY,
        api_requests_per_second=100_000,
        token_requests_per_minute=10_000,
        push_duplicate_every=1,  # every notification arrives twice
        push_retry_base_seconds=0.2,
    )
    app = create_emulator(config)
    server = ServerThread(app)
    yield server.start(), app.state.emulator
    server.stop()


@pytest.fixture(scope="module")
def facade(clinic: tuple[str, Any], data_dir: Path) -> Iterator[str]:
    settings = facade_settings(
        clinic[0], data_dir, **{**FAST, "events_feeds": [], "events_athena_push_secret": SECRET}
    )
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


def _athena_token(base: str) -> str:
    response = httpx.post(
        f"{base}/oauth2/v1/token",
        data={"grant_type": "client_credentials", "scope": "system/Subscription.read"},
        auth=("facade-dev", "facade-dev-secret"),
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def test_pushed_changes_are_verified_and_deduplicated(
    facade: str,
    fhir: httpx.Client,
    receiver: Receiver,
    clinic: tuple[str, Any],
    admin: httpx.Client,
) -> None:
    upstream, world = clinic
    athena = {"Authorization": f"Bearer {_athena_token(upstream)}"}
    registered = httpx.post(
        f"{upstream}/fhir/r4/Subscription",
        json={
            "resourceType": "Subscription",
            "status": "requested",
            "criteria": TOPIC_BASE + "Appointment.cancel",
            "channel": {
                "type": "rest-hook",
                "endpoint": f"{facade}/events/athena",
                "payload": "application/fhir+json",
                "header": [f"X-Hub-Secret: {SECRET}"],
            },
        },
        headers=athena,
    )
    assert registered.status_code == 201, registered.text
    listed = httpx.get(f"{upstream}/fhir/r4/Subscription", headers=athena).json()
    assert listed["total"] == 1
    created = fhir.post(
        "Subscription",
        json=subscription(receiver.base + "/push", "appointment-cancelled"),
        headers=FHIR_JSON,
    )
    sid = created.json()["id"]
    wait_status(fhir, sid, "active")

    booked = next(
        r
        for r in world.schedule.all_appointments(PID)
        if r.status == "f" and r.patientid and r.date > world.today
    )
    assert (
        admin.post(f"athena/{PID}/appointments/{booked.appointmentid}/cancel", json={}).status_code
        == 200
    )
    receiver.wait("/push", lambda got: len(events_of(got)) >= 1)
    time.sleep(1.5)
    (event,) = events_of(receiver.at("/push"))
    assert event.focus[0].endswith(f"/Appointment/a-{PID}.Appointment-{booked.appointmentid}")
    assert world.push_platform.sent >= 1

    forged = b'{"resourceType":"Bundle","type":"history","entry":[]}'
    bad = httpx.post(
        f"{facade}/events/athena", content=forged, headers={"X-Hub-Signature": "sha256=00"}
    )
    assert bad.status_code == 401
    good = hmac.new(SECRET.encode(), forged, hashlib.sha256).hexdigest()
    ok = httpx.post(
        f"{facade}/events/athena", content=forged, headers={"X-Hub-Signature": f"sha256={good}"}
    )
    assert ok.status_code == 200 and ok.json() == {"queued": 0}
    assert (
        httpx.delete(
            f"{upstream}/fhir/r4/Subscription/{registered.json()['id']}", headers=athena
        ).status_code
        == 204
    )
