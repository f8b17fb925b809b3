"""A webhook receiver on loopback, and helpers shared by the event tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PID = "195900"
TOPICS = "http://athena-fhir-facade/SubscriptionTopic/"
IG = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def status(self) -> dict[str, Any]:
        params = self.json["entry"][0]["resource"]["parameter"]
        return {p["name"]: p for p in params}

    @property
    def kind(self) -> str:
        return str(self.status["type"]["valueCode"])

    @property
    def focus(self) -> list[str]:
        return [
            part["valueReference"]["reference"]
            for p in self.json["entry"][0]["resource"]["parameter"]
            if p["name"] == "notification-event"
            for part in p["part"]
            if part["name"] == "focus"
        ]


@dataclass
class Receiver:
    """Records every POST; ``plan[path]`` lists the statuses to answer in turn (then 200);
    a status of 0 never answers (the request hangs until the client gives up)."""

    base: str = ""
    received: list[Received] = field(default_factory=list)
    plan: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            path = request.url.path
            with self.lock:
                self.received.append(Received(path, dict(request.headers), body, time.time()))
                steps = self.plan.get(path, [])
                status = steps.pop(0) if steps else 200
            if status == 0:
                await asyncio.sleep(5)  # longer than any delivery timeout here
            return Response(status_code=status)

        return Starlette(routes=[Route("/{name:path}", hook, methods=["POST"])])

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait(
        self, path: str, predicate: Callable[[list[Received]], bool], seconds: float = 30
    ) -> list[Received]:
        """Poll (bounded) until ``predicate`` holds for what ``path`` received."""
        deadline = time.monotonic() + seconds
        while True:
            got = self.at(path)
            if predicate(got):
                return got
            assert time.monotonic() < deadline, [(r.kind, r.focus) for r in got]
            time.sleep(0.05)


def events_of(got: list[Received]) -> list[Received]:
    return [r for r in got if r.kind == "event-notification"]


def subscription(
    endpoint: str,
    topic: str,
    *,
    content: str = "id-only",
    filters: tuple[str, ...] = (),
    headers: tuple[str, ...] = (),
    heartbeat: int | None = None,
    timeout: int | None = None,
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": IG + "backport-payload-content", "valueCode": content}]},
        "header": list(headers),
    }
    extensions = []
    if heartbeat is not None:
        extensions.append({"url": IG + "backport-heartbeat-period", "valueUnsignedInt": heartbeat})
    if timeout is not None:
        extensions.append({"url": IG + "backport-timeout", "valueUnsignedInt": timeout})
    if extensions:
        channel["extension"] = extensions
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {"profile": [IG + "backport-subscription"]},
        "status": "requested",
        "reason": "test",
        "criteria": TOPICS + topic,
        "channel": channel,
    }
    if filters:
        body["_criteria"] = {
            "extension": [
                {"url": IG + "backport-filter-criteria", "valueString": f} for f in filters
            ]
        }
    return body


def secret_of(created: dict[str, Any]) -> str:
    return next(
        e["valueString"]
        for e in created.get("extension", [])
        if e["url"] == "urn:athena-fhir-facade:extension:webhook-secret"
    )


def wait_status(fhir: httpx.Client, sid: str, wanted: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = fhir.get(f"Subscription/{sid}").json()
        if body.get("status") == wanted:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def open_slot(world: Any, *, skip: set[int], days: int = 2) -> int:
    """An open, bookable slot at least ``days`` after the emulator's today."""
    from datetime import timedelta

    first = world.today + timedelta(days=days)
    for record in world.schedule.all_appointments(PID):
        if (
            record.status == "o"
            and record.api_released
            and not record.frozen
            and record.date >= first
            and record.appointmentid not in skip
        ):
            skip.add(record.appointmentid)
            return int(record.appointmentid)
    raise AssertionError("no open slot left")


def booking(slot: int, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/a-{PID}.Slot-{slot}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
    }
