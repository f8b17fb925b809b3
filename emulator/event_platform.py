"""athena's FHIR Event Subscription Platform (API-NOTES §3.11 "Push alternative", source SUB;
section 7 item 25).

- ``POST /fhir/r4/Subscription``: backport profile, ``criteria`` an athena topic URL
  (``…/SubscriptionTopic/Appointment.cancel``), ``channel.type`` ``rest-hook``, payload
  ``id-only``, optional ``channel.header`` ``X-Hub-Secret: …``; 201 with a UUID id;
- ``GET /fhir/r4/Subscription`` and ``GET /fhir/r4/SubscriptionTopic``: searchsets;
  ``DELETE /fhir/r4/Subscription/{id}``: 204.

Every change in the world (the same hook the changed feeds hear) whose topic a
Subscription names is POSTed to its endpoint as an id-only ``history`` Bundle holding one
``SubscriptionStatus`` with ``notificationEvent[{id, eventNumber, timestamp, focus,
additionalContext}]``, signed ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>``
with the secret. The receiver must answer 2xx within ``push_timeout_seconds`` (athena:
5 s); failures are retried with doubling pauses from ``push_retry_base_seconds`` for up to
``push_retry_seconds`` (athena: an hour), then dropped (athena keeps a 7-day dead-letter
queue nobody can read through the API). Delivery is at least once and unordered: with
``push_duplicate_every`` = N, every Nth notification is sent twice [G: real duplicates
are rarer]. Deliveries run on one background thread per emulator.
"""

from __future__ import annotations

import hashlib
import hmac
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response

from emulator.errors import FhirError, json_response
from emulator.gateway import Handler, Need, fhir

if TYPE_CHECKING:
    from emulator.world import World

TOPIC_BASE = "https://api.platform.athenahealth.com/fhir/r4/SubscriptionTopic/"
# changed-feed event -> (athena topic, resource type of the focus, id field)
EVENT_TOPICS: dict[str, list[tuple[str, str, str]]] = {
    "ScheduleAppointment": [("Appointment.schedule", "Appointment", "appointmentid")],
    "CancelAppointment": [("Appointment.cancel", "Appointment", "appointmentid")],
    "UpdateAppointment": [("Appointment.update", "Appointment", "appointmentid")],
    "FreezeAppointment": [("Appointment.freeze", "Appointment", "appointmentid")],
    "UnfreezeAppointment": [("Appointment.unfreeze", "Appointment", "appointmentid")],
    "CheckIn": [
        ("Appointment.check-in", "Appointment", "appointmentid"),
        ("Encounter.check-in", "Encounter", "encounterid"),
    ],
    "CheckOut": [("Appointment.check-out", "Appointment", "appointmentid")],
    "AddPatient": [("Patient.create", "Patient", "patientid")],
    "UpdatePatient": [("Patient.update", "Patient", "patientid")],
    "DeletePatient": [("Patient.delete", "Patient", "patientid")],
    "MergePatient": [("Patient.merge", "Patient", "patientid")],
}
PREFIXES = {"Appointment": "Appointment", "Patient": "E", "Encounter": "encounter"}
TOPICS = sorted({t for rows in EVENT_TOPICS.values() for t, _, _ in rows})


@dataclass
class PushSubscription:
    id: str
    topic: str
    endpoint: str
    secret: str
    resource: dict[str, Any]
    events: int = 0


