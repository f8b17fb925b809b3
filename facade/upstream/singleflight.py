"""Single-flight: identical concurrent upstream reads are made once and shared.

The first caller for a key runs the call; callers arriving while it is in
flight await the same result (or the same error). Nothing is cached after the
call completes — that is the entity cache's job. With Redis, :class:`SharedFlight` does
the same across hosts (README "Scale-out").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}
        self.shared = 0  # callers served by another caller's call (observability)

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        existing = self._inflight.get(key)
        if existing is not None:
            self.shared += 1
            return await asyncio.shield(existing)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await call()
        except BaseException as exc:
            future.set_exception(exc)
            # Mark the exception retrieved when nobody else waited for it.
            future.exception()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._inflight[key]


class FlightLink(Protocol):
    """Where hosts meet for a shared flight (Redis: facade.store.shared.RedisLink)."""

    def claim_flight(self, key: str, ttl: float) -> tuple[bool, str] | None:
        """(True, token): this caller makes the call; (False, token): another host's call
        ``token`` is in flight; None: the link is away (make the call alone)."""
        ...

    def finish_flight(self, key: str, token: str, result: bytes | None) -> None: ...

    def flight_result(self, key: str, token: str) -> tuple[bool, bytes | None]:
        """(still in flight, its result once there)."""
        ...


class SharedFlight:
    """Single-flight across hosts: identical upstream reads in flight on several hosts at
    once are made once; the others take its result (never one finished before they asked).

    ``encode`` turns a result into bytes (None: not shareable, e.g. raw export files);
    failures are never shared: the waiters then make their own call.
    """

    def __init__(
        self,
        link: FlightLink,
        encode: Callable[[Any], bytes | None],
        decode: Callable[[bytes], Any],
        *,
        ttl: float,
        poll: float = 0.005,
    ) -> None:
        self._link, self._encode, self._decode = link, encode, decode
        self._ttl, self._poll = ttl, poll
        self.shared = 0  # calls answered by another host's call (observability)

    async def run(self, key: str, call: Callable[[], Awaitable[T]]) -> T:
        claim = self._link.claim_flight(key, self._ttl)
        if claim is None:
            return await call()
        mine, token = claim
        if mine:
            try:
                result = await call()
            except BaseException:
                self._link.finish_flight(key, token, None)
                raise
            self._link.finish_flight(key, token, self._encode(result))
            return result
        deadline = time.monotonic() + self._ttl
        while time.monotonic() < deadline:
            flying, value = self._link.flight_result(key, token)
            if value is not None:
                self.shared += 1
                decoded: T = self._decode(value)
                return decoded
            if not flying:
                break  # it failed (or was not shareable): make the call
            await asyncio.sleep(self._poll)
        return await call()
