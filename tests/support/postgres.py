"""A real PostgreSQL for tests: Debian's binaries (``initdb`` / ``pg_ctl``) into a temporary
directory, on a free loopback port (facade/cluster/servers.py), never a mock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facade.cluster.servers import PostgresServer


@contextmanager
def running_postgres(root: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(root).start()
    try:
        yield server
    finally:
        server.remove()
