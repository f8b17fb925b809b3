"""Faults that lose athena's answer (``reset``, ``timeout``), over real HTTP.

Without ``commit`` the write never happens; with ``"commit": true`` athena applies it
and only the answer is lost, so the client sees exactly the same failure while the
emulator holds the change. Every rule here fires once (``count`` 1), so the retry
meets athena itself. The emulator is private to this module (faults cannot leak).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from emu_support import FakeClock, Running, fetch_token
from pydantic import ValidationError

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.faults import FaultPlan
from emulator.server import ServerThread

P = "/v1/195900"
TODAY = date(2025, 6, 30)  # a Monday; the clock is frozen at 09:00 department-local
NOW = datetime(2025, 6, 30, 14, 0, tzinfo=UTC).timestamp()
GAVE_UP = 0.5  # the impatient client's read timeout
HELD = 1.0  # how long a timeout rule holds the request: longer than GAVE_UP
TAKEN = {
    "detailedmessage": "The appointment ID is already booked or is not marked as being available to be scheduled via the API.",
    "error": "That appointment time was already booked or not available for booking.",
}
FAULTS = [
    pytest.param("reset", True, id="reset-commit"),
    pytest.param("timeout", True, id="timeout-commit"),
    pytest.param("reset", False, id="reset"),
    pytest.param("timeout", False, id="timeout"),
]
_slot_numbers = itertools.count()
_people = itertools.count()


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    config = EmulatorConfig(
        today=TODAY, token_requests_per_minute=100_000, api_requests_per_second=1_000_000
    )
    app = create_app(config, clock=FakeClock(NOW))
    with ServerThread(app) as base_url:
        yield Running(app, base_url)


@pytest.fixture(scope="module")
def v1(running: Running) -> Iterator[httpx.Client]:
    """A patient client: reads back what athena holds, and retries."""
    with httpx.Client(base_url=running.base_url, timeout=10) as plain:
        headers = {"Authorization": f"Bearer {fetch_token(plain)}"}
    with httpx.Client(base_url=running.base_url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def impatient(running: Running, v1: httpx.Client) -> Iterator[httpx.Client]:
    """The same caller, giving up after GAVE_UP seconds without an answer."""
    timeout = httpx.Timeout(10, read=GAVE_UP)
    with httpx.Client(base_url=running.base_url, headers=v1.headers, timeout=timeout) as client:
        yield client


@pytest.fixture
def admin(running: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{running.base_url}/_emulator", timeout=10) as client:
        client.delete("faults")
        client.delete("calls")
        yield client
        client.delete("faults")


def new_slot(v1: httpx.Client, day: date | None = None) -> str:
    """A fresh open slot (provider 86, department 1): its own time, never reused."""
    n = next(_slot_numbers)
    day = day or TODAY + timedelta(days=30 + n // 16)
    hhmm = f"{8 + (n % 16) // 2:02d}:{30 * (n % 2):02d}"
    response = v1.post(
        f"{P}/appointments/open",
        data={
            "departmentid": "1",
            "providerid": "86",
            "appointmentdate": day.strftime("%m/%d/%Y"),
            "appointmenttime": hhmm,
            "appointmenttypeid": "82",
        },
    )
    assert response.status_code == 200, response.text
    return str(next(iter(response.json()["appointmentids"])))


def booked_slot(v1: httpx.Client, patientid: str, day: date | None = None) -> str:
    slot = new_slot(v1, day)
    booked = v1.put(f"{P}/appointments/{slot}", data={"patientid": patientid, "reasonid": "563"})
    assert booked.status_code == 200, booked.text
    return slot


def lose_answer(
    admin: httpx.Client, kind: str, method: str, path: str, *, commit: bool, **extra: Any
) -> None:
    rule = {"kind": kind, "methods": [method], "path": path, "count": 1, "delay_seconds": HELD}
    if commit:
        rule["commit"] = True  # without it: the default
    response = admin.post("faults/rules", json={**rule, **extra})
    assert response.status_code == 201, response.text


def unanswered(client: httpx.Client, kind: str, method: str, url: str, **kwargs: Any) -> None:
    """The request fails as the fault says: a read timeout, or a dropped connection."""
    with pytest.raises(httpx.TransportError) as failure:
        client.request(method, url, **kwargs)
    if kind == "timeout":
        assert isinstance(failure.value, httpx.ReadTimeout)
    else:
        assert not isinstance(failure.value, httpx.TimeoutException)


def settle(kind: str, commit: bool) -> None:
    """Without commit, let the held request's time run out: even then nothing happens."""
    if kind == "timeout" and not commit:
        time.sleep(HELD - GAVE_UP + 0.3)


