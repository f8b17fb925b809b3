"""From a change to notifications: one event per real change, numbered per Subscription.

A *change* says only that a record may have changed (the facade wrote it, athena's
changed feed or push platform named it). Fan-out takes queued changes (a claim with a
lease, so every worker helps and none takes the same change), takes the resource as the
facade's write produced it or else reads it as it is now through the engine (the cache
forgotten first), and compares it with the last
state an event reported for it (``resource_state``, a content hash without ``meta``):

- the same state: a duplicate (athena delivers at least once, the feed and the push
  platform may both name it, the facade's own write named it first): nothing;
- a new state: the topics whose trigger holds for (action, previous, current), then
  every live Subscription of those topics whose filters match and whose owner may read
  the resource (scopes, practices, patient compartment) numbers the event and, when
  active, gets a delivery in the outbox — all in one transaction with the new state.

Out-of-order rows are harmless: each reads the current state, so a stale row finds
the state already reported. A failed read (athena throttling or down) leaves the
change queued with a growing back-off.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from facade.auth import policy
from facade.engine import reads
from facade.errors import FacadeError, Forbidden, NotFound
from facade.events import notification
from facade.events.subscriptions import auth_of, parse_filter
from facade.mapping.filter import matches
from facade.store.events import Change, Event, NewNotification, SubscriptionRow

if TYPE_CHECKING:
    from facade.events.runtime import EventEngine

log = logging.getLogger("facade.events")
Json = dict[str, Any]
DELETED = "deleted"


def content_hash(resource: Json | None) -> str:
    if resource is None:
        return DELETED
    body = orjson.dumps(
        {k: v for k, v in resource.items() if k != "meta"}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(body).hexdigest()


def wanted_by(engine: EventEngine, row: SubscriptionRow, resource: Json | None) -> bool:
    """The Subscription's filters match and its owner may read the resource."""
    if resource is None:
        return False
    topic = engine.catalog.topics.get(row.topic)
    if topic is None:
        return False
    table = engine.services.mappings.table(topic.resource)
    assert table is not None
    auth = auth_of(row)
    try:
        if not auth.scopes.allows(topic.resource, "r") or not policy.visible(
            table, auth, resource, "r"
        ):
            return False
        practice = engine.practice_of(resource)
        if practice is not None and practice not in auth.practices:
            return False
    except Forbidden:
        return False
    filters = [
        ext.get("valueString")
        for ext in (row.resource.get("_criteria") or {}).get("extension", []) or []
        if str(ext.get("url", "")).endswith("/backport-filter-criteria")
    ]
    try:
        return all(
            matches(resource, table, parse_filter(engine, topic.resource, f, "criteria"))
            for f in filters
        )
    except FacadeError:
        return False


async def process(engine: EventEngine, change: Change) -> bool:
    """Handle one change; False: it must be retried later."""
    services = engine.services
    table = services.mappings.table(change.resource_type)
    if table is None:
        return True
    services.cache.invalidate(change.resource_type, change.practice, change.rid)
    every = tuple(t.url for t in engine.catalog.by_resource(change.resource_type))
    if not await engine.store.live_subscriptions(every):
        return True  # nobody subscribes to this type: no read, nothing to report
    try:
        resource: Json | None = (
            change.resource
            or (
                await reads.read(services, engine.system, change.resource_type, change.rid)
            ).resource
        )
    except NotFound:
        resource = None
    except FacadeError as exc:
        log.info("event read failed type=%s status=%s", change.resource_type, exc.status)
        return False
    key = f"{change.resource_type}/{change.rid}"
    new_hash = content_hash(resource)
    for _ in range(5):  # another worker may record a newer state meanwhile: read it again
        state = await engine.store.state_of(key)
        previous_hash, previous = state if state else (None, None)
        if previous_hash == new_hash:
            return True  # a duplicate, or nothing that a client can see changed
        if resource is None and previous_hash in (None, DELETED):
            return True  # never reported (an open slot, an unknown record): nothing to say
        action = change.action
        if resource is None:
            action = "delete"
        elif action == "delete" or (action == "create" and previous not in (None,)):
            action = "update"
        topics = tuple(
            t.url
            for t in engine.catalog.by_resource(change.resource_type)
            if t.triggered(action, previous, resource)
        )
        event = Event(
            0,
            change.practice,
            change.resource_type,
            change.rid,
            action,
            resource,
            topics,
            0.0,
        )
        notify = []
        for row in await engine.store.live_subscriptions(topics):
            if not engine.grant_active(row):  # a revoked grant turns its Subscription off
                await engine.store.set_status(
                    row.id, "off", time.time(), error="The authorization was revoked"
                )
                continue
            if not wanted_by(engine, row, resource if resource is not None else previous):
                continue
            notify.append(
                NewNotification(
                    subscription_id=row.id,
                    topic=row.topic,
                    deliver=row.status == "active",
                    webhook_id=engine.new_message_id(),
                    build=_builder(engine, row),
                )
            )
        now = time.time()
        recorded = await engine.store.record_event(key, previous_hash, new_hash, event, notify, now)
        if recorded is not None:
            if recorded[1]:
                engine.wake_delivery()
            return True
    return False


def _builder(engine: EventEngine, row: SubscriptionRow) -> Any:
    def build(number: int, count: int, event: Event) -> bytes:
        return notification.encode(
            notification.bundle(
                engine.settings.fhir_base,
                row,
                "event-notification",
                event.created_at,
                events=[(number, event)],
                topics=engine.catalog.topics,
                count=count,
            )
        )

    return build