@dataclass
class Platform:
    """Registered Subscriptions and the delivery thread."""

    world: World
    subscriptions: dict[str, PushSubscription] = field(default_factory=dict)
    sent: int = 0
    _queue: queue.Queue[tuple[PushSubscription, bytes, float]] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None

    def on_change(self, practiceid: str, feed: str, eventname: str, record: dict[str, Any]) -> None:
        for topic, rtype, key in EVENT_TOPICS.get(eventname, []):
            if not record.get(key):
                continue
            focus = f"{rtype}/a-{practiceid}.{PREFIXES[rtype]}-{record[key]}"
            with self.world.lock:
                targets = [s for s in self.subscriptions.values() if s.topic == TOPIC_BASE + topic]
            for sub in targets:
                with self.world.lock:
                    sub.events += 1
                    number = sub.events
                    self.sent += 1
                    twice = self.world.config.push_duplicate_every and (
                        self.sent % self.world.config.push_duplicate_every == 0
                    )
                body = self._notification(sub, number, focus, practiceid, record)
                for _ in range(2 if twice else 1):
                    self._queue.put((sub, body, time.time()))
                self._start()

    def _notification(
        self,
        sub: PushSubscription,
        number: int,
        focus: str,
        practiceid: str,
        record: dict[str, Any],
    ) -> bytes:
        rtype, _, rid = focus.partition("/")
        local = rid.rsplit("-", 1)[1]
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "eventNumber": str(number),
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "focus": {
                "reference": focus,
                "identifier": {
                    "system": f"urn:athenahealth:athenanet:{rtype.lower()}:{practiceid}",
                    "value": local,
                },
            },
        }
        if record.get("departmentid"):
            event["additionalContext"] = [
                {
                    "reference": f"Organization/a-{practiceid}.Department-{record['departmentid']}",
                    "identifier": {"system": f"urn:athenahealth:athenanet:department:{practiceid}"},
                }
            ]
        status = {
            "resourceType": "SubscriptionStatus",
            "status": "active",
            "type": "event-notification",
            "eventsSinceSubscriptionStart": str(number),
            "topic": sub.topic,
            "subscription": {"reference": f"Subscription/{sub.id}"},
            "notificationEvent": [event],
        }
        bundle = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "history",
            "timestamp": event["timestamp"],
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": status}],
        }
        return orjson.dumps(bundle)

    def _start(self) -> None:
        with self.world.lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="push", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        config = self.world.config
        with httpx.Client(timeout=config.push_timeout_seconds, trust_env=False) as http:
            while True:
                try:
                    sub, body, first = self._queue.get(timeout=30)
                except queue.Empty:
                    return
                pause = config.push_retry_base_seconds
                while sub.id in self.subscriptions:
                    signature = hmac.new(sub.secret.encode(), body, hashlib.sha256).hexdigest()
                    try:
                        answer = http.post(
                            sub.endpoint,
                            content=body,
                            headers={
                                "Content-Type": "application/fhir+json",
                                "X-Hub-Signature": f"sha256={signature}",
                            },
                        )
                        if 200 <= answer.status_code < 300:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.time() + pause > first + config.push_retry_seconds:
                        break  # athena's dead-letter queue
                    time.sleep(pause)
                    pause *= 2


def platform_of(world: World) -> Platform:
    with world.lock:
        found: Platform | None = getattr(world, "push_platform", None)
        if found is None:
            found = Platform(world)
            world.push_platform = found  # type: ignore[attr-defined]
            world.changes.listeners.append(found.on_change)
    return found


def _world(request: Request) -> World:
    world: World = request.app.state.emulator
    return world


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


async def topics(request: Request) -> Response:
    rows = [
        {
            "resourceType": "SubscriptionTopic",
            "id": name,
            "url": TOPIC_BASE + name,
            "status": "active",
            "title": name,
        }
        for name in TOPICS
    ]
    return json_response(_searchset(rows), media_type="application/fhir+json")


async def create(request: Request) -> Response:
    platform = platform_of(_world(request))
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise FhirError(400, "invalid", "Invalid FHIR request") from None
    channel = body.get("channel") if isinstance(body, dict) else None
    criteria = body.get("criteria") if isinstance(body, dict) else None
    if (
        not isinstance(channel, dict)
        or channel.get("type") != "rest-hook"
        or not str(channel.get("endpoint", "")).startswith(("https://", "http://"))
        or criteria not in {TOPIC_BASE + t for t in TOPICS}
    ):
        raise FhirError(400, "invalid", "Invalid FHIR request")
    secret = ""
    for line in channel.get("header") or []:
        name, _, value = str(line).partition(":")
        if name.strip().lower() == "x-hub-secret":
            secret = value.strip()
    sid = str(uuid.uuid4())
    resource = {**body, "id": sid, "status": "active"}
    resource["channel"] = {
        **channel,
        "header": [h for h in channel.get("header") or [] if not h.lower().startswith("x-hub")],
    }
    sub = PushSubscription(sid, str(criteria), str(channel["endpoint"]), secret, resource)
    with platform.world.lock:
        platform.subscriptions[sid] = sub
    return json_response(resource, 201, media_type="application/fhir+json")


async def search(request: Request) -> Response:
    platform = platform_of(_world(request))
    with platform.world.lock:
        rows = [s.resource for s in platform.subscriptions.values()]
    return json_response(_searchset(rows), media_type="application/fhir+json")


async def delete(request: Request) -> Response:
    platform = platform_of(_world(request))
    with platform.world.lock:
        found = platform.subscriptions.pop(str(request.path_params["id"]), None)
    if found is None:
        raise FhirError(404, "not-found", "Invalid FHIR request")
    return Response(status_code=204)


NEED: Need = fhir("Subscription", "read")
ROUTES: list[tuple[str, str, Need, Handler]] = [
    ("GET", "/fhir/r4/SubscriptionTopic", NEED, topics),
    ("POST", "/fhir/r4/Subscription", NEED, create),
    ("GET", "/fhir/r4/Subscription", NEED, search),
    ("DELETE", "/fhir/r4/Subscription/{id}", NEED, delete),
]