def calls(admin: httpx.Client, method: str, template: str) -> int:
    rows = admin.get("calls").json()["calls"]
    return sum(c["count"] for c in rows if c["method"] == method and c["path"] == template)


def appointment(v1: httpx.Client, slot: str) -> dict[str, Any]:
    response = v1.get(f"{P}/appointments/{slot}")
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()[0]
    return row


# -- the rule schema ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["status", "slow_body", "malformed_json", "soft_failure"])
def test_commit_is_refused_on_kinds_that_answer(admin: httpx.Client, kind: str) -> None:
    before = admin.get("faults").json()
    refused = admin.post("faults/rules", json={"kind": kind, "commit": True})
    assert refused.status_code == 400
    assert "commit is only valid for reset and timeout rules" in refused.json()["error"]
    plan = {"seed": 3, "rules": [{"kind": "reset"}, {"kind": kind, "commit": True}]}
    assert admin.put("faults", json=plan).status_code == 400
    assert admin.get("faults").json() == before  # the live plan is untouched
    with pytest.raises(ValidationError, match="commit is only valid"):
        EmulatorConfig(faults=plan)  # EMULATOR_FAULTS and --faults-file are refused alike
    assert admin.post("faults/rules", json={"kind": kind, "commit": "yes"}).status_code == 400


def test_commit_is_accepted_on_reset_and_timeout_and_shown(admin: httpx.Client) -> None:
    plan = {"rules": [{"kind": "reset", "commit": True}, {"kind": "timeout", "commit": True}]}
    response = admin.put("faults", json=plan)
    assert response.status_code == 200, response.text
    assert [r["commit"] for r in response.json()["rules"]] == [True, True]
    assert FaultPlan.model_validate({"rules": [{"kind": "timeout"}]}).rules[0].commit is False
    added = admin.post("faults/rules", json={"kind": "status", "status": 503})
    assert added.json()["rules"][-1]["commit"] is False


# -- committed but unacknowledged, write by write ----------------------------------------


@pytest.mark.parametrize(("kind", "commit"), FAULTS)
def test_booking(
    v1: httpx.Client, impatient: httpx.Client, admin: httpx.Client, kind: str, commit: bool
) -> None:
    slot = new_slot(v1)
    url, data = f"{P}/appointments/{slot}", {"patientid": "60178", "appointmenttypeid": "82"}
    lose_answer(admin, kind, "PUT", f"/appointments/{slot}$", commit=commit)
    unanswered(impatient, kind, "PUT", url, data=data)
    settle(kind, commit)
    row = appointment(v1, slot)
    if commit:
        assert row["appointmentstatus"] == "f" and row["patientid"] == "60178"
        assert calls(admin, "PUT", "/v1/{practiceid}/appointments/{appointmentid}") == 1
        retried = v1.put(url, data=data)  # the rule has fired: this is athena answering
        assert retried.status_code == 409 and retried.json() == TAKEN
    else:
        assert row["appointmentstatus"] == "o" and "patientid" not in row
        retried = v1.put(url, data=data)
        assert retried.status_code == 200, retried.text
        assert retried.json()[0]["appointmentstatus"] == "f"
        assert retried.json()[0]["patientid"] == "60178"
    assert admin.get("faults").json()["fired"] == [1]


@pytest.mark.parametrize(("kind", "commit"), FAULTS)
def test_cancel(
    v1: httpx.Client, impatient: httpx.Client, admin: httpx.Client, kind: str, commit: bool
) -> None:
    slot = booked_slot(v1, "60179")
    url, data = f"{P}/appointments/{slot}/cancel", {"patientid": "60179"}
    lose_answer(admin, kind, "PUT", f"/appointments/{slot}/cancel$", commit=commit)
    unanswered(impatient, kind, "PUT", url, data=data)
    settle(kind, commit)
    row = appointment(v1, slot)
    retried = v1.put(url, data=data)
    if commit:
        assert row["appointmentstatus"] == "x" and row["cancelledby"] == "API-facade-dev"
        assert retried.status_code == 400  # already cancelled
    else:
        assert row["appointmentstatus"] == "f" and "cancelledby" not in row
        assert retried.status_code == 200 and retried.json() == {"status": "x"}
        assert appointment(v1, slot)["appointmentstatus"] == "x"


