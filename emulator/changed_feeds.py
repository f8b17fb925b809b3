"""athena's changed-data subscriptions: polled feeds that work like webhooks (API-NOTES §3.11,
section 7 item 22).

- ``GET /v1/{pid}/{feed}/changed/subscription/events``: every event of the feed;
- ``POST|DELETE /v1/{pid}/{feed}/changed/subscription`` (optional ``eventname``, one per
  call; omitted = every event): ``{"success": true}``;
- ``GET /v1/{pid}/{feed}/changed/subscription``: ``ACTIVE`` | ``INACTIVE`` | ``PARTIAL``;
- ``GET /v1/{pid}/{feed}/changed``: the records changed since the last call, each once,
  *marked processed* as they are returned (``leaveunprocessed=true`` leaves them);
  ``showprocessedstartdatetime`` / ``showprocessedenddatetime`` (``MM/DD/YYYY
  HH24:MI:SS`` US Eastern) re-read records already processed in that window;
  ``departmentid``, ``patientid``, ``providerid`` filter; ``limit`` (default 1500).
  Without a subscription: 403 with athena's exact message.

Feeds: ``appointments``, ``patients``, ``claims`` (``UpdateClaim``: a claim created, noted,
or moved by its lifecycle on the clock, :mod:`emulator.claims`). A change is recorded only for events subscribed
when it happens (athena: subscriptions take effect from then on) [G: immediately, where
athena takes minutes]. A row is the record as the regular GET renders it at the time of
the change [G]. Listeners (the push platform, :mod:`emulator.event_platform`) hear every
change, subscribed or not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.errors import AthenaError, invalid, json_response
from emulator.form import request_pairs
from emulator.gateway import V1, Handler, Need
from emulator.paging import lenient_int
from emulator.rest_practice import practice_of, world_of

EASTERN = timezone(timedelta(hours=-5))
SETUP_MESSAGE = "Changed messages require setup (subscription) that has not been done."
FEEDS: dict[str, tuple[str, ...]] = {
    "appointments": (
        "ScheduleAppointment",
        "CheckIn",
        "CheckOut",
        "UpdateAppointment",
        "CancelAppointment",
        "FreezeAppointment",
        "UnfreezeAppointment",
        "DeleteAppointment",
        "AddAppointmentSlot",
        "UpdateReminderCall",
        "UpdateSuggestedOverbooking",
    ),
    "patients": (
        "AddPatient",
        "DeletePatient",
        "UpdatePatient",
        "MergePatient",
        "UpdatePatientCustomField",
    ),
    "claims": ("UpdateClaim",),
}
LIST_KEYS = {"appointments": "appointments", "patients": "patients", "claims": "claims"}
Listener = Callable[[str, str, str, dict[str, Any]], None]


@dataclass
class ChangeRow:
    seq: int
    practiceid: str
    feed: str
    eventname: str
    record: dict[str, Any]
    changed_at: float
    processed_at: float | None = None


@dataclass
class ChangeLog:
    """Every feed's subscriptions and recorded changes (thread-safe under ``lock``)."""

    lock: threading.RLock
    clock: Callable[[], float]
    subscribed: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    rows: list[ChangeRow] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    # feed -> brings its records up to the clock before a poll (claims move with time)
    tickers: dict[str, Callable[[], None]] = field(default_factory=dict)

    def record(self, practiceid: str, feed: str, eventname: str, record: dict[str, Any]) -> None:
        with self.lock:
            if eventname in self.subscribed.get((practiceid, feed), set()):
                self.rows.append(
                    ChangeRow(
                        len(self.rows) + 1, practiceid, feed, eventname, dict(record), self.clock()
                    )
                )
            listeners = list(self.listeners)
        for listener in listeners:
            listener(practiceid, feed, eventname, dict(record))

    def subscribe(self, practiceid: str, feed: str, eventname: str | None, on: bool) -> None:
        names = {eventname} if eventname else set(FEEDS[feed])
        with self.lock:
            current = self.subscribed.setdefault((practiceid, feed), set())
            if on:
                current |= names
            else:
                current -= names

    def status(self, practiceid: str, feed: str) -> tuple[str, list[str]]:
        with self.lock:
            names = sorted(self.subscribed.get((practiceid, feed), set()))
        if not names:
            return "INACTIVE", []
        return ("ACTIVE" if len(names) == len(FEEDS[feed]) else "PARTIAL"), names

    def take(
        self,
        practiceid: str,
        feed: str,
        keep: Callable[[ChangeRow], bool],
        *,
        leave: bool,
        limit: int,
        window: tuple[float, float] | None,
    ) -> tuple[list[ChangeRow], int]:
        """Unprocessed rows (marked processed unless ``leave``), or a processed window."""
        with self.lock:
            mine = [
                r for r in self.rows if r.practiceid == practiceid and r.feed == feed and keep(r)
            ]
            if window is not None:
                start, end = window
                found = [
                    r for r in mine if r.processed_at is not None and start <= r.processed_at <= end
                ]
                return found[:limit], len(found)
            pending = [r for r in mine if r.processed_at is None]
            chosen = pending[:limit]
            if not leave:
                now = self.clock()
                for row in chosen:
                    row.processed_at = now
            return chosen, len(pending)


