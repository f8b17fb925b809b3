"""Notification Bundles (Subscriptions Backport IG 1.1.0, ``backport-subscription-notification-r4``).

A notification is a ``history`` Bundle whose first entry is the ``SubscriptionStatus``
Parameters (``backport-subscription-status-r4``) with a ``request`` to the Subscription's
``$status``; every entry has ``request`` and ``response`` (bdl-3/bdl-4, and Inferno
checks both). Payloads (``payloads.md``):

- ``empty``: the status entry only, no ``focus`` nor ``topic``;
- ``id-only``: ``notification-event.focus`` and one entry per focus, with ``fullUrl`` and
  ``request``/``response`` but no ``resource``;
- ``full-resource``: the same entries with the resource (a deleted resource, which
  cannot be included, keeps ``request``/``response`` only).

``$status`` answers a ``searchset`` of status Parameters (type ``query-status``);
``$events`` a ``history`` Bundle of type ``query-event``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from facade.events.topics import Topic, _values
from facade.store.events import Event, SubscriptionRow

Json = dict[str, Any]


def instant(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def content_of(row: SubscriptionRow) -> str:
    payload = row.resource.get("channel", {}).get("_payload", {})
    for ext in payload.get("extension", []):
        if ext.get("url", "").endswith("/backport-payload-content"):
            return str(ext.get("valueCode"))
    return "id-only"


def status_parameters(
    base: str,
    row: SubscriptionRow,
    kind: str,
    *,
    events: list[tuple[int, Event]] = (),  # type: ignore[assignment]
    topics: dict[str, Topic] | None = None,
    count: int | None = None,
    error: str | None = None,
) -> Json:
    content = content_of(row)
    params: list[Json] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{row.id}"}}
    ]
    if content != "empty":
        params.append({"name": "topic", "valueCanonical": row.topic})
    params.append({"name": "status", "valueCode": row.status})
    params.append({"name": "type", "valueCode": kind})
    params.append(
        {
            "name": "events-since-subscription-start",
            "valueString": str(row.events_count if count is None else count),
        }
    )
    for number, event in events:
        parts: list[Json] = [
            {"name": "event-number", "valueString": str(number)},
            {"name": "timestamp", "valueInstant": instant(event.created_at)},
        ]
        if content != "empty":
            parts.append(
                {
                    "name": "focus",
                    "valueReference": {"reference": f"{base}/{event.resource_type}/{event.rid}"},
                }
            )
            for ref in context_of(base, row, event, topics):
                parts.append({"name": "additional-context", "valueReference": {"reference": ref}})
        params.append({"name": "notification-event", "part": parts})
    if error:
        params.append(
            {
                "name": "error",
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/subscription-error",
                            "code": "no-response",
                            "display": "No Response",
                        }
                    ],
                    "text": error,
                },
            }
        )
    return {
        "resourceType": "Parameters",
        "meta": {
            "profile": [
                "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                "backport-subscription-status-r4"
            ]
        },
        "parameter": params,
    }


def context_of(
    base: str, row: SubscriptionRow, event: Event, topics: dict[str, Topic] | None
) -> list[str]:
    """The topic's ``context`` references of the focus, absolute (they resolve to entries)."""
    topic = (topics or {}).get(row.topic)
    if topic is None or event.resource is None:
        return []
    found = []
    for path in topic.context:
        for ref in _values(event.resource, path):
            if "/" in ref and not ref.startswith("http"):
                found.append(f"{base}/{ref}")
    return list(dict.fromkeys(found))


_METHODS = {"create": ("POST", "201"), "update": ("PUT", "200"), "delete": ("DELETE", "204")}


def _entry(base: str, event: Event, content: str) -> Json:
    method, status = _METHODS.get(event.action, ("PUT", "200"))
    url = f"{event.resource_type}" if method == "POST" else f"{event.resource_type}/{event.rid}"
    entry: Json = {"fullUrl": f"{base}/{event.resource_type}/{event.rid}"}
    if content == "full-resource" and event.resource is not None:
        entry["resource"] = event.resource
    entry["request"] = {"method": method, "url": url}
    entry["response"] = {"status": status}
    return entry


def bundle(
    base: str,
    row: SubscriptionRow,
    kind: str,
    now: float,
    *,
    events: list[tuple[int, Event]] = (),  # type: ignore[assignment]
    topics: dict[str, Topic] | None = None,
    count: int | None = None,
) -> Json:
    """A notification (``handshake``, ``heartbeat``, ``event-notification``, ``query-event``)."""
    status = status_parameters(base, row, kind, events=events, topics=topics, count=count)
    entries: list[Json] = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": status,
            "request": {"method": "GET", "url": f"{base}/Subscription/{row.id}/$status"},
            "response": {"status": "200"},
        }
    ]
    content = content_of(row)
    if content != "empty":
        entries += [_entry(base, event, content) for _, event in events]
        # additional-context resolves to an entry too (Inferno checks it); the resource itself
        # is not read for it, so the entry carries request/response only (IG payloads.md)
        known = {e["fullUrl"] for e in entries}
        for _, event in events:
            for ref in context_of(base, row, event, topics):
                if ref not in known:
                    known.add(ref)
                    entries.append(
                        {
                            "fullUrl": ref,
                            "request": {"method": "GET", "url": ref.removeprefix(base + "/")},
                            "response": {"status": "200"},
                        }
                    )
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {
            "profile": [
                "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                "backport-subscription-notification-r4"
            ]
        },
        "type": "history",
        "timestamp": instant(now),
        "entry": entries,
    }


def encode(body: Json) -> bytes:
    return orjson.dumps(body)
