"""What several facade hosts share through Redis (``FACADE_REDIS_URL``, README "Scale-out").

Redis holds nothing durable: a host that cannot reach it keeps serving on what it has
(this host's share of the upstream budget, no entity cache, revocations from the
database) and uses it again once it answers (:class:`RedisLink` retries at most once per
:data:`RETRY_SECONDS`; every call is bounded by a short socket timeout).

- :meth:`RedisLink.reserve`: the rate budget per practice and surface as one GCRA across
  every host (a Lua script, atomic, on Redis's clock): a request reserves the next slot
  and waits for it, or is refused with the wait when that exceeds what it may wait, the
  same contract as the local bucket (:mod:`facade.upstream.budget`);
- cache validity: every cached entry carries the *generation* of its resource seen when
  it was stored; a write bumps the generation (``INCR``) before the write is answered,
  and a host checks it before serving a hit (one ``MGET``), so a write through one host
  is never answered stale by another. The bump is also published, so other hosts drop
  their copies at once. A cluster-wide *epoch* is part of every generation: a host that
  could not publish a bump (Redis away during a write) moves the epoch on when Redis is
  back, and a Redis that restarted empty has a new epoch: both invalidate every copy;
- single-flight across hosts (:meth:`RedisLink.claim_flight`,
  :class:`facade.upstream.singleflight.SharedFlight`): a lock per identical upstream read;
  the holder publishes its result for the callers waiting on that very call (kept two
  seconds, keyed by the holder's token, so a later call never gets an earlier result);
- revocation fan-out: a revoked token or grant is published, and every host refuses it
  from then on even while the database is away (:class:`SharedAuthStore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from cachetools import TTLCache
from redis.backoff import NoBackoff
from redis.retry import Retry

from facade.cache import Cached, EntityCache
from facade.errors import StoreUnavailable
from facade.store.database import Location
from facade.store.sqlite import SqliteAuthStore

log = logging.getLogger("facade.shared")
RETRY_SECONDS = 1.0
PREFIX = "facade:"
CHANNEL_INVALIDATE = PREFIX + "invalidate"
CHANNEL_REVOKE = PREFIX + "revoke"
EPOCH = PREFIX + "epoch"
GEN_TTL_SECONDS = 2 * 24 * 3600  # longer than any table's cache TTL

# GCRA with reservations. KEYS[1]: the budget's theoretical arrival time (TAT). ARGV:
# seconds per request, burst, the longest wait the caller accepts. Answer {1, wait}
# (reserved: start after `wait` seconds) or {0, wait} (refused; nothing reserved).
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait > max_wait then return {0, tostring(wait)} end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
if wait < 0 then wait = 0 end
return {1, tostring(wait)}
"""


RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLink:
    """One host process's connection to Redis: bounded calls, a fallback when it is away,
    and a listener thread for the channels (handlers run on the event loop)."""

    def __init__(self, url: str, *, timeout: float = 0.5) -> None:
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )
        self._gcra = self.client.register_script(GCRA)
        self._release = self.client.register_script(RELEASE)
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._missed = False  # a bump could not be sent: move the epoch on when back
        self._handlers: dict[str, list[Callable[[str], None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0  # calls that found Redis away (observability)

    # -- availability -----------------------------------------------------------------

    @property
    def up(self) -> bool:
        return self._down_since is None or time.monotonic() >= self._retry_at

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self._down_since is None:
            log.warning("redis unavailable (%s): serving on local state", type(exc).__name__)
            self._down_since = time.monotonic()
        self._retry_at = time.monotonic() + RETRY_SECONDS

    def _recovered(self) -> None:
        if self._down_since is not None:
            log.warning("redis available again")
            self._down_since = None
        if self._missed:
            self._missed = False
            self.client.incr(EPOCH)  # every copy cached before is now invalid

    def call(self, fn: Callable[[], Any], default: Any = None) -> Any:
        if not self.up:
            return default
        try:
            answer = fn()
            self._recovered()
            return answer
        except redis.RedisError as exc:
            self._failed(exc)
            return default

    def ping(self) -> bool:
        return bool(self.call(self.client.ping, False))

    # -- the rate budget --------------------------------------------------------------

    def reserve(
        self, key: str, rate: float, burst: int, max_wait: float
    ) -> tuple[bool, float] | None:
        """GCRA reservation across hosts; None when Redis is away (use the local share)."""
        answer = self.call(
            lambda: self._gcra(keys=[PREFIX + "budget:" + key], args=[1.0 / rate, burst, max_wait])
        )
        if answer is None:
            return None
        return bool(int(answer[0])), float(answer[1])

    # -- single-flight across hosts ---------------------------------------------------

    def claim_flight(self, key: str, ttl: float) -> tuple[bool, str] | None:
        name = PREFIX + "flight:" + key
        token = secrets.token_hex(8)
        ms = max(1, int(ttl * 1000))

        def claim() -> tuple[bool, str] | None:
            if self.client.set(name, token, nx=True, px=ms):
                return True, token
            held = self.client.get(name)
            return (False, str(held)) if held is not None else None

        answer: tuple[bool, str] | None = self.call(claim)
        return answer

    def finish_flight(self, key: str, token: str, result: bytes | None) -> None:
        def finish() -> None:
            pipe = self.client.pipeline(transaction=False)
            if result is not None:  # kept only for the callers already waiting on it
                pipe.set(PREFIX + "flight-result:" + token, result.hex(), px=2000)
            pipe.execute()
            self._release(keys=[PREFIX + "flight:" + key], args=[token])

        self.call(finish)

    def flight_result(self, key: str, token: str) -> tuple[bool, bytes | None]:
        answer = self.call(
            lambda: self.client.mget([PREFIX + "flight:" + key, PREFIX + "flight-result:" + token])
        )
        if answer is None:
            return False, None
        holder, value = answer
        return holder == token, bytes.fromhex(value) if value is not None else None

    # -- cache generations ------------------------------------------------------------

    def generation(self, key: str) -> str | None:
        """``epoch:n`` of a resource; None when Redis is away (nothing may be served)."""
        answer = self.call(lambda: self.client.mget([EPOCH, PREFIX + "gen:" + key]))
        if answer is None:
            return None
        epoch, gen = answer
        if epoch is None:  # a Redis that is new (or restarted empty): a new epoch
            self.call(lambda: self.client.set(EPOCH, secrets.randbelow(2**31), nx=True))
            epoch = self.call(lambda: self.client.get(EPOCH))
            if epoch is None:
                return None
        return f"{epoch}:{gen or 0}"

    def bump(self, key: str) -> None:
        """A write changed the resource: its cached copies everywhere are stale."""

        def send() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(PREFIX + "gen:" + key)
            pipe.expire(PREFIX + "gen:" + key, GEN_TTL_SECONDS)
            pipe.publish(CHANNEL_INVALIDATE, key)
            pipe.execute()
            return None

        if self.call(send, "failed") == "failed":
            self._missed = True

    def publish(self, channel: str, message: str) -> bool:
        return self.call(lambda: self.client.publish(channel, message), None) is not None

    # -- channels ---------------------------------------------------------------------

    def subscribe(self, channel: str, handler: Callable[[str], None]) -> None:
        self._handlers.setdefault(channel, []).append(handler)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self._handlers and self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="redis-listener", daemon=True)
            self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(*self._handlers)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message is not None:
                        self._dispatch(str(message["channel"]), str(message["data"]))
            except (redis.RedisError, OSError):
                self._stop.wait(RETRY_SECONDS / 2)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    pubsub.close()

    def _dispatch(self, channel: str, data: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for handler in self._handlers.get(channel, ()):
            loop.call_soon_threadsafe(handler, data)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.client.close()


def _cache_key(rtype: str, practice: str, rid: str) -> str:
    return f"{rtype}|{practice}|{rid}"


class SharedEntityCache(EntityCache):
    """The entity cache of one host, kept valid across hosts by generations in Redis.

    Without Redis nothing is served from (or stored in) the cache: another host's write
    could not be seen. A fetch concurrent with another host's write can store the older
    copy, as within one host; its table's TTL bounds that (facade/cache.py).
    """

    def __init__(
        self, ttls: dict[str, int], *, max_entries: int, enabled: bool, link: RedisLink
    ) -> None:
        super().__init__(ttls, max_entries=max_entries, enabled=enabled)
        self._link = link
        longest = max([ttl for ttl in ttls.values() if ttl > 0], default=1)
        self._gens: TTLCache[str, str] = TTLCache(maxsize=max_entries * 4, ttl=longest)
        link.subscribe(CHANNEL_INVALIDATE, self._heard)

    def _heard(self, key: str) -> None:
        rtype, practice, rid = key.split("|", 2)
        super().invalidate(rtype, practice, rid)

    def get(self, rtype: str, practice: str, rid: str, compartment: str) -> Cached | None:
        if not self.enabled or not self._link.up:
            self.misses += 1
            return None
        entry = super().get(rtype, practice, rid, compartment)
        if entry is None:
            return None
        key = _cache_key(rtype, practice, rid)
        if self._link.generation(key) != self._gens.get(key):
            super().invalidate(rtype, practice, rid)
            self.hits -= 1
            self.misses += 1
            return None
        return entry

    def put(self, rtype: str, practice: str, rid: str, compartment: str, value: Cached) -> None:
        if not self.enabled or rtype not in self._caches:
            return
        key = _cache_key(rtype, practice, rid)
        current = self._link.generation(key)
        if current is None:
            return
        if self._gens.get(key) != current:
            super().invalidate(rtype, practice, rid)  # other compartments' older copies
            self._gens[key] = current
        super().put(rtype, practice, rid, compartment, value)

    def invalidate(self, rtype: str, practice: str, rid: str) -> None:
        super().invalidate(rtype, practice, rid)
        self._link.bump(_cache_key(rtype, practice, rid))


class SharedAuthStore(SqliteAuthStore):
    """The authorization store on the shared database, answering bearer checks fast.

    Every request asks whether its token or grant was revoked. Answers from the database
    are kept for :attr:`ANSWER_SECONDS` (so a revocation through another host is
    effective here within that bound even without Redis); a revocation heard on Redis
    is effective at once. While the database is away the last answer (or "not revoked")
    stands, so reads keep being served; sign-ins, token requests and revocations need the
    database and answer 503 until it is back.
    """

    ANSWER_SECONDS = 1.0
    caches_answers = True
    HEARD_SECONDS = 24 * 3600.0

    def __init__(self, path: Location, link: RedisLink | None) -> None:
        super().__init__(path)
        self._link = link
        self._guard = threading.Lock()
        self._fresh: TTLCache[str, bool] = TTLCache(maxsize=100_000, ttl=self.ANSWER_SECONDS)
        self._last: TTLCache[str, bool] = TTLCache(maxsize=100_000, ttl=self.HEARD_SECONDS)
        if link is not None:
            link.subscribe(CHANNEL_REVOKE, self._heard)

    def _heard(self, key: str) -> None:
        with self._guard:
            self._fresh[key] = True
            self._last[key] = True

    def _revoked(self, key: str, ask: Callable[[], bool]) -> bool:
        with self._guard:
            known = self._fresh.get(key)
        if known is not None:
            return known
        try:
            revoked = ask()
        except StoreUnavailable:
            with self._guard:
                return self._last.get(key, False)
        with self._guard:
            self._fresh[key] = revoked
            self._last[key] = revoked
        return revoked

    def _announce(self, key: str) -> None:
        self._heard(key)
        if self._link is not None:
            self._link.publish(CHANNEL_REVOKE, key)

    def token_revoked(self, jti: str) -> bool:
        return self._revoked("t:" + jti, lambda: SqliteAuthStore.token_revoked(self, jti))

    def grant_active(self, grant_id: str, now: int) -> bool:
        return not self._revoked(
            "g:" + grant_id, lambda: not SqliteAuthStore.grant_active(self, grant_id, now)
        )

    def revoke_token(self, jti: str, expires_at: int) -> None:
        super().revoke_token(jti, expires_at)
        self._announce("t:" + jti)

    def revoke_grant(self, grant_id: str) -> None:
        super().revoke_grant(grant_id)
        self._announce("g:" + grant_id)