def _feed_of(request: Request) -> str:
    feed = request.url.path.split("/")[3]
    return feed


def _log(request: Request) -> ChangeLog:
    log: ChangeLog = world_of(request).changes
    return log


def _stamp(text: str, name: str) -> float:
    try:
        moment = datetime.strptime(text.strip(), "%m/%d/%Y %H:%M:%S").replace(tzinfo=EASTERN)
    except ValueError:
        raise invalid(f"Expecting format datetime (mm/dd/yyyy hh24:mi:ss) for {name}") from None
    return moment.timestamp()


async def events(request: Request) -> Response:
    practice_of(request)
    return json_response({"subscriptions": [{"eventname": n} for n in FEEDS[_feed_of(request)]]})


async def subscription(request: Request) -> Response:
    practiceid, feed = practice_of(request), _feed_of(request)
    params = {k.lower(): v for k, v in await request_pairs(request)}
    name = params.get("eventname", "").strip() or None
    if name is not None and name not in FEEDS[feed]:
        raise invalid(f"Invalid event name {name}.")
    if request.method == "GET":
        status, names = _log(request).status(practiceid, feed)
        return json_response({"status": status, "subscriptions": [{"eventname": n} for n in names]})
    _log(request).subscribe(practiceid, feed, name, request.method == "POST")
    return json_response({"success": True})


async def changed(request: Request) -> Response:
    practiceid, feed = practice_of(request), _feed_of(request)
    log = _log(request)
    log.tickers.get(feed, lambda: None)()
    if log.status(practiceid, feed)[0] == "INACTIVE":
        raise AthenaError(403, SETUP_MESSAGE)
    pairs = [(k.lower(), v) for k, v in await request_pairs(request)]
    params = dict(pairs)
    departments = {v.strip() for k, v in pairs if k == "departmentid" for v in v.split(",")}
    patient = params.get("patientid", "").strip()
    provider = params.get("providerid", "").strip()
    limit = lenient_int("limit", params["limit"]) if params.get("limit") else 1500

    def keep(row: ChangeRow) -> bool:
        rec = row.record
        if departments and str(rec.get("departmentid")) not in departments:
            return False
        if patient and str(rec.get("patientid")) != patient:
            return False
        return not provider or str(rec.get("providerid")) == provider

    window = None
    if params.get("showprocessedstartdatetime"):
        start = _stamp(params["showprocessedstartdatetime"], "showprocessedstartdatetime")
        end = (
            _stamp(params["showprocessedenddatetime"], "showprocessedenddatetime")
            if params.get("showprocessedenddatetime")
            else log.clock()
        )
        window = (start, end)
    leave = params.get("leaveunprocessed", "").strip().lower() in {"true", "1", "y"}
    rows, total = log.take(practiceid, feed, keep, leave=leave, limit=max(1, limit), window=window)
    return json_response({LIST_KEYS[feed]: [r.record for r in rows], "totalcount": total})


ROUTES: list[tuple[str, str, Need, Handler]] = [
    route
    for feed in FEEDS
    for route in (
        ("GET", f"/v1/{{practiceid}}/{feed}/changed/subscription/events", V1, events),
        ("GET", f"/v1/{{practiceid}}/{feed}/changed/subscription", V1, subscription),
        ("POST", f"/v1/{{practiceid}}/{feed}/changed/subscription", V1, subscription),
        ("DELETE", f"/v1/{{practiceid}}/{feed}/changed/subscription", V1, subscription),
        ("GET", f"/v1/{{practiceid}}/{feed}/changed", V1, changed),
    )
]
