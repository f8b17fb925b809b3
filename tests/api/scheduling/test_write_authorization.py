"""Writes are authorized on what is sent upstream (issue 9 item 1), over real HTTP.

Tokens come from the real flows: ``patient.demo`` (Donna, Patient/a-195900.E-60178)
and ``dr.demo`` through authorize -> login -> consent -> token, the system token
from ``client_credentials``. Every write route and operation is walked with a
patient token and a body naming another patient's appointment or the other
patient in each patient- and id-bearing element; each is refused with an
OperationOutcome and the emulator's schedule (every appointment and slot, with
its patient) is exactly as before. The positive paths (own booking, cancel,
reschedule; a clinician or system token booking for any patient of its
practice) still work, a keyed retry of a refused write is refused again, and
the cache never serves a copy older than the write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.smart_support import Keys, exchange, run_flow, write_clients
from tests.conftest import dev_token, facade_settings, start_facade

Json = dict[str, Any]
PID = "195900"
DONNA = f"Patient/a-{PID}.E-60178"  # patient.demo
OTHER = f"Patient/a-{PID}.E-60179"  # Eleana
FHIR_JSON = {"Content-Type": "application/fhir+json"}
PATCH_JSON = {"Content-Type": "application/json-patch+json"}
SYSTEM = f"urn:athenahealth:athenanet:appointment:{PID}"
BOOK = "Appointment/$book"


@pytest.fixture(scope="module")
def base(clinic: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("write-auth")
    write_clients(data_dir, Keys(), "http://127.0.0.1:9/jwks.json")  # never fetched here
    settings = facade_settings(clinic[0], data_dir)
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


def _client(base: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base}/fhir/r4", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def _user_token(base: str, user: str, scope: str) -> str:
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        flow = run_flow(http, base, scope=scope, user=user)
        response = exchange(http, base, flow)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture(scope="module")
def system(base: str) -> Iterator[httpx.Client]:
    with _client(base, dev_token(base, "system/*.cruds")) as client:
        yield client


@pytest.fixture(scope="module")
def patient(base: str) -> Iterator[httpx.Client]:
    """Donna's own token (the patient user): her compartment only."""
    token = _user_token(base, "patient.demo", "openid fhirUser patient/*.cruds")
    with _client(base, token) as client:
        assert client.get(f"{DONNA}").status_code == 200
        assert client.get(f"{OTHER}").status_code == 404
        yield client


@pytest.fixture(scope="module")
def clinician(base: str) -> Iterator[httpx.Client]:
    token = _user_token(base, "dr.demo", "openid fhirUser user/*.cruds")
    with _client(base, token) as client:
        yield client


# -- helpers ------------------------------------------------------------------------------

_used: set[str] = set()


def free_slot(system: httpx.Client, day: str = "2025-07-10") -> Json:
    found = system.get(
        "Slot",
        params=[("start", f"ge{day}"), ("start", f"lt{day}T23:59:59-05:00"), ("_count", "100")],
    )
    assert found.status_code == 200, found.text
    for entry in found.json()["entry"]:
        slot: Json = entry["resource"]
        if slot["id"] not in _used:
            _used.add(slot["id"])
            return slot
    raise AssertionError("no free slot left")


def local(rid: str) -> str:
    return rid.rsplit("-", 1)[1]


def appointment_id(slot: Json) -> str:
    return str(slot["id"]).replace(".Slot-", ".Appointment-")


def booking(slot: Json, *patients: str) -> Json:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": [{"actor": {"reference": p}, "status": "accepted"} for p in patients],
    }


def book(system: httpx.Client, patient: str, day: str = "2025-07-10") -> Json:
    created = system.post("Appointment", json=booking(free_slot(system, day), patient))
    assert created.status_code == 201, created.text
    resource: Json = created.json()
    return resource


