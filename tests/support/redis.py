"""A real ``redis-server`` for tests, on a free loopback port, no persistence."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facade.cluster.servers import RedisServer


@contextmanager
def running_redis(root: Path) -> Iterator[RedisServer]:
    server = RedisServer(root).start()
    try:
        yield server
    finally:
        server.stop()
