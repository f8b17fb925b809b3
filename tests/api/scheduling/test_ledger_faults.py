"""The ledger never loses or invents an outcome: every keyed write retried under a fault.

Real HTTP throughout: the clinic emulator (frozen clock) with its fault rules, and a
facade of this test's own (its own data directory, so its own ledger and budget). Each
test asserts what athena holds afterwards (the emulator's records and the calls that
reached it), not only what the client was told:

- athena's 429 storm, the facade's own rate budget and an open circuit answer 429 /
  503 without poisoning the key: the record stays pending and a later retry books once;
- 502 / 503 from athena and a timeout leave it retryable; the retry books once;
- athena applied the write but its answer was lost (``"commit": true``): the read-back
  finds the booking, in the request or on the retry, and nothing is booked twice;
- the same for rescheduling through ``$book``, and a cancel retried after a lost answer;
- a holder whose lease ran out (another process took the key over) does not call athena
  and does not overwrite the taker's answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import pytest

from emulator.server import ServerThread
from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.engine import idempotency
from facade.engine.runtime import open_services
from facade.errors import Conflict
from facade.store.ledger import SqliteLedger
from tests.api.scheduling.ledger_support import (
    BOOK,
    CANCEL,
    RESCHEDULE,
    WRITES,
    Slots,
    add_rule,
    appointment_body,
    book_params,
    booked_for,
    create,
    ledger_record,
    local,
    still_open,
)
from tests.api.scheduling.support import FHIR_JSON, PID, _client
from tests.conftest import facade_settings, start_facade

SLOTS = Slots()
KINDS = list(WRITES)


class Facade:
    def __init__(self, server: ServerThread, fhir: httpx.Client, data_dir: Path) -> None:
        self.server, self.fhir, self.data_dir = server, fhir, data_dir

    def record(self, key: str) -> Any:
        return ledger_record(self.data_dir, key)


@pytest.fixture
def make_facade(clinic: tuple[str, Any], tmp_path: Path) -> Iterator[Any]:
    started: list[Facade] = []

    def make(**overrides: Any) -> Facade:
        values: dict[str, Any] = {
            "upstream_read_timeout": 0.4,
            "upstream_retry_attempts": 1,
            "request_deadline_seconds": 6.0,
            "write_readback_attempts": 2,
            "write_readback_interval": 0.05,
            **overrides,
        }
        data_dir = tmp_path / f"facade-{len(started)}"
        settings = facade_settings(clinic[0], data_dir, **values)
        facade = Facade(start_facade(settings), _client(settings.base_url), data_dir)
        started.append(facade)
        return facade

    yield make
    for facade in started:
        facade.fhir.close()
        facade.server.stop()


def calls(clinic: tuple[str, Any], template: str, method: str = "PUT") -> int:
    """Requests that reached athena (a fault answered without athena is not one)."""
    count: int = clinic[1].calls(method, template)
    return count


def pending(record: Any, attempts: int) -> bool:
    """Retryable, with what is known: the intent, the attempts, and no holder."""
    return bool(
        record is not None
        and record.state == "pending"
        and record.owner is None
        and record.attempts == attempts
        and record.intent.get("patientid") == "60178"
    )


def same_answer(a: httpx.Response, b: httpx.Response) -> bool:
    return a.status_code == b.status_code and a.json() == b.json()


# -- throttling and circuit breaking ------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_athena_429_storm_does_not_poison_the_key(
    kind: str, make_facade: Any, fhir: httpx.Client, admin: httpx.Client, clinic: tuple[str, Any]
) -> None:
    write, ok = WRITES[kind]
    facade = make_facade()
    slot, key = SLOTS.take(fhir), f"storm-{kind}"
    clinic[1].reset_call_counts()
    # three bookings in a row meet athena's 429 (each time the client retries later)
    add_rule(
        admin,
        kind="status",
        status=429,
        retry_after=1,
        methods=["PUT"],
        path=r"/appointments/\d+$",
        count=3,
    )
    for attempt in range(1, 4):
        throttled = write(facade.fhir, slot, key)
        assert throttled.status_code == 429, throttled.text
        assert throttled.headers["retry-after"]
        assert pending(facade.record(key), attempts=attempt)
        assert still_open(clinic[1], slot)
    booked = write(facade.fhir, slot, key)
    assert booked.status_code == ok, booked.text
    assert booked_for(clinic[1], slot)
    assert calls(clinic, BOOK) == 1  # one booking reached athena
    assert facade.record(key).state == "done"  # $book stores the create under it: 201
    assert facade.record(key).status == 201
    assert same_answer(write(facade.fhir, slot, key), booked)
    assert calls(clinic, BOOK) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_the_facades_own_rate_budget_does_not_poison_the_key(
    kind: str, make_facade: Any, fhir: httpx.Client, admin: httpx.Client, clinic: tuple[str, Any]
) -> None:
    """A tiny budget (4 calls, 2 per second, no queueing): drained by reads, the keyed
    write is refused here ("throttled"), before athena sees it; later it books once."""
    write, ok = WRITES[kind]
    facade = make_facade(
        upstream_rate_per_second=2.0, upstream_burst=4, upstream_queue_max_wait=0.0
    )
    slots = [SLOTS.take(fhir) for _ in range(7)]
    slot, key = slots[0], f"budget-{kind}"
    clinic[1].reset_call_counts()
    answers = [facade.fhir.get(f"Slot/{s['id']}").status_code for s in slots[1:]]
    assert 429 in answers, answers  # the budget is spent
    throttled = write(facade.fhir, slot, key)
    assert throttled.status_code == 429, throttled.text
    assert throttled.json()["issue"][0]["code"] == "throttled"
    record = facade.record(key)
    assert record is not None and record.state == "pending" and record.owner is None
    assert calls(clinic, BOOK) == 0 and still_open(clinic[1], slot)
    time.sleep(2.2)  # the budget is back
    booked = write(facade.fhir, slot, key)
    assert booked.status_code == ok, booked.text
    assert booked_for(clinic[1], slot) and calls(clinic, BOOK) == 1
    assert same_answer(write(facade.fhir, slot, key), booked)
    assert calls(clinic, BOOK) == 1


@pytest.mark.parametrize("status", [502, 503])
@pytest.mark.parametrize("kind", KINDS)
def test_a_5xx_burst_and_an_open_circuit_leave_the_key_retryable(
    kind: str,
    status: int,
    make_facade: Any,
    fhir: httpx.Client,
    admin: httpx.Client,
    clinic: tuple[str, Any],
) -> None:
    write, ok = WRITES[kind]
    facade = make_facade(breaker_failure_threshold=1, breaker_open_seconds=1.0)
    slot, key = SLOTS.take(fhir), f"5xx-{kind}-{status}"
    clinic[1].reset_call_counts()
    add_rule(
        admin, kind="status", status=status, methods=["PUT"], path=r"/appointments/\d+$", count=1
    )
    failed = write(facade.fhir, slot, key)
    assert failed.status_code == 502, failed.text  # athena failed: read back, still open
    assert pending(facade.record(key), attempts=1) and still_open(clinic[1], slot)
    circuit = write(facade.fhir, slot, key)  # the failure opened the circuit
    assert circuit.status_code == 503, circuit.text
    assert circuit.headers["retry-after"]
    assert pending(facade.record(key), attempts=1)
    time.sleep(1.1)
    booked = write(facade.fhir, slot, key)
    assert booked.status_code == ok, booked.text
    assert booked_for(clinic[1], slot) and calls(clinic, BOOK) == 1
    assert same_answer(write(facade.fhir, slot, key), booked)


@pytest.mark.parametrize("kind", KINDS)
def test_a_timeout_athena_never_acted_on_is_retried_once(
    kind: str, make_facade: Any, fhir: httpx.Client, admin: httpx.Client, clinic: tuple[str, Any]
) -> None:
    write, ok = WRITES[kind]
    facade = make_facade()
    slot, key = SLOTS.take(fhir), f"timeout-{kind}"
    clinic[1].reset_call_counts()
    add_rule(
        admin,
        kind="timeout",
        methods=["PUT"],
        path=r"/appointments/\d+$",
        count=1,
        delay_seconds=0.8,
    )
    timed_out = write(facade.fhir, slot, key)
    assert timed_out.status_code == 504, timed_out.text
    assert pending(facade.record(key), attempts=1)
    time.sleep(0.6)  # the held request would have reached athena by now: it never does
    assert still_open(clinic[1], slot) and calls(clinic, BOOK) == 0
    booked = write(facade.fhir, slot, key)
    assert booked.status_code == ok, booked.text
    assert booked_for(clinic[1], slot) and calls(clinic, BOOK) == 1
    assert same_answer(write(facade.fhir, slot, key), booked)


# -- committed but unacknowledged ---------------------------------------------------------


@pytest.mark.parametrize("fault", ["reset", "timeout"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_lost_answer_is_resolved_by_read_back_in_the_request(
    kind: str,
    fault: str,
    make_facade: Any,
    fhir: httpx.Client,
    admin: httpx.Client,
    clinic: tuple[str, Any],
) -> None:
    write, ok = WRITES[kind]
    facade = make_facade()
    slot, key = SLOTS.take(fhir), f"lost-{kind}-{fault}"
    clinic[1].reset_call_counts()
    add_rule(
        admin,
        kind=fault,
        commit=True,
        methods=["PUT"],
        path=r"/appointments/\d+$",
        count=1,
        delay_seconds=1.0,
    )
    booked = write(facade.fhir, slot, key)
    assert booked.status_code == ok, booked.text
    assert booked_for(clinic[1], slot) and calls(clinic, BOOK) == 1
    assert facade.record(key).state == "done"
    assert same_answer(write(facade.fhir, slot, key), booked)
    assert calls(clinic, BOOK) == 1


def _when(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


@pytest.mark.parametrize("kind", KINDS)
def test_a_lost_answer_unresolved_in_the_request_is_resolved_on_the_retry(
    kind: str, make_facade: Any, fhir: httpx.Client, admin: httpx.Client, clinic: tuple[str, Any]
) -> None:
    """athena booked it, the answer was lost, and athena could not be read back either
    (a 503 storm on reads): 504, pending; the retry reads back and books nothing."""
    write, ok = WRITES[kind]
    facade = make_facade(upstream_read_timeout=0.5)
    slot, key = SLOTS.take(fhir), f"unresolved-{kind}"
    clinic[1].reset_call_counts()
    add_rule(
        admin,
        kind="timeout",
        commit=True,
        methods=["PUT"],
        path=r"/appointments/\d+$",
        count=1,
        delay_seconds=2.0,
    )
    answers: list[httpx.Response] = []
    first = Thread(target=lambda: answers.append(write(facade.fhir, slot, key)))
    first.start()
    _when(lambda: booked_for(clinic[1], slot))  # athena has applied it; the answer is held
    add_rule(
        admin,
        kind="status",
        status=503,
        methods=["GET"],
        path=r"/appointments/\d+$",
        duration_seconds=1.5,
    )
    first.join()
    assert answers[0].status_code == 504, answers[0].text
    assert pending(facade.record(key), attempts=1)
    time.sleep(1.6)  # the read storm is over
    resolved = write(facade.fhir, slot, key)
    assert resolved.status_code == ok, resolved.text
    assert calls(clinic, BOOK) == 1  # resolved by read-back, not booked again
    assert booked_for(clinic[1], slot)
    assert same_answer(write(facade.fhir, slot, key), resolved)


# -- the other writes: reschedule ($book with cancelled-appt-id) and cancel --------------


@pytest.mark.parametrize("fault", ["503", "reset-commit", "timeout-commit"])
def test_a_reschedule_retried_under_a_fault_moves_the_appointment_once(
    fault: str, make_facade: Any, fhir: httpx.Client, admin: httpx.Client, clinic: tuple[str, Any]
) -> None:
    facade = make_facade()
    old_slot, new_slot = SLOTS.take(fhir), SLOTS.take(fhir)
    created = create(facade.fhir, old_slot, f"old-{fault}")
    assert created.status_code == 201, created.text
    old = created.json()["id"]
    clinic[1].reset_call_counts()
    if fault == "503":
        add_rule(admin, kind="status", status=503, methods=["PUT"], path="/reschedule$", count=1)
    else:
        add_rule(
            admin,
            kind=fault.split("-")[0],
            commit=True,
            methods=["PUT"],
            path="/reschedule$",
            count=1,
            delay_seconds=1.0,
        )
    body = book_params(new_slot, cancelled_appt_id=f"Appointment/{old}")
    headers = {**FHIR_JSON, "Idempotency-Key": f"move-{fault}"}
    first = facade.fhir.post("Appointment/$book", json=body, headers=headers)
    if fault == "503":
        assert first.status_code == 502, first.text
        assert pending(facade.record(f"move-{fault}"), attempts=1)
        assert still_open(clinic[1], new_slot)
        moved = facade.fhir.post("Appointment/$book", json=body, headers=headers)
    else:
        moved = first  # read back in the request
    assert moved.status_code == 200, moved.text
    assert moved.json()["entry"][0]["resource"]["id"] == new_slot["id"].replace(
        ".Slot-", ".Appointment-"
    )
    assert calls(clinic, RESCHEDULE) == 1
    assert booked_for(clinic[1], new_slot)
    record = clinic[1].schedule.appointment(PID, local(old_slot))
    assert record.status == "x" and record.rescheduledappointmentid == local(new_slot)
    again = facade.fhir.post("Appointment/$book", json=body, headers=headers)
    assert same_answer(again, moved) and calls(clinic, RESCHEDULE) == 1


@pytest.mark.parametrize("fault", ["503", "reset-commit"])
def test_a_cancel_retried_under_a_fault_cancels_once(
    fault: str, make_facade: Any, fhir: httpx.Client, admin: httpx.Client, clinic: tuple[str, Any]
) -> None:
    """A cancel is not keyed: its retry finds the state it asks for (or sends it once)."""
    facade = make_facade()
    slot = SLOTS.take(fhir)
    created = create(facade.fhir, slot, f"to-cancel-{fault}")
    assert created.status_code == 201, created.text
    appointment = created.json()
    clinic[1].reset_call_counts()
    if fault == "503":
        add_rule(admin, kind="status", status=503, methods=["PUT"], path="/cancel$", count=1)
    else:
        add_rule(admin, kind="reset", commit=True, methods=["PUT"], path="/cancel$", count=1)
    cancelled = {**appointment, "status": "cancelled"}
    url = f"Appointment/{appointment['id']}"
    failed = facade.fhir.put(url, json=cancelled, headers=FHIR_JSON)
    assert failed.status_code in (502, 503), failed.text
    retried = facade.fhir.put(url, json=cancelled, headers=FHIR_JSON)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "cancelled"
    assert calls(clinic, CANCEL) == 1
    record = clinic[1].schedule.appointment(PID, local(slot))
    assert record.status == "x" and record.patientid == 60178


# -- a holder whose lease ran out (a stalled process): the engine against the store -------


class _Takeover:
    """The facade's ledger, where another process takes the key over (the holder's lease
    ran out while it stalled) just before the holder's ``step``."""

    def __init__(self, ledger: Any, path: Path, step: str) -> None:
        self._ledger, self._step = ledger, step
        self.other = SqliteLedger(path)  # the other process's connection
        self.taker_answer = b'{"resourceType":"Appointment","id":"the-takers"}'

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    async def _take(self, key: str) -> None:
        record = await self._ledger.get(key)
        later = (record.lease_until or 0) + 1
        taken = await self.other.claim(key, record.fingerprint, "taker", later, 30)
        assert taken.held_by("taker")
        if self._step == "finish":
            assert await self.other.finish(key, "taker", 201, {}, self.taker_answer, later)

    async def attempted(self, key: str, *args: Any) -> bool:
        if self._step == "attempted":
            await self._take(key)
        ok: bool = await self._ledger.attempted(key, *args)
        return ok

    async def finish(self, key: str, *args: Any) -> bool:
        if self._step == "finish":
            await self._take(key)
        ok: bool = await self._ledger.finish(key, *args)
        return ok