def parameters(**values: Any) -> Json:
    items: list[Json] = []
    for name, value in values.items():
        name = name.replace("_", "-")
        if name == "appt-resource":
            items.append({"name": name, "resource": value})
        else:
            items.append({"name": name, "valueUri": value})
    return {"resourceType": "Parameters", "parameter": items}


def schedule(clinic: tuple[str, Any]) -> list[tuple[int, str, int | None]]:
    """Every slot and appointment of the practice in athena, with its patient."""
    return [
        (r.appointmentid, r.status, r.patientid) for r in clinic[1].schedule.all_appointments(PID)
    ]


def refused(response: httpx.Response, status: int, expression: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    if expression is not None:
        assert body["issue"][0].get("expression") == [expression], body


def athena(clinic: tuple[str, Any], rid: str) -> tuple[str, int | None]:
    record = clinic[1].schedule.appointment(PID, int(local(rid)))
    return record.status, record.patientid


# -- the attacks ----------------------------------------------------------------------------


def test_every_write_route_refuses_another_patient(
    clinic: tuple[str, Any], system: httpx.Client, patient: httpx.Client
) -> None:
    own = book(system, DONNA)
    theirs = book(system, OTHER)
    # both are read first, so the facade holds cached copies of each
    assert patient.get(f"Appointment/{own['id']}").json()["status"] == "booked"
    assert system.get(f"Appointment/{theirs['id']}").json()["status"] == "booked"
    slot = free_slot(system)
    spare = free_slot(system)
    other_local = local(theirs["id"])
    before = schedule(clinic)
    cancel = {**own, "status": "cancelled"}

    attempts: list[tuple[str, httpx.Response, int, str | None]] = [
        # PUT Appointment/{own}: the URL decides; the body may not name another record
        (
            "PUT identifier",
            patient.put(
                f"Appointment/{own['id']}",
                json={**cancel, "identifier": [{"system": SYSTEM, "value": other_local}]},
                headers=FHIR_JSON,
            ),
            400,
            "Appointment.identifier[0].value",
        ),
        (  # the finding as reported: another appointment's id and its patient
            "PUT identifier and their participant",
            patient.put(
                f"Appointment/{own['id']}",
                json={
                    **cancel,
                    "identifier": [{"system": SYSTEM, "value": other_local}],
                    "participant": [{"actor": {"reference": OTHER}}],
                },
                headers=FHIR_JSON,
            ),
            403,
            "Appointment.participant[0].actor.reference",
        ),
        (
            "PUT slot and their participant",
            patient.put(
                f"Appointment/{own['id']}",
                json={
                    **cancel,
                    "slot": [{"reference": f"Slot/a-{PID}.Slot-{other_local}"}],
                    "participant": [{"actor": {"reference": OTHER}}],
                },
                headers=FHIR_JSON,
            ),
            403,
            "Appointment.participant[0].actor.reference",
        ),
        (
            "PUT slot",
            patient.put(
                f"Appointment/{own['id']}",
                json={**cancel, "slot": [{"reference": f"Slot/a-{PID}.Slot-{other_local}"}]},
                headers=FHIR_JSON,
            ),
            400,
            "Appointment.slot[0].reference",
        ),
        (
            "PUT id",
            patient.put(
                f"Appointment/{own['id']}",
                json={**cancel, "id": theirs["id"]},
                headers=FHIR_JSON,
            ),
            400,
            "Appointment.id",
        ),
        (
            "PUT participant",
            patient.put(
                f"Appointment/{own['id']}",
                json={**cancel, "participant": [{"actor": {"reference": OTHER}}]},
                headers=FHIR_JSON,
            ),
            403,
            "Appointment.participant[0].actor.reference",
        ),
        (
            "PUT two patients",
            patient.put(
                f"Appointment/{own['id']}",
                json={
                    **cancel,
                    "participant": [
                        {"actor": {"reference": DONNA}},
                        {"actor": {"reference": OTHER}},
                    ],
                },
                headers=FHIR_JSON,
            ),
            422,
            "Appointment.participant",
        ),
        (
            "PUT their appointment",
            patient.put(
                f"Appointment/{theirs['id']}",
                json={**theirs, "status": "cancelled"},
                headers=FHIR_JSON,
            ),
            404,
            None,
        ),
        # PATCH
        (
            "PATCH their appointment",
            patient.patch(
                f"Appointment/{theirs['id']}",
                content=json.dumps([{"op": "replace", "path": "/status", "value": "cancelled"}]),
                headers=PATCH_JSON,
            ),
            404,
            None,
        ),
        (
            "PATCH identifier",
            patient.patch(
                f"Appointment/{own['id']}",
                content=json.dumps(
                    [
                        {"op": "replace", "path": "/status", "value": "cancelled"},
                        {"op": "replace", "path": "/identifier/0/value", "value": other_local},
                    ]
                ),
                headers=PATCH_JSON,
            ),
            422,
            "Appointment.identifier",
        ),
        (
            "PATCH participant",
            patient.patch(
                f"Appointment/{own['id']}",
                content=json.dumps(
                    [
                        {"op": "replace", "path": "/status", "value": "cancelled"},
                        {"op": "add", "path": "/participant", "value": []},
                    ]
                ),
                headers=PATCH_JSON,
            ),
            422,
            "Appointment.participant",
        ),
        # POST Appointment
        (
            "POST other first",
            patient.post("Appointment", json=booking(slot, OTHER, DONNA), headers=FHIR_JSON),
            422,
            "Appointment.participant",
        ),
        (
            "POST other only",
            patient.post("Appointment", json=booking(slot, OTHER), headers=FHIR_JSON),
            403,
            None,
        ),
        (
            "POST identifier",
            patient.post(
                "Appointment",
                json={
                    **booking(slot, DONNA),
                    "identifier": [{"system": SYSTEM, "value": other_local}],
                },
                headers=FHIR_JSON,
            ),
            400,
            "Appointment.identifier[0].value",
        ),
        (
            "POST slot of theirs",
            patient.post(
                "Appointment",
                json={
                    **booking(slot, DONNA),
                    "slot": [{"reference": f"Slot/a-{PID}.Slot-{other_local}"}],
                },
                headers=FHIR_JSON,
            ),
            409,
            None,
        ),
        (
            "POST id",
            patient.post(
                "Appointment", json={**booking(slot, DONNA), "id": theirs["id"]}, headers=FHIR_JSON
            ),
            400,
            "Appointment.id",
        ),
        # $book
        (
            "$book patient-id",
            patient.post(BOOK, json=parameters(appt_id=appointment_id(slot), patient_id=OTHER)),
            403,
            None,
        ),
        (
            "$book patient-id and own participant",
            patient.post(
                BOOK,
                json=parameters(appt_resource=booking(slot, DONNA), patient_id=OTHER),
            ),
            422,
            "Appointment.participant",
        ),
        (
            "$book appt-resource participants",
            patient.post(BOOK, json=parameters(appt_resource=booking(slot, OTHER, DONNA))),
            422,
            "Appointment.participant",
        ),
        (
            "$book appt-resource other only",
            patient.post(BOOK, json=parameters(appt_resource=booking(slot, OTHER))),
            403,
            None,
        ),
        (
            "$book appt-resource identifier",
            patient.post(
                BOOK,
                json=parameters(
                    appt_resource={
                        **booking(slot, DONNA),
                        "identifier": [{"system": SYSTEM, "value": other_local}],
                    }
                ),
            ),
            400,
            "Appointment.identifier[0].value",
        ),
        (
            "$book appt-id of theirs",
            patient.post(BOOK, json=parameters(appt_id=theirs["id"], patient_id=DONNA)),
            409,
            None,
        ),
        (
            "$book cancelled-appt-id",
            patient.post(
                BOOK,
                json=parameters(
                    appt_id=appointment_id(spare),
                    patient_id=DONNA,
                    cancelled_appt_id=f"Appointment/{theirs['id']}",
                ),
            ),
            404,
            None,
        ),
        (
            "$book cancelled-appt-id for them",
            patient.post(
                BOOK,
                json=parameters(
                    appt_resource=booking(spare, DONNA),
                    patient_id=OTHER,
                    cancelled_appt_id=f"Appointment/{theirs['id']}",
                ),
            ),
            422,
            "Appointment.participant",
        ),
        (
            "$book cancelled-appt-id as them",
            patient.post(
                BOOK,
                json=parameters(
                    appt_id=appointment_id(spare),
                    patient_id=OTHER,
                    cancelled_appt_id=f"Appointment/{theirs['id']}",
                ),
            ),
            403,
            None,
        ),
    ]
    wrong = []
    for name, response, status, expression in attempts:
        try:
            refused(response, status, expression)
        except AssertionError as exc:
            wrong.append(f"{name}: {exc}")
    assert not wrong, "\n".join(wrong)
    assert schedule(clinic) == before  # nothing changed in athena, for anyone
    assert athena(clinic, theirs["id"]) == ("f", 60179)
    assert athena(clinic, own["id"]) == ("f", 60178)
    # and the facade serves athena's state, not a stale or forged copy
    assert patient.get(f"Appointment/{own['id']}").json()["status"] == "booked"
    assert system.get(f"Appointment/{theirs['id']}").json()["status"] == "booked"
    assert system.get(f"Slot/{slot['id']}").json()["status"] == "free"


def test_a_keyed_retry_of_a_refused_write_is_refused_again(
    clinic: tuple[str, Any], system: httpx.Client, patient: httpx.Client
) -> None:
    theirs = book(system, OTHER)
    slot, spare = free_slot(system), free_slot(system)
    before = schedule(clinic)
    for _ in range(2):
        refused(
            patient.post(
                "Appointment",
                json=booking(slot, OTHER),
                headers={**FHIR_JSON, "Idempotency-Key": "refused-create"},
            ),
            403,
        )
        refused(
            patient.post(
                BOOK,
                json=parameters(
                    appt_id=appointment_id(spare),
                    patient_id=DONNA,
                    cancelled_appt_id=f"Appointment/{theirs['id']}",
                ),
                headers={**FHIR_JSON, "Idempotency-Key": "refused-reschedule"},
            ),
            404,
        )
        refused(
            patient.post(
                "Appointment",
                json=booking(slot, OTHER, DONNA),
                headers={**FHIR_JSON, "If-None-Exist": f"identifier={SYSTEM}|{local(slot['id'])}"},
            ),
            422,
        )
    assert schedule(clinic) == before
    assert athena(clinic, theirs["id"]) == ("f", 60179)


# -- what still works ---------------------------------------------------------------------


def test_own_booking_cancel_and_reschedule_with_fresh_reads(
    clinic: tuple[str, Any], system: httpx.Client, patient: httpx.Client
) -> None:
    slot = free_slot(system, "2025-07-11")
    created = patient.post("Appointment", json=booking(slot, DONNA), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    first = created.json()
    assert athena(clinic, first["id"]) == ("f", 60178)

    # reschedule: the old appointment was read (cached) before; afterwards it reads cancelled
    assert patient.get(f"Appointment/{first['id']}").json()["status"] == "booked"
    new_slot = free_slot(system, "2025-07-11")
    moved = patient.post(
        BOOK,
        json=parameters(
            appt_id=appointment_id(new_slot),
            patient_id=DONNA,
            cancelled_appt_id=f"Appointment/{first['id']}",
        ),
        headers={**FHIR_JSON, "Idempotency-Key": "own-reschedule"},
    )
    assert moved.status_code == 200, moved.text
    second = moved.json()["entry"][0]["resource"]
    assert second["id"] == appointment_id(new_slot)
    assert athena(clinic, first["id"])[0] == "x"
    assert athena(clinic, second["id"]) == ("f", 60178)
    assert patient.get(f"Appointment/{first['id']}").json()["status"] == "cancelled"
    assert patient.get(f"Appointment/{second['id']}").json()["status"] == "booked"

    # cancel by PUT, read before and after
    assert patient.get(f"Appointment/{second['id']}").json()["status"] == "booked"
    put = patient.put(
        f"Appointment/{second['id']}", json={**second, "status": "cancelled"}, headers=FHIR_JSON
    )
    assert put.status_code == 200, put.text
    assert put.json()["status"] == "cancelled"
    assert athena(clinic, second["id"])[0] == "x"
    assert patient.get(f"Appointment/{second['id']}").json()["status"] == "cancelled"
    assert system.get(f"Appointment/{second['id']}").json()["status"] == "cancelled"

    # a minimal body (no participant, no identifier) cancels the URL's appointment
    third = patient.post(
        "Appointment", json=booking(free_slot(system, "2025-07-11"), DONNA), headers=FHIR_JSON
    ).json()
    minimal = {"resourceType": "Appointment", "id": third["id"], "status": "cancelled"}
    done = patient.put(f"Appointment/{third['id']}", json=minimal, headers=FHIR_JSON)
    assert done.status_code == 200, done.text
    assert athena(clinic, third["id"]) == ("x", 60178)


def test_a_proposal_booked_with_its_patient_twice_is_one_patient(
    clinic: tuple[str, Any], system: httpx.Client, patient: httpx.Client
) -> None:
    slot = free_slot(system, "2025-07-11")
    proposal = {**booking(slot, DONNA), "id": appointment_id(slot), "status": "proposed"}
    booked = patient.post(
        BOOK, json=parameters(appt_resource=proposal, patient_id=DONNA), headers=FHIR_JSON
    )
    assert booked.status_code == 200, booked.text
    assert athena(clinic, appointment_id(slot)) == ("f", 60178)


def test_clinician_and_system_tokens_book_for_any_patient_of_the_practice(
    clinic: tuple[str, Any], system: httpx.Client, clinician: httpx.Client
) -> None:
    slot = free_slot(system, "2025-07-14")
    booked = clinician.post(BOOK, json=parameters(appt_id=appointment_id(slot), patient_id=OTHER))
    assert booked.status_code == 200, booked.text
    assert athena(clinic, appointment_id(slot)) == ("f", 60179)
    created = system.post("Appointment", json=booking(free_slot(system, "2025-07-14"), DONNA))
    assert created.status_code == 201, created.text

    # still one patient per booking, and the reschedule source must be that patient's
    before = schedule(clinic)
    spare = free_slot(system, "2025-07-14")
    refused(
        clinician.post("Appointment", json=booking(spare, DONNA, OTHER), headers=FHIR_JSON),
        422,
        "Appointment.participant",
    )
    refused(
        clinician.post(
            BOOK,
            json=parameters(
                appt_id=appointment_id(spare),
                patient_id=OTHER,
                cancelled_appt_id=f"Appointment/{created.json()['id']}",
            ),
        ),
        422,
    )
    refused(
        clinician.post(
            BOOK,
            json=parameters(
                appt_id=appointment_id(spare),
                patient_id=DONNA,
                cancelled_appt_id=f"Appointment/a-195901.Appointment-{local(created.json()['id'])}",
            ),
        ),
        422,
        "Parameters.parameter.where(name='cancelled-appt-id')",
    )
    refused(  # an update never changes the patient, whoever asks
        clinician.put(
            f"Appointment/{created.json()['id']}",
            json={
                **created.json(),
                "status": "cancelled",
                "participant": [{"actor": {"reference": OTHER}}],
            },
            headers=FHIR_JSON,
        ),
        400,
        "Appointment.participant[0].actor.reference",
    )
    assert schedule(clinic) == before
