"""Signed rest-hook delivery from the outbox: at least once, retried, then dead-lettered.

A worker claims due outbox rows (owner token and lease, like the ledger); each is
POSTed with the Subscription's ``channel.payload`` content type, every ``channel.header``
line verbatim, and Standard Webhooks headers (``webhook-id`` is the row's, the same on
every retry). ``2xx`` is success (``3xx`` counts as failure, redirects are not
followed). A failure is retried after the next step of ``FACADE_EVENTS_RETRY_SCHEDULE``
(with jitter, or the receiver's ``Retry-After`` when longer); after the last step the
row is dead-lettered and the Subscription set to ``error``. ``410 Gone`` turns the
Subscription ``off``. A handshake that fails sets ``error`` at once (IG ``workflow.md``);
one that succeeds sets ``active``. Before each attempt the owner's grant must still be
active, else the Subscription is turned ``off``.

Deliveries never share the FHIR request path: each runs in the worker's background
task group, at most ``FACADE_EVENTS_DELIVERY_CONCURRENCY`` at once and
``FACADE_EVENTS_ENDPOINT_CONCURRENCY`` per endpoint host, each bounded by its timeout,
so a slow endpoint holds only its own slots.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx

from facade.events import endpoint, signing
from facade.events.subscriptions import timeout_of
from facade.store.events import Delivery, SubscriptionRow

if TYPE_CHECKING:
    from facade.events.runtime import EventEngine

log = logging.getLogger("facade.events")
USER_AGENT = "athena-fhir-facade-events"


def retry_delay(engine: EventEngine, attempts: int, retry_after: float | None) -> float | None:
    """Seconds before the next try after ``attempts`` failed ones; None: dead-letter."""
    schedule = engine.settings.events_retry_schedule
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    jitter = engine.settings.events_retry_jitter
    delay = base * (1 + random.uniform(-jitter, jitter))
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(schedule)))
    return delay


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    return float(value) if value and value.isdigit() else None


def request_headers(row: SubscriptionRow, delivery: Delivery, now: int) -> dict[str, str]:
    channel = row.resource.get("channel", {})
    headers = {"User-Agent": USER_AGENT}
    for line in channel.get("header") or []:
        name, _, value = str(line).partition(":")
        headers[name.strip()] = value.strip()
    headers["Content-Type"] = str(channel.get("payload") or "application/fhir+json")
    headers.update(signing.headers(row.secret, delivery.webhook_id, now, delivery.body))
    return headers


async def deliver(engine: EventEngine, delivery: Delivery) -> None:
    """One attempt of one outbox row (the caller holds its claim)."""
    store, owner = engine.store, engine.owner
    now = time.time()
    row = await store.subscription(delivery.subscription_id)
    wanted = "requested" if delivery.kind == "handshake" else "active"
    if row is None or row.status != wanted:
        await store.failed(delivery.id, owner, None, None, now)  # nothing to deliver to
        return
    if not engine.grant_active(row):
        await store.set_status(row.id, "off", now, error="The authorization was revoked")
        return
    channel = row.resource.get("channel", {})
    try:
        target = endpoint.check_endpoint(
            channel.get("endpoint"),
            allow_loopback=engine.settings.events_loopback_allowed,
            private_hosts=engine.settings.events_allow_private_hosts,
        )
    except endpoint.EndpointRefused:
        await store.failed(delivery.id, owner, None, None, now)
        await store.set_status(row.id, "error", now, error="The endpoint is no longer allowed")
        return
    response: httpx.Response | None = None
    async with engine.endpoint_slot(target.host):
        try:
            response = await endpoint.post(
                engine.http,
                target,
                delivery.body,
                request_headers(
                    replace(row, secret=engine.open_secret(row)), delivery, int(time.time())
                ),
                seconds=timeout_of(row, engine.settings.events_delivery_timeout_seconds),
                allow_loopback=engine.settings.events_loopback_allowed,
            )
        except (httpx.HTTPError, OSError, TimeoutError, endpoint.Refused) as exc:
            log.info("delivery failed kind=%s reason=%s", delivery.kind, type(exc).__name__)
    now = time.time()
    status = response.status_code if response is not None else None
    if status is not None and 200 <= status < 300:
        await store.delivered(delivery.id, owner, status, now)
        if delivery.kind == "handshake":
            period = engine.heartbeat_period(row)
            await store.replace_subscription(
                row.id, row.resource, "active", now + period if period else None, now
            )
        return
    if status == 410:
        await store.failed(delivery.id, owner, status, None, now)
        await store.set_status(row.id, "off", now, error="The endpoint answered 410 Gone")
        return
    if delivery.kind == "handshake":
        await store.failed(delivery.id, owner, status, None, now)
        reason = f"the handshake got {status}" if status else "the handshake got no answer"
        await store.set_status(
            row.id, "error", now, error=reason.capitalize(), only_from="requested"
        )
        return
    delay = retry_delay(engine, delivery.attempts + 1, _retry_after(response))
    if delay is None:
        await store.failed(delivery.id, owner, status, None, now)
        if delivery.kind == "event-notification":
            await store.set_status(
                row.id,
                "error",
                now,
                error=f"A notification was not accepted after {delivery.attempts + 1} attempts",
            )
        return
    await store.failed(delivery.id, owner, status, now + delay, now)
