"""A real HAProxy for tests, balancing the given loopback servers with the configuration
``deploy/haproxy.cfg`` is rendered from (facade/cluster/servers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facade.cluster.servers import HAProxyServer


@contextmanager
def running_haproxy(root: Path, servers: list[tuple[str, str]]) -> Iterator[HAProxyServer]:
    balancer = HAProxyServer(root, servers).start()
    try:
        yield balancer
    finally:
        balancer.stop()
