"""athena's changed-data feeds, polled by exactly one worker per practice and feed
(API-NOTES §3.11; ``mappings/events/feeds.yaml``).

``GET /{feed}/changed`` hands over what changed since the last call and *marks it
processed*: athena will not hand it over again. So a poll must not lose what it was
given, even when the worker dies between athena's answer and the facade's commit:

1. the worker holds the feed's lease in the store (``pollers``: owner, lease; compare-
   and-set, so one worker across every process and host polls a feed at a time);
2. it records that a poll is in flight (``inflight_since`` = when it started) *before*
   calling athena;
3. it calls ``/changed`` once (never retried or shared: ``AthenaClient.rest(once=True)``)
   and queues every record the rows name (the ``changes`` table, durable);
4. only then it clears ``inflight_since``.

A worker that finds ``inflight_since`` set (the holder died, or its call failed or
timed out after athena may have marked records) first re-reads what athena processed
since then, minus a clock margin (``showprocessedstartdatetime`` /
``showprocessedenddatetime``, US Eastern), and queues it too. Records queued twice are
harmless: fan-out reports one event per new state. Nothing is lost, nothing is
duplicated. Before its first poll (and after a failed one) a worker checks the feed's
subscription and subscribes to every event unless athena says ``ACTIVE``
(``/changed`` without one is athena's 403 "Changed messages require setup").
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from facade.errors import FacadeError
from facade.events.topics import Feed
from facade.mapping.ids import format_id
from facade.upstream.client import UpstreamResponse

if TYPE_CHECKING:
    from facade.events.runtime import EventEngine

log = logging.getLogger("facade.events")
EASTERN = timezone(timedelta(hours=-5))  # athena's changed-feed parameters (API-NOTES §3.0)
MAX_CALLS = 10  # /changed calls per feed per cycle (each returns up to athena's page)


def eastern(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, EASTERN).strftime("%m/%d/%Y %H:%M:%S")


async def ensure_subscribed(engine: EventEngine, practice: str, feed: Feed) -> None:
    """Subscribe to every event of the feed unless athena says it is ACTIVE already
    (``/changed`` without a subscription is athena's 403 "Changed messages require setup")."""
    athena = engine.services.athena
    path = f"{feed.path}/subscription"
    response = await athena.rest("GET", practice, path)
    body = response.body if isinstance(response.body, dict) else {}
    if response.status >= 400 or body.get("status") != "ACTIVE":
        subscribed = await athena.rest("POST", practice, path, form={})
        if subscribed.status >= 400:
            raise FacadeError(f"athena refused the subscription to {feed.path}")


async def _changed(
    engine: EventEngine, practice: str, feed: Feed, params: list[tuple[str, str]]
) -> UpstreamResponse:
    response = await engine.services.athena.rest(
        "GET", practice, feed.path, params=params, once=True
    )
    if response.status >= 400:
        raise FacadeError(f"athena answered {response.status} on {feed.path}")
    return response


def _rows(feed: Feed, response: UpstreamResponse) -> list[dict[str, Any]]:
    body = response.body
    rows = body.get(feed.list_key, []) if isinstance(body, dict) else []
    return [r for r in rows if isinstance(r, dict)]


async def queue_rows(
    engine: EventEngine, practice: str, feed: Feed, rows: list[dict[str, Any]]
) -> int:
    queued = 0
    now = time.time()
    for row in rows:
        for record in feed.records:
            if not record.applies(row):
                continue
            table = engine.services.mappings.table(record.type)
            assert table is not None
            rid = format_id(practice, table.id.prefix, str(row[record.id]))
            await engine.store.add_change(practice, record.type, rid, record.action, "feed", now)
            engine.services.cache.invalidate(record.type, practice, rid)
            queued += 1
    if queued:
        engine.wake_fanout()
    return queued


async def poll(engine: EventEngine, practice: str, name: str, feed: Feed) -> int:
    """One cycle for one feed of one practice; the number of records queued."""
    store, owner, settings = engine.store, engine.owner, engine.settings
    started = time.time()
    state = await store.claim_poller(
        practice, name, owner, started, settings.events_poll_lease_seconds
    )
    if state is None:
        return 0  # another worker holds this feed
    queued = 0
    if (practice, name) not in engine.subscribed_feeds:
        await ensure_subscribed(engine, practice, feed)
        engine.subscribed_feeds.add((practice, name))
    if not await store.begin_poll(practice, name, owner, started):
        return 0
    if state.inflight_since is not None:  # a poll may have lost what athena handed over
        window = [
            (
                "showprocessedstartdatetime",
                eastern(state.inflight_since - settings.events_replay_margin_seconds),
            ),
            (
                "showprocessedenddatetime",
                eastern(time.time() + settings.events_replay_margin_seconds),
            ),
        ]
        response = await _changed(engine, practice, feed, window)
        queued += await queue_rows(engine, practice, feed, _rows(feed, response))
    for _ in range(MAX_CALLS):
        response = await _changed(engine, practice, feed, [])
        rows = _rows(feed, response)
        queued += await queue_rows(engine, practice, feed, rows)
        total = response.body.get("totalcount") if isinstance(response.body, dict) else None
        if not rows or not isinstance(total, int) or total <= len(rows):
            break
    await store.end_poll(practice, name, owner, time.time())
    return queued


async def poll_all(engine: EventEngine) -> None:
    for practice in engine.settings.practices:
        for name in engine.settings.events_feeds:
            feed = engine.catalog.feeds.get(name)
            if feed is None:
                continue
            try:
                await poll(engine, practice, name, feed)
            except FacadeError as exc:
                engine.subscribed_feeds.discard((practice, name))  # check it again next time
                log.info("feed poll failed feed=%s status=%s", name, exc.status)
