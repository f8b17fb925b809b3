"""Subscriptions end to end: a real webhook receiver, the facade and the emulator on loopback.

Every notification is verified with the ``standardwebhooks`` library (the receiver's view);
waits are bounded polls, never timed assertions.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from standardwebhooks.webhooks import Webhook

from tests.events.support import (
    FHIR_JSON,
    PID,
    TOPICS,
    Receiver,
    booking,
    events_of,
    open_slot,
    secret_of,
    subscription,
    wait_status,
)

TAKEN: set[int] = set()
DONNA = f"a-{PID}.E-60178"
OTHER = f"a-{PID}.E-60180"


def _subscribe(
    fhir: httpx.Client, receiver: Receiver, path: str, topic: str, **kw: Any
) -> dict[str, Any]:
    created = fhir.post(
        "Subscription", json=subscription(receiver.base + path, topic, **kw), headers=FHIR_JSON
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert body["status"] == "requested"
    assert created.headers["location"].endswith(f"/Subscription/{body['id']}")
    return body


def _wait_count(fhir: httpx.Client, sid: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        status = fhir.get(f"Subscription/{sid}/$status").json()
        params = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}
        if params["events-since-subscription-start"]["valueString"] == str(count):
            return
        assert time.monotonic() < deadline, params
        time.sleep(0.05)


def _verify(secret: str, got: Any) -> Any:
    return Webhook(secret).verify(got.body, got.headers)


def test_metadata_lists_every_topic(fhir: httpx.Client) -> None:
    cs = fhir.get("metadata").json()
    sub = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Subscription")
    canonicals = {e["valueCanonical"] for e in sub["extension"]}
    assert TOPICS + "appointment-booked" in canonicals
    assert TOPICS + "patient-update" in canonicals
    assert {op["name"] for op in sub["operation"]} == {"status", "events"}
    assert any("backport-subscription-server-r4" in i for i in cs["instantiates"])


def test_handshake_then_a_booking_through_the_facade(
    fhir: httpx.Client, receiver: Receiver, clinic: tuple[str, Any]
) -> None:
    created = _subscribe(
        fhir,
        receiver,
        "/booked",
        "appointment-booked",
        headers=("Authorization: Bearer inferno-token",),
    )
    secret = secret_of(created)
    assert secret.startswith("whsec_")
    assert "extension" not in fhir.get(f"Subscription/{created['id']}").json()  # shown once
    (handshake,) = receiver.wait("/booked", lambda got: len(got) >= 1)
    assert handshake.kind == "handshake"
    assert handshake.status["status"]["valueCode"] == "requested"
    assert handshake.headers["authorization"] == "Bearer inferno-token"  # channel.header verbatim
    assert handshake.headers["content-type"].startswith("application/fhir+json")
    _verify(secret, handshake)
    wait_status(fhir, created["id"], "active")

    slot = open_slot(clinic[1], skip=TAKEN)
    made = fhir.post("Appointment", json=booking(slot, DONNA), headers=FHIR_JSON)
    assert made.status_code == 201, made.text
    appointment = made.json()["id"]
    got = receiver.wait("/booked", lambda got: len(events_of(got)) >= 1)
    time.sleep(1.5)  # three poll intervals: the feed names the same booking, nothing more comes
    (event,) = events_of(receiver.at("/booked"))
    _verify(secret, event)
    assert event.focus == [f"{str(fhir.base_url).rstrip('/')}/Appointment/{appointment}"]
    bundle = event.json
    assert bundle["type"] == "history"
    first = bundle["entry"][0]
    assert first["request"]["url"].endswith(f"Subscription/{created['id']}/$status")
    assert all("request" in e and "response" in e for e in bundle["entry"])
    assert [e.get("resource") for e in bundle["entry"][1:]] == [None, None]  # id-only
    # the focus and the additional-context (the patient) each resolve to an entry
    assert [e["fullUrl"] for e in bundle["entry"][1:]] == [
        f"{str(fhir.base_url).rstrip('/')}/Appointment/{appointment}",
        f"{str(fhir.base_url).rstrip('/')}/Patient/{DONNA}",
    ]
    Bundle.model_validate(bundle)  # a valid R4(B) Bundle, its Parameters included
    assert event.status["events-since-subscription-start"]["valueString"] == "1"
    assert got[0].headers["webhook-id"] != event.headers["webhook-id"]


def test_a_cancellation_inside_athena_and_a_fresh_cache(
    fhir: httpx.Client, receiver: Receiver, clinic: tuple[str, Any], admin: httpx.Client
) -> None:
    world = clinic[1]
    slot = open_slot(world, skip=TAKEN)
    booked = fhir.post("Appointment", json=booking(slot, DONNA), headers=FHIR_JSON)
    assert booked.status_code == 201, booked.text
    rid = booked.json()["id"]
    created = _subscribe(
        fhir, receiver, "/cancelled", "appointment-cancelled", content="full-resource"
    )
    wait_status(fhir, created["id"], "active")
    assert fhir.get(f"Appointment/{rid}").json()["status"] == "booked"  # now cached

    front_desk = admin.post(f"athena/{PID}/appointments/{slot}/cancel", json={"reasonid": 1})
    assert front_desk.status_code == 200, front_desk.text
    got = receiver.wait("/cancelled", lambda got: len(events_of(got)) >= 1)
    # the poll that brought the change also dropped the cached copy
    assert fhir.get(f"Appointment/{rid}").json()["status"] == "cancelled"
    time.sleep(1.5)
    (event,) = events_of(receiver.at("/cancelled"))
    _verify(secret_of(created), event)
    assert event.focus == [f"{str(fhir.base_url).rstrip('/')}/Appointment/{rid}"]
    resource = event.json["entry"][1]["resource"]
    assert resource["id"] == rid and resource["status"] == "cancelled"
    assert resource["cancelationReason"]["text"] == "PATIENT CANCELLED"
    assert event.status["topic"]["valueCanonical"] == TOPICS + "appointment-cancelled"
    context = [
        part["valueReference"]["reference"]
        for p in event.json["entry"][0]["resource"]["parameter"]
        if p["name"] == "notification-event"
        for part in p["part"]
        if part["name"] == "additional-context"
    ]
    assert context == [f"{str(fhir.base_url).rstrip('/')}/Patient/{DONNA}"]
    Bundle.model_validate(event.json)
    assert got


def test_filters_narrow_the_events(
    fhir: httpx.Client, receiver: Receiver, clinic: tuple[str, Any]
) -> None:
    created = _subscribe(
        fhir,
        receiver,
        "/filtered",
        "appointment-booked",
        filters=(f"Appointment?patient=Patient/{OTHER}",),
    )
    wait_status(fhir, created["id"], "active")
    for patient in (DONNA, OTHER):
        slot = open_slot(clinic[1], skip=TAKEN)
        assert (
            fhir.post("Appointment", json=booking(slot, patient), headers=FHIR_JSON).status_code
            == 201
        )
    got = receiver.wait("/filtered", lambda got: len(events_of(got)) >= 1)
    time.sleep(1.0)
    (event,) = events_of(receiver.at("/filtered"))
    appointment = fhir.get(event.focus[0].split("/fhir/r4/")[1]).json()
    assert appointment["participant"][0]["actor"]["reference"] == f"Patient/{OTHER}"
    assert got


def test_unsupported_values_are_refused(fhir: httpx.Client, receiver: Receiver) -> None:
    cases = [
        subscription(receiver.base + "/x", "no-such-topic"),
        subscription(receiver.base + "/x", "appointment-booked", content="everything"),
        subscription(receiver.base + "/x", "appointment-booked", filters=("Patient?gender=male",)),
        subscription(
            receiver.base + "/x", "appointment-booked", filters=("Appointment?nonsense=1",)
        ),
        subscription(receiver.base + "/x", "appointment-booked", headers=("webhook-id: forged",)),
        {
            **subscription(receiver.base + "/x", "appointment-booked"),
            "channel": {"type": "websocket"},
        },
    ]
    for body in cases:
        refused = fhir.post("Subscription", json=body, headers=FHIR_JSON)
        assert refused.status_code in (400, 422), (body, refused.text)
        assert refused.json()["resourceType"] == "OperationOutcome"


def test_retries_keep_the_webhook_id_then_succeed(
    fhir: httpx.Client, receiver: Receiver, clinic: tuple[str, Any]
) -> None:
    created = _subscribe(fhir, receiver, "/flaky", "appointment-booked")
    wait_status(fhir, created["id"], "active")
    receiver.plan["/flaky"] = [500, 503, 502]
    slot = open_slot(clinic[1], skip=TAKEN)
    assert fhir.post("Appointment", json=booking(slot, DONNA), headers=FHIR_JSON).status_code == 201
    got = events_of(receiver.wait("/flaky", lambda got: len(events_of(got)) >= 4))
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1  # the same message, signed anew each time
    stamps = [r.headers["webhook-timestamp"] for r in got]
    assert stamps == sorted(stamps)
    for r in got:
        _verify(secret_of(created), r)
    time.sleep(1.2)
    assert len(events_of(receiver.at("/flaky"))) == 4  # delivered: no more tries
    assert fhir.get(f"Subscription/{created['id']}").json()["status"] == "active"


def test_an_endpoint_that_never_answers_is_dead_lettered(
    fhir: httpx.Client, receiver: Receiver, clinic: tuple[str, Any]
) -> None:
    created = _subscribe(fhir, receiver, "/silent", "appointment-booked", timeout=1)
    wait_status(fhir, created["id"], "active")
    receiver.plan["/silent"] = [0, 0, 0, 0]
    slot = open_slot(clinic[1], skip=TAKEN)
    assert fhir.post("Appointment", json=booking(slot, DONNA), headers=FHIR_JSON).status_code == 201
    errored = wait_status(fhir, created["id"], "error", seconds=60)
    assert "attempts" in errored["error"]
    assert len(events_of(receiver.at("/silent"))) == 4  # the first try and three retries
    status = fhir.get(f"Subscription/{created['id']}/$status").json()
    assert status["type"] == "searchset"
    params = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}
    assert params["status"]["valueCode"] == "error"
    assert params["type"]["valueCode"] == "query-status"
    assert params["error"]["valueCodeableConcept"]["coding"][0]["code"] == "no-response"


def test_events_replays_a_missed_range(
    fhir: httpx.Client, receiver: Receiver, clinic: tuple[str, Any]
) -> None:
    created = _subscribe(fhir, receiver, "/replay", "appointment-booked", content="full-resource")
    sid = created["id"]
    wait_status(fhir, sid, "active")
    receiver.plan["/replay"] = [500] * 4  # the receiver is down for the first event
    booked = []
    for _ in range(3):
        slot = open_slot(clinic[1], skip=TAKEN)
        made = fhir.post("Appointment", json=booking(slot, DONNA), headers=FHIR_JSON)
        booked.append(made.json()["id"])
        if not booked[1:]:
            wait_status(fhir, sid, "error", seconds=60)
    _wait_count(fhir, sid, 3)
    replay = fhir.get(
        f"Subscription/{sid}/$events", params={"eventsSinceNumber": "1", "eventsUntilNumber": "3"}
    )
    assert replay.status_code == 200, replay.text
    bundle = replay.json()
    assert bundle["type"] == "history"
    params = bundle["entry"][0]["resource"]["parameter"]
    assert {p["name"]: p for p in params}["type"]["valueCode"] == "query-event"
    numbers = [
        part["valueString"]
        for p in params
        if p["name"] == "notification-event"
        for part in p["part"]
        if part["name"] == "event-number"
    ]
    assert numbers == ["1", "2", "3"]  # the error status kept counting (IG errors.md)
    assert [e["resource"]["id"] for e in bundle["entry"][1:] if "resource" in e] == booked
    one = fhir.post(
        f"Subscription/{sid}/$events",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "eventsSinceNumber", "valueString": "2"},
                {"name": "eventsUntilNumber", "valueString": "2"},
            ],
        },
        headers=FHIR_JSON,
    ).json()
    assert [e["resource"]["id"] for e in one["entry"][1:] if "resource" in e] == [booked[1]]
    # the client re-activates it (IG errors.md): a new handshake, then active again
    body = fhir.get(f"Subscription/{sid}").json()
    again = fhir.put(f"Subscription/{sid}", json={**body, "status": "requested"}, headers=FHIR_JSON)
    assert again.status_code == 200, again.text
    wait_status(fhir, sid, "active")


def test_heartbeats(fhir: httpx.Client, receiver: Receiver) -> None:
    created = _subscribe(fhir, receiver, "/beat", "patient-update", heartbeat=1)
    got = receiver.wait("/beat", lambda got: sum(r.kind == "heartbeat" for r in got) >= 2)
    beat = next(r for r in got if r.kind == "heartbeat")
    assert beat.status["status"]["valueCode"] == "active"
    assert len(beat.json["entry"]) == 1
    _verify(secret_of(created), beat)
    off = fhir.put(
        f"Subscription/{created['id']}",
        json={**fhir.get(f"Subscription/{created['id']}").json(), "status": "off"},
        headers=FHIR_JSON,
    )
    assert off.json()["status"] == "off"


def test_private_or_plain_http_endpoints_are_refused_outside_embedded_mode() -> None:
    from facade.events.endpoint import EndpointRefused, check_endpoint

    refused = [
        "http://hooks.example.org/x",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest",
        "https://127.0.0.1/hook",
        "http://127.0.0.1:8080/hook",
        "https://user@hooks.example.org/x",
        "https://2130706433/x",
        "ftp://hooks.example.org/x",
    ]
    for url in refused:
        try:
            check_endpoint(url, allow_loopback=False, private_hosts=[])
        except EndpointRefused:
            continue
        raise AssertionError(f"{url} was allowed")
    assert check_endpoint("https://hooks.example.org/x", allow_loopback=False, private_hosts=[])
    listed = check_endpoint(
        "https://10.0.0.5/hook", allow_loopback=False, private_hosts=["10.0.0.5"]
    )
    assert listed.private_allowed


def test_search_read_delete_and_ownership(
    fhir: httpx.Client, receiver: Receiver, facade: str
) -> None:
    created = _subscribe(fhir, receiver, "/owned", "encounter-finished")
    sid = created["id"]
    found = fhir.get("Subscription", params={"status": "requested,active"}).json()
    assert sid in {e["resource"]["id"] for e in found["entry"]}
    from tests.auth.smart_support import CONFIDENTIAL, CONFIDENTIAL_SECRET

    token = httpx.post(
        f"{facade}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.rs"},
        auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET),
    ).json()["access_token"]
    other = httpx.Client(base_url=f"{facade}/fhir/r4", headers={"Authorization": f"Bearer {token}"})
    with other:
        assert other.get(f"Subscription/{sid}").status_code in (403, 404)
    assert fhir.delete(f"Subscription/{sid}").status_code == 204
    assert fhir.get(f"Subscription/{sid}").status_code == 404


def test_a_visit_and_demographics_changed_inside_athena(
    fhir: httpx.Client, receiver: Receiver, clinic: tuple[str, Any], admin: httpx.Client
) -> None:
    world = clinic[1]
    subs = {
        name: _subscribe(fhir, receiver, f"/{name}", name, content="full-resource")
        for name in (
            "encounter-create",
            "encounter-finished",
            "appointment-status",
            "appointment-rescheduled",
            "patient-update",
        )
    }
    for created in subs.values():
        wait_status(fhir, created["id"], "active")
    slot = open_slot(world, skip=TAKEN, days=0)
    assert (
        admin.post(f"athena/{PID}/appointments/{slot}/book", json={"patientid": 60179}).status_code
        == 200
    )
    assert admin.post(f"athena/{PID}/appointments/{slot}/checkin", json={}).status_code == 200
    created = receiver.wait("/encounter-create", lambda got: len(events_of(got)) >= 1)
    encounter = events_of(created)[0].json["entry"][1]["resource"]
    assert events_of(created)[0].json["entry"][2]["fullUrl"].endswith(f"/Patient/a-{PID}.E-60179")
    assert encounter["resourceType"] == "Encounter"
    assert encounter["subject"]["reference"] == f"Patient/a-{PID}.E-60179"
    assert admin.post(f"athena/{PID}/appointments/{slot}/checkout", json={}).status_code == 200
    finished = receiver.wait("/encounter-finished", lambda got: len(events_of(got)) >= 1)
    assert events_of(finished)[0].json["entry"][1]["resource"]["status"] == "finished"
    # state-based: changes between two polls make one event with the state then seen
    statuses = receiver.wait(
        "/appointment-status",
        lambda got: (
            [e.json["entry"][1]["resource"]["status"] for e in events_of(got)][-1:] == ["fulfilled"]
        ),
    )
    seen = [e.json["entry"][1]["resource"]["status"] for e in events_of(statuses)]
    assert len(seen) == len(set(seen))  # each status once

    old = open_slot(world, skip=TAKEN)
    new = open_slot(world, skip=TAKEN)
    assert (
        admin.post(f"athena/{PID}/appointments/{old}/book", json={"patientid": 60179}).status_code
        == 200
    )
    moved = admin.post(
        f"athena/{PID}/appointments/{old}/reschedule", json={"newappointmentid": new}
    )
    assert moved.status_code == 200, moved.text
    rescheduled = receiver.wait("/appointment-rescheduled", lambda got: len(events_of(got)) >= 1)
    assert events_of(rescheduled)[0].focus[0].endswith(f"Appointment-{old}")

    edited = admin.post(f"athena/{PID}/patients/60179", json={"homephone": "6175550101"})
    assert edited.status_code == 200, edited.text
    updated = receiver.wait("/patient-update", lambda got: len(events_of(got)) >= 1)
    patient = events_of(updated)[0].json["entry"][1]["resource"]
    assert patient["id"] == f"a-{PID}.E-60179"
    assert any(t.get("value", "").endswith("5550101") for t in patient.get("telecom", []))


def test_a_patient_created_through_the_facade(fhir: httpx.Client, receiver: Receiver) -> None:
    created = _subscribe(
        fhir, receiver, "/patient-create", "patient-create", content="full-resource"
    )
    wait_status(fhir, created["id"], "active")
    body = {
        "resourceType": "Patient",
        "name": [{"family": "Eventide", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1988-04-05",
        "telecom": [{"system": "phone", "value": "(617) 555-0142", "use": "mobile"}],
    }
    made = fhir.post("Patient", json=body, headers=FHIR_JSON)
    assert made.status_code == 201, made.text
    got = receiver.wait("/patient-create", lambda got: len(events_of(got)) >= 1)
    (event,) = events_of(got)
    assert event.json["entry"][1]["resource"]["id"] == made.json()["id"]
    _verify(secret_of(created), event)
    # the same create again with If-None-Exist matches it: nothing was written, no event
    again = fhir.post(
        "Patient", json=body, headers={**FHIR_JSON, "If-None-Exist": f"_id={made.json()['id']}"}
    )
    assert again.status_code == 200, again.text
    time.sleep(1.0)
    assert len(events_of(receiver.at("/patient-create"))) == 1
