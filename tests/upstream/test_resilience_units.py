"""Rate budget, circuit breaker, single-flight and backoff, with a fake clock."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from facade.errors import Throttled, UpstreamUnavailable
from facade.upstream.breaker import Breaker, BreakerConfig
from facade.upstream.budget import Bucket, BudgetConfig
from facade.upstream.client import RetryPolicy
from facade.upstream.singleflight import SingleFlight


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bucket(clock: Clock, **overrides: float) -> Bucket:
    values = {"rate": 10.0, "burst": 2, "max_wait": 1.0, "max_waiters": 100, **overrides}
    return Bucket(BudgetConfig(**values), clock)  # type: ignore[arg-type]


async def test_burst_then_refill() -> None:
    clock = Clock()
    b = bucket(clock, max_wait=0.0)
    await b.acquire(5)
    await b.acquire(5)
    with pytest.raises(Throttled) as err:
        await b.acquire(5)
    assert err.value.retry_after == 1
    assert b.throttled == 1
    clock.now += 0.1  # one token at 10/s
    await b.acquire(5)


async def test_queueing_is_bounded_by_the_deadline_and_cap() -> None:
    clock = Clock()
    b = bucket(clock, burst=1, rate=2.0, max_wait=10.0)
    await b.acquire(5)
    with pytest.raises(Throttled):
        await b.acquire(0.1)  # the next token is 0.5 s away, the deadline 0.1 s
    b2 = bucket(clock, burst=1, rate=100.0, max_wait=1.0)
    await b2.acquire(5)
    await b2.acquire(5)  # waits ~10 ms: allowed


async def test_full_queue_refuses_at_once() -> None:
    clock = Clock()
    b = bucket(clock, burst=1, rate=1.0, max_wait=5.0, max_waiters=0)
    await b.acquire(5)
    with pytest.raises(Throttled):
        await b.acquire(5)


async def test_throttle_pauses_and_halves_then_recovers() -> None:
    clock = Clock()
    b = bucket(clock, max_wait=0.0)
    b.on_throttled(3)
    assert b.rate == 5.0
    with pytest.raises(Throttled) as err:
        await b.acquire(10)
    assert err.value.retry_after >= 3
    clock.now += 3.5
    await b.acquire(10)
    for _ in range(100):
        b.on_success()
    assert b.rate == 10.0


def test_quota_near_exhaustion_spreads_the_rest_until_midnight_gmt() -> None:
    clock = Clock()
    b = bucket(clock)
    noon = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    b.on_quota(500_000, 400_000, noon)
    assert b.rate == 10.0  # plenty left: no change
    b.on_quota(500_000, 432, noon)  # 432 calls for 43,200 s
    assert b.rate == pytest.approx(0.05)
    b.on_quota(500_000, 0, noon)
    assert b.paused_until == pytest.approx(clock.now + 43_200)


def test_breaker_opens_fails_fast_probes_and_closes() -> None:
    clock = Clock()
    breaker = Breaker(BreakerConfig(threshold=3, open_seconds=5), clock)
    for _ in range(3):
        breaker.before()
        breaker.failure()
    assert breaker.state == "open"
    with pytest.raises(UpstreamUnavailable) as err:
        breaker.before()
    assert err.value.status == 503 and err.value.headers["Retry-After"] == "5"
    clock.now += 5
    assert breaker.state == "half-open"
    breaker.before()  # the probe
    with pytest.raises(UpstreamUnavailable):
        breaker.before()  # only one probe at a time
    breaker.failure()
    assert breaker.state == "open" and breaker.opens == 2
    clock.now += 5
    breaker.before()
    breaker.success()
    assert breaker.state == "closed"
    breaker.before()


def test_breaker_ignores_isolated_failures() -> None:
    breaker = Breaker(BreakerConfig(threshold=3, open_seconds=5), Clock())
    for _ in range(10):
        breaker.failure()
        breaker.failure()
        breaker.success()
    assert breaker.state == "closed"


async def test_single_flight_shares_one_call_and_its_errors() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0

    async def slow() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 42

    results = await asyncio.gather(*(flight.run("k", slow) for _ in range(100)))
    assert results == [42] * 100 and calls == 1 and flight.shared == 99

    async def boom() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("upstream")

    outcomes = await asyncio.gather(
        *(flight.run("e", boom) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, ValueError) for o in outcomes)
    assert await flight.run("k", slow) == 42 and calls == 2  # nothing kept afterwards


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(attempts=5, base=0.1, cap=0.5)
    rng = random.Random(3)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (5, 0.5)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2


def test_upstream_paths_are_logged_without_ids() -> None:
    import doctest

    from facade.upstream import client

    assert doctest.testmod(client).failed == 0
    assert client.path_template("/chart/encounters/77/summary") == "/chart/encounters/{id}/summary"
    assert client.path_template("/patients") == "/patients"
