"""prepare_state: the data directory is created once before workers start, and purged."""

from __future__ import annotations

import time
from pathlib import Path

from facade.engine.runtime import prepare_state
from facade.settings import Settings
from facade.store.ledger import SqliteLedger


async def test_prepare_state_creates_everything_and_purges_finished_records(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, athena_base_url="http://127.0.0.1:9")
    ledger = SqliteLedger(tmp_path / "idempotency.sqlite3")
    now = int(time.time())
    old, recent, pending = "c\\old", "c\\recent", "c\\pending"
    for key in (old, recent, pending):
        claimed = await ledger.claim(key, "fp", "first", now - 30 * 86400, 30)
        assert claimed.held_by("first")
    assert await ledger.finish(old, "first", 201, {}, b"{}", now - 30 * 86400)
    assert await ledger.finish(recent, "first", 201, {}, b"{}", now - 3600)
    ledger.close()

    prepare_state(settings)

    for name in (
        "signing.key",
        "jwks.json",
        "auth.sqlite3",
        "idempotency.sqlite3",
        "eligibility.sqlite3",
        "bulk.sqlite3",
    ):
        assert (tmp_path / name).exists(), name
    ledger = SqliteLedger(tmp_path / "idempotency.sqlite3")
    try:
        fresh = await ledger.claim(old, "fp", "again", now, 30)  # forgotten: a new claim
        assert fresh.held_by("again") and fresh.attempts == 0
        kept = await ledger.claim(recent, "fp", "again", now, 30)
        assert kept.state == "done"  # within retention: replayed
        stuck = await ledger.get(pending)
        assert stuck is not None and stuck.state == "pending"  # never purged
    finally:
        ledger.close()
    key_before = (tmp_path / "signing.key").read_text()
    prepare_state(settings)  # idempotent: keys are kept
    assert (tmp_path / "signing.key").read_text() == key_before
