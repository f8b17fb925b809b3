"""athena's FHIR Event Subscription Platform, inbound (API-NOTES §3.11 "Push alternative").

athena POSTs id-only notification Bundles (``history``, one ``SubscriptionStatus``)
signed ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`` with the secret the
facade registered (``X-Hub-Secret``, ``FACADE_EVENTS_ATHENA_PUSH_SECRET``). Each
``notificationEvent.focus`` becomes a queued change, keyed by the event's id so a
redelivery (athena delivers at least once, out of order) is queued once; fan-out then
reads the resource and reports one event per new state, whichever source named it first.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from facade.errors import InvalidRequest, Unauthorized
from facade.events.signing import hub_signature_valid

if TYPE_CHECKING:
    from facade.events.runtime import EventEngine

Json = dict[str, Any]
_FOCUS = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/(a-(\d+)\.[A-Za-z]+-[0-9-]+)$")


def action_of(topic: str) -> str:
    """``…/SubscriptionTopic/Patient.create`` -> create; ``Encounter.check-in`` -> create."""
    event = topic.rsplit(".", 1)[-1].lower()
    if event in ("create", "check-in"):
        return "create"
    if event == "delete":
        return "delete"
    return "update"


def _statuses(body: Json) -> list[Json]:
    found = []
    for entry in body.get("entry", []) or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "SubscriptionStatus":
            found.append(resource)
    return found


async def receive(engine: EventEngine, raw: bytes, signature: str | None, body: Any) -> int:
    """Queue the changes a notification names; the number queued (0 for a duplicate)."""
    secret = engine.settings.events_athena_push_secret
    if secret is None or not hub_signature_valid(secret.get_secret_value(), raw, signature):
        raise Unauthorized("The X-Hub-Signature does not verify", error="invalid_request")
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise InvalidRequest("A notification is a Bundle")
    queued = 0
    for status in _statuses(body):
        topic = str(status.get("topic") or "")
        for event in status.get("notificationEvent", []) or []:
            focus = (event.get("focus") or {}).get("reference", "")
            match = _FOCUS.search(str(focus))
            if match is None or engine.services.mappings.table(match.group(1)) is None:
                continue
            rtype, rid, practice = match.groups()
            if practice not in engine.settings.practices:
                continue
            key = f"push:{status.get('subscription', {}).get('reference', '')}:{event.get('id') or event.get('eventNumber')}"
            change = await engine.store.add_change(
                practice, rtype, rid, action_of(topic), "push", time.time(), dedupe=key
            )
            if change is not None:
                engine.services.cache.invalidate(rtype, practice, rid)
                queued += 1
    if queued:
        engine.wake_fanout()
    return queued
