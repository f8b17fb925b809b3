"""Worker functions run in separate processes (multiprocessing "spawn") by race tests.

Top-level so that a spawned interpreter can import them; each opens its own
store or registry on the shared files, as a server worker process would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facade.store import SqliteAuthStore
from facade.store.base import token_hash


def take_codes(path: str, codes: list[str], barrier: Any, out: Any) -> None:
    """Take every code once; report which takes found it unused (first use)."""
    store = SqliteAuthStore(Path(path))
    barrier.wait()
    fresh = []
    for code in codes:
        record = store.take_code(token_hash(code))
        if record is not None and not record.used:
            fresh.append(code)
    store.close()
    out.put(fresh)


def add_clients(data_dir: str, prefix: str, count: int, barrier: Any) -> None:
    """What ``athena-facade clients add`` does, ``count`` times, racing other processes."""
    from facade.auth.clients import Client
    from facade.auth.factory import clients_file
    from facade.settings import Settings

    registry = clients_file(Settings(data_dir=Path(data_dir)))
    barrier.wait()
    for i in range(count):
        registry.add(
            Client(
                client_id=f"{prefix}-{i}",
                kind="public",
                redirect_uris=["https://app.example/cb"],
                scope="openid patient/*.rs",
            )
        )
