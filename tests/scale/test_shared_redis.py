"""The Redis side on a real redis-server: the GCRA budget's reserve-and-wait contract, its
fallback to this host's share while Redis is away, cache generations and the epoch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from facade.cache import render
from facade.cluster.servers import RedisServer
from facade.errors import Throttled
from facade.store.shared import RETRY_SECONDS, RedisLink, SharedEntityCache
from facade.upstream.budget import BudgetConfig, SharedBucket, SharedBudget
from tests.support.redis import running_redis


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


def test_the_shared_budget_reserves_in_turn_and_refuses_beyond_the_wait(
    redis_server: RedisServer,
) -> None:
    link = RedisLink(redis_server.url)
    try:
        # rate 10/s, burst 2: two at once, then one slot every 0.1 s
        answers = [link.reserve("t:gcra", 10.0, 2, 0.25) for _ in range(5)]
        assert [a[0] for a in answers if a] == [True, True, True, True, False]
        waits = [a[1] for a in answers if a]
        assert waits[0] == waits[1] == 0.0
        assert 0.0 < waits[2] < waits[3] <= 0.25 < waits[4]  # later slots, then refused
    finally:
        link.close()


def test_without_redis_a_bucket_keeps_to_this_hosts_share() -> None:
    def away(key: str, rate: float, burst: int, max_wait: float) -> None:
        return None

    share = BudgetConfig(rate=1.0, burst=1, max_wait=0.0, max_waiters=10)  # 1 of N hosts
    bucket = SharedBucket(share, SharedBudget(away, rate=100.0, burst=100), "k")

    async def twice() -> None:
        await bucket.acquire(1.0)  # the local share's one token
        with pytest.raises(Throttled):
            await bucket.acquire(1.0)  # the share, not the deployment's 100/s, applies

    asyncio.run(twice())
    assert bucket.local == 2


def test_a_write_invalidates_every_hosts_copy_and_a_new_redis_invalidates_all(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("redis-epoch")
    server = RedisServer(root).start()
    one, two = RedisLink(server.url), RedisLink(server.url)
    try:
        ttls = {"Patient": 300}
        a = SharedEntityCache(ttls, max_entries=100, enabled=True, link=one)
        b = SharedEntityCache(ttls, max_entries=100, enabled=True, link=two)
        entry = render({"resourceType": "Patient", "id": "x"})
        b.put("Patient", "1", "x", "*", entry)
        assert b.get("Patient", "1", "x", "*") == entry
        a.invalidate("Patient", "1", "x")  # a write through the other host
        assert b.get("Patient", "1", "x", "*") is None
        b.put("Patient", "1", "x", "*", entry)
        assert b.get("Patient", "1", "x", "*") == entry
        server.stop()  # Redis restarts empty: nothing cached before may be served
        assert b.get("Patient", "1", "x", "*") is None  # away: no cache at all
        server.start()
        time.sleep(RETRY_SECONDS + 0.1)  # the link asks Redis again after its pause
        assert b.get("Patient", "1", "x", "*") is None  # a new epoch
    finally:
        one.close()
        two.close()
        server.stop()