@pytest.mark.parametrize(("kind", "commit"), FAULTS)
def test_patient_create(
    v1: httpx.Client, impatient: httpx.Client, admin: httpx.Client, kind: str, commit: bool
) -> None:
    lastname = f"Unacknowledged{next(_people)}"
    data = {
        "firstname": "Lost",
        "lastname": lastname,
        "dob": "03/04/1985",
        "departmentid": "1",
        "mobilephone": "6175550123",
    }
    lose_answer(admin, kind, "POST", f"^{P}/patients$", commit=commit)
    unanswered(impatient, kind, "POST", f"{P}/patients", data=data)
    settle(kind, commit)
    found = v1.get(f"{P}/patients", params={"lastname": lastname}).json()["patients"]
    retried = v1.post(f"{P}/patients", data=data)
    assert retried.status_code == 200, retried.text
    if commit:
        assert [p["firstname"] for p in found] == ["Lost"]
        # athena's patient matching: the retry finds the committed record, no duplicate
        assert retried.json() == [{"patientid": found[0]["patientid"]}]
    else:
        assert found == []
    again = v1.get(f"{P}/patients", params={"lastname": lastname}).json()["patients"]
    assert [p["patientid"] for p in again] == [retried.json()[0]["patientid"]]


@pytest.mark.parametrize("kind", ["reset", "timeout"])
def test_any_write_commits_reschedule_checkin_and_patient_update(
    v1: httpx.Client, impatient: httpx.Client, admin: httpx.Client, kind: str
) -> None:
    old, new = booked_slot(v1, "60180"), new_slot(v1)
    lose_answer(admin, kind, "PUT", "/reschedule$", commit=True)
    data = {"patientid": "60180", "newappointmentid": new}
    unanswered(impatient, kind, "PUT", f"{P}/appointments/{old}/reschedule", data=data)
    assert appointment(v1, old)["rescheduledappointmentid"] == new
    assert appointment(v1, new)["patientid"] == "60180"

    today = booked_slot(v1, "60181", TODAY)
    lose_answer(admin, kind, "POST", "/checkin$", commit=True)
    unanswered(impatient, kind, "POST", f"{P}/appointments/{today}/checkin")
    assert appointment(v1, today)["appointmentstatus"] == "2"

    lose_answer(admin, kind, "PUT", r"/patients/\d+$", commit=True)
    unanswered(impatient, kind, "PUT", f"{P}/patients/60182", data={"email": f"{kind}@example.com"})
    assert v1.get(f"{P}/patients/60182").json()[0]["email"] == f"{kind}@example.com"


def test_timeout_without_commit_drops_a_write_without_a_body(
    v1: httpx.Client, impatient: httpx.Client, admin: httpx.Client
) -> None:
    """Check-in takes no parameters, so nothing in it notices the client left: the
    injector itself drops a held request whose client gave up."""
    slot = booked_slot(v1, "60183", TODAY)
    lose_answer(admin, "timeout", "POST", "/checkin$", commit=False)
    unanswered(impatient, "timeout", "POST", f"{P}/appointments/{slot}/checkin")
    settle("timeout", False)
    assert appointment(v1, slot)["appointmentstatus"] == "f"
    assert calls(admin, "POST", "/v1/{practiceid}/appointments/{appointmentid}/checkin") == 0
    assert v1.post(f"{P}/appointments/{slot}/checkin").status_code == 200
    assert appointment(v1, slot)["appointmentstatus"] == "2"


# -- a patient client still hears the answer, late ---------------------------------------


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "no-commit"])
def test_timeout_answers_late_when_the_client_waits(
    v1: httpx.Client, admin: httpx.Client, commit: bool
) -> None:
    slot = new_slot(v1)
    lose_answer(admin, "timeout", "PUT", f"/appointments/{slot}$", commit=commit, delay_seconds=0.3)
    started = time.monotonic()
    response = v1.put(f"{P}/appointments/{slot}", data={"patientid": "60184", "reasonid": "563"})
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200, response.text
    assert response.json()[0]["appointmentid"] == slot
    assert response.json()[0]["patientid"] == "60184"
    assert "x-request-id" in response.headers
