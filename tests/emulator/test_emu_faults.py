"""Faults that lose athena's answer (``reset``, ``timeout``), over real HTTP.

A held request whose client gave up never reaches athena. Every rule here fires
once (``count`` 1), so the retry meets athena itself. The emulator is private to
this module (faults cannot leak).
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

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.server import ServerThread

P = "/v1/195900"
TODAY = date(2025, 6, 30)  # a Monday; the clock is frozen at 09:00 department-local
NOW = datetime(2025, 6, 30, 14, 0, tzinfo=UTC).timestamp()
GAVE_UP = 0.5  # the impatient client's read timeout
HELD = 1.0  # how long a timeout rule holds the request: longer than GAVE_UP
_slot_numbers = itertools.count()


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


def lose_answer(admin: httpx.Client, kind: str, method: str, path: str, **extra: Any) -> None:
    rule = {"kind": kind, "methods": [method], "path": path, "count": 1, "delay_seconds": HELD}
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


def settle() -> None:
    """Let the held request's time run out: even then nothing happens."""
    time.sleep(HELD - GAVE_UP + 0.3)


def calls(admin: httpx.Client, method: str, template: str) -> int:
    rows = admin.get("calls").json()["calls"]
    return sum(c["count"] for c in rows if c["method"] == method and c["path"] == template)


def appointment(v1: httpx.Client, slot: str) -> dict[str, Any]:
    response = v1.get(f"{P}/appointments/{slot}")
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()[0]
    return row


# -- timeouts ----------------------------------------------------------------------------


def test_timeout_without_commit_drops_a_write_without_a_body(
    v1: httpx.Client, impatient: httpx.Client, admin: httpx.Client
) -> None:
    """Check-in takes no parameters, so nothing in it notices the client left: the
    injector itself drops a held request whose client gave up."""
    slot = booked_slot(v1, "60183", TODAY)
    lose_answer(admin, "timeout", "POST", "/checkin$")
    unanswered(impatient, "timeout", "POST", f"{P}/appointments/{slot}/checkin")
    settle()
    assert appointment(v1, slot)["appointmentstatus"] == "f"
    assert calls(admin, "POST", "/v1/{practiceid}/appointments/{appointmentid}/checkin") == 0
    assert v1.post(f"{P}/appointments/{slot}/checkin").status_code == 200
    assert appointment(v1, slot)["appointmentstatus"] == "2"


# -- a patient client still hears the answer, late ---------------------------------------


def test_timeout_answers_late_when_the_client_waits(v1: httpx.Client, admin: httpx.Client) -> None:
    slot = new_slot(v1)
    lose_answer(admin, "timeout", "PUT", f"/appointments/{slot}$", delay_seconds=0.3)
    started = time.monotonic()
    response = v1.put(f"{P}/appointments/{slot}", data={"patientid": "60184", "reasonid": "563"})
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200, response.text
    assert response.json()[0]["appointmentid"] == slot
    assert response.json()[0]["patientid"] == "60184"
    assert "x-request-id" in response.headers