@pytest.mark.parametrize("step", ["attempted", "finish"])
async def test_a_holder_whose_lease_ran_out_neither_calls_athena_nor_overwrites(
    step: str, clinic: tuple[str, Any], fhir: httpx.Client, tmp_path: Path
) -> None:
    settings = facade_settings(clinic[0], tmp_path)
    auth = AuthContext(
        client_id="engine-test",
        scopes=ScopeSet.parse("system/*.cruds"),
        practices=("195900", "195901"),
    )
    slot, key = SLOTS.take(fhir), f"stale-{step}"
    clinic[1].reset_call_counts()
    async with open_services(settings) as services:
        takeover = _Takeover(services.ledger, tmp_path / "idempotency.sqlite3", step)
        services.ledger = takeover
        try:
            if step == "attempted":  # lost before the call: athena is never asked
                with pytest.raises(Conflict, match="still in progress"):
                    await idempotency.create(
                        services, auth, "Appointment", appointment_body(slot), key=key
                    )
                assert calls(clinic, BOOK) == 0 and still_open(clinic[1], slot)
                record = await takeover.get(f"engine-test\n{key}")
                assert record.held_by("taker") and record.attempts == 0
            else:  # lost during the call: the taker's answer stands, and is the answer
                outcome = await idempotency.create(
                    services, auth, "Appointment", appointment_body(slot), key=key
                )
                assert outcome.body == {"resourceType": "Appointment", "id": "the-takers"}
                assert calls(clinic, BOOK) == 1 and booked_for(clinic[1], slot)
                record = await takeover.get(f"engine-test\n{key}")
                assert record.state == "done" and record.body == takeover.taker_answer
        finally:
            takeover.other.close()
