"""Rate budget per practice and surface: an adaptive token bucket with a bounded queue.

athena throttles per API key (API-NOTES §4.3: a per-second and a daily quota,
429 + ``Retry-After``). The facade keeps under it instead of discovering it:

- each (practice, surface) has a bucket that starts at the configured rate and burst;
- a request takes a token; without one it *reserves* the next (tokens go
  negative) and waits its turn, FIFO, if that wait fits in the request's
  deadline and the queue wait cap and the queue is not full; otherwise it gets
  ``Throttled`` with a ``Retry-After`` computed from the bucket — never a 500,
  never an unbounded queue;
- a 429 from athena pauses the bucket until ``Retry-After`` and halves its rate;
  successes recover it additively (AIMD) back to the configured rate;
- athena's daily quota headers, near exhaustion, cap the rate so the remaining
  calls last until the quota resets at midnight GMT.

Several hosts (README "Scale-out"): with a :class:`Reserve` (Redis, ``FACADE_REDIS_URL``)
each bucket is a :class:`SharedBucket`: the deployment's rate and burst are one GCRA for
every host, taken with the same reserve-and-wait contract; the local bucket, configured
with this process's share, takes over while Redis is away. Pauses and AIMD after a 429
stay per host (each host sees its own 429s) and scale the rate it asks Redis for.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from facade.errors import Throttled


@dataclass(frozen=True)
class BudgetConfig:
    rate: float  # requests per second
    burst: int
    max_wait: float  # seconds a request may queue
    max_waiters: int
    floor: float = 0.5  # the slowest adaptive rate, requests per second


class Bucket:
    def __init__(self, config: BudgetConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.rate = config.rate
        self.tokens = float(config.burst)
        self.updated = clock()
        self.paused_until = 0.0
        self.waiters = 0
        self.throttled = 0  # requests refused (observability)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            start = max(self.updated, self.paused_until)
            if now > start:
                self.tokens = min(self.config.burst, self.tokens + (now - start) * self.rate)
            self.updated = now

    async def acquire(self, allowed_wait: float) -> None:
        now = self._clock()
        self._refill(now)
        pause = max(0.0, self.paused_until - now)
        self.tokens -= 1.0
        wait = pause + (max(0.0, -self.tokens) / self.rate if self.tokens < 0 else 0.0)
        if wait <= 0:
            return
        limit = min(allowed_wait, self.config.max_wait)
        if wait > limit or self.waiters >= self.config.max_waiters:
            self.tokens += 1.0  # give the reservation back
            self.throttled += 1
            raise Throttled(
                "The upstream request budget is exhausted; retry later",
                retry_after=math.ceil(wait),
            )
        self.waiters += 1
        try:
            await asyncio.sleep(wait)
        finally:
            self.waiters -= 1

    def on_throttled(self, retry_after: float) -> None:
        now = self._clock()
        self._refill(now)
        self.paused_until = max(self.paused_until, now + retry_after)
        self.rate = max(self.config.floor, self.rate / 2)
        self.tokens = min(self.tokens, 0.0)

    def on_success(self) -> None:
        if self.rate < self.config.rate:
            self.rate = min(self.config.rate, self.rate + self.config.rate / 100)

    def on_quota(self, limit: int, remaining: int, now_utc: datetime | None = None) -> None:
        """Cap the rate so the daily quota lasts until it resets at midnight GMT."""
        if limit <= 0:
            return
        now_utc = now_utc or datetime.now(UTC)
        midnight = (now_utc + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        seconds_left = max(1.0, (midnight - now_utc).total_seconds())
        if remaining <= 0:
            self.paused_until = max(self.paused_until, self._clock() + seconds_left)
            return
        # Only near exhaustion (under a minute of traffic left at the current rate)
        # is the rest of the quota spread over the time until it resets.
        if remaining < self.rate * 60:
            self.rate = max(self.config.floor / 10, min(self.rate, remaining / seconds_left))


class Reserve(Protocol):
    def __call__(
        self, key: str, rate: float, burst: int, max_wait: float
    ) -> tuple[bool, float] | None:
        """(reserved, wait) from the shared budget; None when it cannot be reached."""
        ...


@dataclass(frozen=True)
class SharedBudget:
    reserve: Reserve
    rate: float  # the whole deployment's, requests per second
    burst: int
    name: str = "fhir"  # budgets with other rates (bulk) have their own keys


class SharedBucket(Bucket):
    """A bucket whose tokens are the deployment's (see the module docstring)."""

    def __init__(
        self,
        config: BudgetConfig,
        shared: SharedBudget,
        key: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, clock)
        self.shared = shared
        self.key = key
        self.local = 0  # reservations made locally because the shared budget was away

    async def acquire(self, allowed_wait: float) -> None:
        now = self._clock()
        pause = max(0.0, self.paused_until - now)
        limit = min(allowed_wait, self.config.max_wait)
        if self.waiters >= self.config.max_waiters or pause > limit:
            self.throttled += 1
            raise Throttled(
                "The upstream request budget is exhausted; retry later",
                retry_after=math.ceil(max(pause, 1.0)),
            )
        rate = self.shared.rate * (self.rate / self.config.rate)  # after a 429: slower
        answer = self.shared.reserve(self.key, rate, self.shared.burst, limit - pause)
        if answer is None:
            self.local += 1
            await super().acquire(allowed_wait)
            return
        reserved, wait = answer
        if not reserved:
            self.throttled += 1
            raise Throttled(
                "The upstream request budget is exhausted; retry later",
                retry_after=math.ceil(wait),
            )
        wait += pause
        if wait <= 0:
            return
        self.waiters += 1
        try:
            await asyncio.sleep(wait)
        finally:
            self.waiters -= 1


class RateBudget:
    """Buckets by key (practice, surface), created on first use."""

    def __init__(
        self,
        config: BudgetConfig,
        clock: Callable[[], float] = time.monotonic,
        *,
        shared: SharedBudget | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self.shared = shared
        self.buckets: dict[tuple[str, str], Bucket] = {}

    def bucket(self, key: tuple[str, str]) -> Bucket:
        found = self.buckets.get(key)
        if found is None:
            if self.shared is not None:
                name = f"{self.shared.name}:{key[0]}:{key[1]}"
                found = SharedBucket(self.config, self.shared, name, self._clock)
            else:
                found = Bucket(self.config, self._clock)
            self.buckets[key] = found
        return found
