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
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


class RateBudget:
    """Buckets by key (practice, surface), created on first use."""

    def __init__(self, config: BudgetConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.buckets: dict[tuple[str, str], Bucket] = {}

    def bucket(self, key: tuple[str, str]) -> Bucket:
        found = self.buckets.get(key)
        if found is None:
            found = self.buckets[key] = Bucket(self.config, self._clock)
        return found
