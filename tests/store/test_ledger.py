"""The ledger's claim, lease and compare-and-set semantics (facade/store/ledger.py).

Two ``SqliteLedger`` s on one file are what two worker processes have: separate
connections to the same WAL database. Time is passed in, so leases are exact.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from facade.store.ledger import SqliteLedger, is_final

KEY = "client\nkey-1"
LEASE = 30.0
T0 = 1_750_000_000.0


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[SqliteLedger, SqliteLedger]]:
    path = tmp_path / "idempotency.sqlite3"
    one, two = SqliteLedger(path), SqliteLedger(path)
    yield one, two
    one.close()
    two.close()


async def test_a_new_key_is_claimed_once_across_processes(
    pair: tuple[SqliteLedger, SqliteLedger],
) -> None:
    one, two = pair
    first = await one.claim(KEY, "fp", "owner-a", T0, LEASE)
    assert first.held_by("owner-a") and first.state == "pending"
    assert first.attempts == 0 and first.intent == {}
    assert first.lease_until == T0 + LEASE
    second = await two.claim(KEY, "fp", "owner-b", T0 + 1, LEASE)
    assert not second.held_by("owner-b")
    assert second.owner == "owner-a" and second.lease_until == T0 + LEASE
    assert not second.claimable(T0 + 1) and second.claimable(T0 + LEASE)


async def test_a_different_fingerprint_never_claims(
    pair: tuple[SqliteLedger, SqliteLedger],
) -> None:
    one, two = pair
    await one.claim(KEY, "fp", "owner-a", T0, LEASE)
    assert await one.release(KEY, "owner-a", T0)
    other = await two.claim(KEY, "other-fp", "owner-b", T0 + 1, LEASE)
    assert other.fingerprint == "fp" and other.owner is None  # the caller refuses it (422)


async def test_only_the_holder_counts_attempts_finishes_or_releases(
    pair: tuple[SqliteLedger, SqliteLedger],
) -> None:
    one, two = pair
    await one.claim(KEY, "fp", "owner-a", T0, LEASE)
    intent = {"practice": "195900", "appointmentid": "1", "patientid": "60178"}
    assert not await two.attempted(KEY, "owner-b", intent, T0, LEASE)
    assert not await two.finish(KEY, "owner-b", 201, {}, b"{}", T0)
    assert not await two.release(KEY, "owner-b", T0)
    assert await one.attempted(KEY, "owner-a", intent, T0 + 5, LEASE)
    record = await two.get(KEY)
    assert record is not None and record.intent == intent and record.attempts == 1
    assert record.lease_until == T0 + 5 + LEASE  # renewed just before the upstream call
    assert await one.finish(KEY, "owner-a", 201, {"ETag": 'W/"1"'}, b'{"id":"x"}', T0 + 6)
    done = await two.claim(KEY, "fp", "owner-b", T0 + 7, LEASE)
    assert done.state == "done" and done.status == 201 and done.body == b'{"id":"x"}'
    assert done.headers == {"ETag": 'W/"1"'} and done.owner is None
    assert not await one.finish(KEY, "owner-a", 409, {}, b"{}", T0 + 8)  # done stays done
    assert not await one.release(KEY, "owner-a", T0 + 8)
    assert (await two.get(KEY)).status == 201  # type: ignore[union-attr]


async def test_a_released_claim_stays_pending_and_is_taken_over_with_what_is_known(
    pair: tuple[SqliteLedger, SqliteLedger],
) -> None:
    one, two = pair
    await one.claim(KEY, "fp", "owner-a", T0, LEASE)
    intent = {"practice": "195900", "appointmentid": "7"}
    assert await one.attempted(KEY, "owner-a", intent, T0, LEASE)
    assert await one.release(KEY, "owner-a", T0 + 1)  # e.g. a 429 or a 504
    released = await two.get(KEY)
    assert released is not None and released.state == "pending" and released.owner is None
    assert released.claimable(T0 + 1)
    taken = await two.claim(KEY, "fp", "owner-b", T0 + 2, LEASE)
    assert taken.held_by("owner-b") and taken.intent == intent and taken.attempts == 1
    assert not await one.attempted(KEY, "owner-a", intent, T0 + 3, LEASE)


async def test_a_crashed_holders_claim_is_taken_over_after_its_lease(
    pair: tuple[SqliteLedger, SqliteLedger],
) -> None:
    one, two = pair
    await one.claim(KEY, "fp", "crashed", T0, LEASE)
    intent = {"practice": "195900", "appointmentid": "9", "patientid": "60178"}
    assert await one.attempted(KEY, "crashed", intent, T0 + 1, LEASE)
    one.close()  # the process dies holding the claim: nothing is released
    before = await two.claim(KEY, "fp", "next", T0 + LEASE, LEASE)
    assert before.owner == "crashed"  # the lease (renewed at T0 + 1) still runs
    taken = await two.claim(KEY, "fp", "next", T0 + 1 + LEASE, LEASE)
    assert taken.held_by("next") and taken.attempts == 1 and taken.intent == intent
    assert taken.lease_until == T0 + 1 + 2 * LEASE


async def test_a_stale_owners_finish_is_rejected_and_does_not_overwrite(
    pair: tuple[SqliteLedger, SqliteLedger],
) -> None:
    one, two = pair
    await one.claim(KEY, "fp", "slow", T0, LEASE)
    taken = await two.claim(KEY, "fp", "fast", T0 + LEASE + 1, LEASE)  # lease ran out
    assert taken.held_by("fast")
    assert await two.finish(KEY, "fast", 201, {}, b'{"booked":true}', T0 + LEASE + 2)
    assert not await one.finish(KEY, "slow", 409, {}, b'{"taken":true}', T0 + LEASE + 3)
    record = await one.get(KEY)
    assert record is not None and record.status == 201 and record.body == b'{"booked":true}'
    # a stale owner that finishes before the new holder does is rejected just the same
    await one.claim("k2", "fp", "slow", T0, LEASE)
    await two.claim("k2", "fp", "fast", T0 + LEASE + 1, LEASE)
    assert not await one.finish("k2", "slow", 201, {}, b"{}", T0 + LEASE + 2)
    assert not await one.release("k2", "slow", T0 + LEASE + 2)
    assert (await two.get("k2")).held_by("fast")  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [429, 502, 503, 504, 401, 403, 500])
async def test_only_definitive_answers_are_stored(
    pair: tuple[SqliteLedger, SqliteLedger], status: int
) -> None:
    one, _ = pair
    await one.claim(KEY, "fp", "owner-a", T0, LEASE)
    assert not is_final(status)
    with pytest.raises(ValueError, match="not a definitive answer"):
        await one.finish(KEY, "owner-a", status, {}, b"{}", T0)
    assert (await one.get(KEY)).held_by("owner-a")  # type: ignore[union-attr]
    assert all(is_final(s) for s in (200, 201, 400, 404, 409, 422))


def test_concurrent_claims_from_threads_on_two_connections_have_one_winner(
    tmp_path: Path,
) -> None:
    """Many claimants at once, half on each connection: exactly one holds each key."""
    path = tmp_path / "idempotency.sqlite3"
    ledgers = [SqliteLedger(path), SqliteLedger(path)]
    holders: dict[str, list[str]] = {f"k{i}": [] for i in range(20)}
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claimant(n: int) -> None:
        ledger = ledgers[n % 2]
        start.wait()
        for key in holders:
            record = asyncio.run(ledger.claim(key, "fp", f"owner-{n}", T0, LEASE))
            if record.held_by(f"owner-{n}"):
                with lock:
                    holders[key].append(f"owner-{n}")

    threads = [threading.Thread(target=claimant, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ledger in ledgers:
        ledger.close()
    assert all(len(owners) == 1 for owners in holders.values()), holders


async def test_purge_forgets_only_old_done_records(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "idempotency.sqlite3")
    try:
        for key in ("old", "recent", "pending"):
            await ledger.claim(key, "fp", "o", T0, LEASE)
        await ledger.finish("old", "o", 201, {}, b"{}", T0)
        await ledger.finish("recent", "o", 201, {}, b"{}", T0 + 100)
        assert ledger.purge(int(T0) + 50) == 1
        assert await ledger.get("old") is None
        assert await ledger.get("recent") is not None and await ledger.get("pending") is not None
    finally:
        ledger.close()


async def test_a_file_from_before_claims_is_migrated_and_poisoned_keys_reopen(
    tmp_path: Path,
) -> None:
    """Earlier versions stored every answer under 500 as final (a 429 replayed forever)."""
    path = tmp_path / "idempotency.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE idempotency (
          key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
          intent TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
          status INTEGER, headers TEXT, body BLOB,
          created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        """
    )
    rows = [
        ("throttled", "done", 429, 1),
        ("forbidden", "done", 403, 0),
        ("booked", "done", 201, 1),
        ("taken", "done", 409, 1),
        ("stuck", "pending", None, 1),
    ]
    intent = json.dumps({"practice": "195900", "appointmentid": "3"})
    for key, state, status, attempts in rows:
        db.execute(
            "INSERT INTO idempotency (key, fingerprint, state, intent, attempts, status, headers,"
            " body, created_at, updated_at) VALUES (?, 'fp', ?, ?, ?, ?, '{}', ?, 1, 1)",
            (key, state, intent, attempts, status, b"{}" if status else None),
        )
    db.commit()
    db.close()
    one, two = SqliteLedger(path), SqliteLedger(path)  # the second sees it migrated
    try:
        states = {k: (await two.get(k)) for k, *_ in rows}
        assert {k: r.state for k, r in states.items() if r} == {
            "throttled": "pending",
            "forbidden": "pending",
            "booked": "done",
            "taken": "done",
            "stuck": "pending",
        }
        reopened = await one.claim("throttled", "fp", "retry", T0, LEASE)
        assert reopened.held_by("retry") and reopened.attempts == 1
        assert reopened.intent == {"practice": "195900", "appointmentid": "3"}
        assert (await one.claim("stuck", "fp", "retry", T0, LEASE)).held_by("retry")
    finally:
        one.close()
        two.close()


def test_a_lease_must_outlast_the_request_and_its_read_back() -> None:
    from pydantic import ValidationError

    from facade.settings import Settings

    with pytest.raises(ValidationError, match="idempotency_lease_seconds must exceed"):
        Settings(request_deadline_seconds=15, idempotency_lease_seconds=16)  # + 3 x 0.5 s
    assert Settings(request_deadline_seconds=15, idempotency_lease_seconds=17).workers == 2
