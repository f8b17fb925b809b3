"""athena's changed-data feeds and the front-desk admin API (API-NOTES §3.11)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import httpx
from emu_support import FakeClock, Running, fetch_token

from emulator.changed_feeds import SETUP_MESSAGE
from emulator.config import EmulatorConfig

EASTERN = timezone(timedelta(hours=-5))
PID = "195900"


def _client(running: Running) -> httpx.Client:
    with httpx.Client(base_url=running.base_url) as plain:
        token = fetch_token(plain)
    return httpx.Client(
        base_url=f"{running.base_url}/v1/{PID}", headers={"Authorization": f"Bearer {token}"}
    )


def _booked_patient_appointment(running: Running) -> tuple[int, int]:
    for record in running.world.schedule.all_appointments(PID):
        if record.status == "f" and record.patientid and record.date > date(2025, 7, 2):
            return record.appointmentid, record.patientid
    raise AssertionError("no booked appointment")


def test_feeds_subscribe_mark_processed_and_replay(start_emulator) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2025, 6, 30, 14, 0, tzinfo=UTC).timestamp())
    running = start_emulator(
        EmulatorConfig(today=date(2025, 6, 30), token_requests_per_minute=1000), clock
    )
    with _client(running) as v1:
        refused = v1.get("/appointments/changed")
        assert refused.status_code == 403 and refused.json()["error"] == SETUP_MESSAGE
        assert v1.get("/appointments/changed/subscription").json() == {
            "status": "INACTIVE",
            "subscriptions": [],
        }
        names = [
            e["eventname"]
            for e in v1.get("/appointments/changed/subscription/events").json()["subscriptions"]
        ]
        assert "CancelAppointment" in names and "CheckIn" in names
        assert v1.post(
            "/appointments/changed/subscription", data={"eventname": "CancelAppointment"}
        ).json() == {"success": True}
        assert v1.get("/appointments/changed/subscription").json()["status"] == "PARTIAL"
        assert v1.post("/appointments/changed/subscription").json()["success"] is True
        assert v1.get("/appointments/changed/subscription").json()["status"] == "ACTIVE"

        appointmentid, patientid = _booked_patient_appointment(running)
        with httpx.Client(base_url=f"{running.base_url}/_emulator") as admin:
            cancelled = admin.post(f"athena/{PID}/appointments/{appointmentid}/cancel", json={})
            assert cancelled.status_code == 200 and cancelled.json()["appointmentstatus"] == "x"
            assert cancelled.json()["cancelledby"] == "FRONTDESK"
            edited = admin.post(
                f"athena/{PID}/patients/{patientid}", json={"homephone": "6175551234"}
            )
            assert edited.status_code == 200, edited.text
        # leaveunprocessed shows without consuming
        peek = v1.get("/appointments/changed", params={"leaveunprocessed": "true"}).json()
        assert peek["totalcount"] >= 1
        ids = {row["appointmentid"] for row in peek["appointments"]}
        assert str(appointmentid) in ids
        first = v1.get("/appointments/changed").json()
        assert {row["appointmentid"] for row in first["appointments"]} == ids
        assert v1.get("/appointments/changed").json()["appointments"] == []  # processed once
        # athena's replay of what was processed in a window (US Eastern)
        start = datetime.fromtimestamp(clock() - 60, EASTERN).strftime("%m/%d/%Y %H:%M:%S")
        end = datetime.fromtimestamp(clock() + 60, EASTERN).strftime("%m/%d/%Y %H:%M:%S")
        replay = v1.get(
            "/appointments/changed",
            params={"showprocessedstartdatetime": start, "showprocessedenddatetime": end},
        ).json()
        assert {row["appointmentid"] for row in replay["appointments"]} == ids
        # the patients feed was not subscribed when the phone changed: nothing recorded
        assert v1.get("/patients/changed").status_code == 403
        filtered = v1.get(
            "/appointments/changed", params={"showprocessedstartdatetime": start, "patientid": "1"}
        ).json()
        assert filtered["appointments"] == []
