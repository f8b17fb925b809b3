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
