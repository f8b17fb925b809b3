"""The event engine of one worker process: opened in the app's lifespan next to the
engine's :class:`~facade.engine.services.Services` (:func:`open_events`).

Background tasks, each a bounded loop that sleeps between rounds and is cancelled at
shutdown; none runs inside a FHIR request, and FHIR requests never wait for them:

- **fan-out** (:mod:`facade.events.fanout`): queued changes to events and deliveries;
- **delivery** (:mod:`facade.events.delivery`): the outbox, with bounded concurrency;
- **feeds** (:mod:`facade.events.feeds`): athena's changed-data feeds, one poller per
  practice and feed across every worker (a lease in the store);
- **heartbeats**: one per due Subscription across workers (compare-and-set on the due time);
- **cache tail**: every queued change, by whichever worker queued it, forgets the cached
  copies in *this* worker too, so a change made inside athena is visible through every
  worker within a poll interval (plus ``FACADE_EVENTS_IDLE_SECONDS``), not the cache TTL.

The facade's own writes reach it through the engine's write listener
(``Services.write_listeners``, called by :func:`facade.engine.writes.answer` with every
record a write touched): one durable INSERT in the request, the rest in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx

from capability.subscriptions import with_subscriptions
from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.engine.services import Services
from facade.events import delivery, fanout, feeds, notification, signing
from facade.events.subscriptions import auth_of, heartbeat_of
from facade.events.topics import Catalog, load_catalog
from facade.settings import Settings
from facade.store.events import Delivery, Event, EventStore, SubscriptionRow

log = logging.getLogger("facade.events")
Json = dict[str, Any]
BATCH = 50


class EventEngine:
    def __init__(
        self,
        services: Services,
        store: EventStore,
        catalog: Catalog,
        http: httpx.AsyncClient,
    ) -> None:
        self.services = services
        self.settings: Settings = services.settings
        self.store = store
        self.catalog = catalog
        self.http = http
        self.owner = secrets.token_hex(8)  # this worker's claims
        self.system = AuthContext(
            client_id="facade-events",
            scopes=ScopeSet.parse("system/*.rs"),
            practices=tuple(self.settings.practices),
        )
        self._fanout_wake = asyncio.Event()
        self._delivery_wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.settings.events_delivery_concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._tail = 0
        self.subscribed_feeds: set[tuple[str, str]] = set()  # checked by this worker

    # -- hooks -------------------------------------------------------------------------

    def on_write(
        self, resource_type: str, practice: str, rid: str, action: str, resource: Json | None
    ) -> None:
        """The engine's write listener: queue the change durably (one INSERT), wake fan-out.

        The resource the write produced is the event's state (a later read could already
        show a later change, and so hide this one); other records it touched are read.
        """
        if self.catalog.by_resource(resource_type):
            self.store.queue_change_now(practice, resource_type, rid, action, "own-write", resource)
            self.wake_fanout()

    def wake_fanout(self) -> None:
        self._fanout_wake.set()

    def wake_delivery(self) -> None:
        self._delivery_wake.set()

    def new_secret(self) -> str:
        return signing.new_secret()

    def seal_secret(self, secret: str, sid: str) -> str:
        """A Subscription's webhook secret as stored: sealed by the vault when one is
        configured (README "Credential vault"), bound to the Subscription's id."""
        vault = self.services.vault
        return secret if vault is None else vault.seal(secret, f"subscription:{sid}")

    def open_secret(self, row: SubscriptionRow) -> str:
        vault = self.services.vault
        return row.secret if vault is None else vault.open(row.secret, f"subscription:{row.id}")

    def new_message_id(self) -> str:
        return signing.new_message_id()

    def grant_active(self, row: SubscriptionRow) -> bool:
        if row.grant_id is None:
            return self.services.authz.clients.get(row.client_id) is not None
        return self.services.authz.store.grant_active(row.grant_id, int(time.time()))

    def heartbeat_period(self, row: SubscriptionRow) -> int | None:
        return heartbeat_of(row)

    def practice_of(self, resource: Json) -> str | None:
        rid = str(resource.get("id", ""))
        if rid.startswith("a-") and "." in rid:
            return rid[2:].split(".", 1)[0]
        return None

    def visible_to(self, row: SubscriptionRow, event: Event) -> bool:
        return fanout.wanted_by(self, row, event.resource) or (
            event.resource is None and auth_of(row).scopes.allows(event.resource_type, "r")
        )

    @contextlib.asynccontextmanager
    async def endpoint_slot(self, host: str) -> AsyncIterator[None]:
        limit = self._hosts.setdefault(
            host, asyncio.Semaphore(self.settings.events_endpoint_concurrency)
        )
        async with limit:
            yield

    async def handshake(self, row: SubscriptionRow) -> None:
        body = notification.encode(
            notification.bundle(self.settings.fhir_base, row, "handshake", time.time())
        )
        await self.store.enqueue(row.id, "handshake", self.new_message_id(), body, time.time())
        self.wake_delivery()

    # -- loops ---------------------------------------------------------------------------

    def start(self) -> None:
        loops: list[Callable[[], Coroutine[Any, Any, None]]] = [
            self._fanout_loop,
            self._delivery_loop,
            self._heartbeat_loop,
            self._tail_loop,
        ]
        if self.settings.events_feeds:
            loops.append(self._poll_loop)
        self._tasks = [asyncio.create_task(loop()) for loop in loops]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._running]:
            task.cancel()
        for task in [*self._tasks, *self._running]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _wait(self, wake: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
        wake.clear()

    async def _guarded(self, name: str, step: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a loop never dies; logged without payloads
            log.warning("events %s failed type=%s", name, type(exc).__name__)
            return None

    async def _fanout_loop(self) -> None:
        while True:
            done = await self._guarded("fan-out", self.fanout_once)
            if not done:
                await self._wait(self._fanout_wake, self.settings.events_idle_seconds)

    async def fanout_once(self) -> int:
        now = time.time()
        changes = await self.store.claim_changes(self.owner, now, 60.0, BATCH)
        for change in changes:
            ok = await fanout.process(self, change)
            if ok:
                await self.store.finish_change(change.id, self.owner)
            else:
                backoff = min(300.0, 2.0 ** min(change.attempts, 8))
                await self.store.retry_change(change.id, self.owner, time.time() + backoff)
        return len(changes)

    async def _delivery_loop(self) -> None:
        while True:
            claimed: list[Delivery] = await self._guarded("delivery", self.claim_some) or []
            for item in claimed:
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver(item))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if not claimed:
                await self._wait(self._delivery_wake, self.settings.events_idle_seconds)

    async def claim_some(self) -> list[Delivery]:
        free = self._slots._value  # deliveries this worker may still start
        if free <= 0:
            return []
        return await self.store.claim_deliveries(
            self.owner, time.time(), self.settings.events_delivery_lease_seconds, free
        )

    async def _deliver(self, item: Any) -> None:
        try:
            await self._guarded("delivery", lambda: delivery.deliver(self, item))
        finally:
            self._slots.release()
            self.wake_delivery()

    async def _poll_loop(self) -> None:
        while True:
            await self._guarded("feeds", lambda: feeds.poll_all(self))
            await asyncio.sleep(self.settings.events_poll_interval_seconds)

    async def _heartbeat_loop(self) -> None:
        while True:
            await self._guarded("heartbeat", self.heartbeats_once)
            await asyncio.sleep(self.settings.events_idle_seconds)

    async def heartbeats_once(self) -> None:
        now = time.time()
        for row in await self.store.heartbeat_candidates(now):
            period = heartbeat_of(row)
            if period is None or row.heartbeat_due is None:
                continue
            if not self.grant_active(row):
                await self.store.set_status(
                    row.id, "off", now, error="The authorization was revoked"
                )
                continue
            if not await self.store.take_heartbeat(row.id, row.heartbeat_due, now + period):
                continue  # another worker sends this one
            body = notification.encode(
                notification.bundle(self.settings.fhir_base, row, "heartbeat", now)
            )
            await self.store.enqueue(row.id, "heartbeat", self.new_message_id(), body, now)
            self.wake_delivery()

    async def _tail_loop(self) -> None:
        self._tail = await self.store.last_change_id()
        while True:
            await asyncio.sleep(self.settings.events_idle_seconds)
            await self._guarded("cache tail", self.tail_once)

    async def tail_once(self) -> None:
        for change_id, rtype, practice, rid in await self.store.changes_after(self._tail, 1000):
            self.services.cache.invalidate(rtype, practice, rid)
            self._tail = change_id


@asynccontextmanager
async def open_events(services: Services) -> AsyncIterator[EventEngine | None]:
    """The worker's event engine (None when ``FACADE_EVENTS_ENABLED`` is off)."""
    settings = services.settings
    if not settings.events_enabled:
        yield None
        return
    store = EventStore(settings.data_dir / "events.sqlite3")
    catalog = load_catalog(services.mappings)
    services.capability = with_subscriptions(
        services.capability, [(t.url, t.title) for t in catalog.topics.values()]
    )
    http = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=10.0)
    engine = EventEngine(services, store, catalog, http)
    services.write_listeners.append(engine.on_write)
    engine.start()
    try:
        yield engine
    finally:
        services.write_listeners.remove(engine.on_write)
        await engine.stop()
        await http.aclose()
        store.close()
