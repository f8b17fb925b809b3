"""The bulk job store: the per-client limit, claims and leases, compare-and-set on the owner,
one manifest per completed job, cancellation, expiry — across two connections (workers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facade.store.bulk import JobRecord, PartRecord, SqliteBulkJobStore

LEASE = 10.0


def _job(job_id: str, client: str = "c1", at: float = 100.0) -> JobRecord:
    return JobRecord(job_id, client, "queued", {"types": ["Patient"]}, created_at=at)


@pytest.fixture()
def stores(tmp_path: Path) -> tuple[SqliteBulkJobStore, SqliteBulkJobStore]:
    path = tmp_path / "bulk.sqlite3"
    return SqliteBulkJobStore(path), SqliteBulkJobStore(path)


async def test_the_limit_counts_active_jobs_of_one_client(
    stores: tuple[SqliteBulkJobStore, SqliteBulkJobStore],
) -> None:
    one, two = stores
    assert await one.create(_job("a"), 2)
    assert await two.create(_job("b"), 2)
    assert not await one.create(_job("c"), 2)  # over the limit, seen by the other worker too
    assert await one.create(_job("c", client="c2"), 2)  # another client
    claimed = await one.claim("w1", 200.0, LEASE)
    assert claimed is not None and claimed.id == "a"
    assert await one.complete("a", "w1", {"output": []}, 201.0, 301.0)
    assert await two.create(_job("d"), 2)  # a finished job does not count
    assert await two.cancel("b", "c1", 202.0, 202.0)
    assert await two.create(_job("e"), 2)  # nor does a cancelled one


async def test_claims_leases_and_takeover(
    stores: tuple[SqliteBulkJobStore, SqliteBulkJobStore],
) -> None:
    one, two = stores
    await one.create(_job("a"), 5)
    job = await one.claim("w1", 200.0, LEASE)
    assert job is not None and job.state == "running" and job.owner == "w1"
    assert await two.claim("w2", 205.0, LEASE) is None  # held
    assert await one.renew("a", "w1", 208.0, LEASE, "1/3 parts")
    assert await two.claim("w2", 215.0, LEASE) is None  # renewed until 218
    taken = await two.claim("w2", 219.0, LEASE)  # w1 died: its lease ran out
    assert taken is not None and taken.owner == "w2" and taken.progress == "1/3 parts"
    # the old owner can change nothing any more
    assert not await one.renew("a", "w1", 220.0, LEASE, "x")
    assert not await one.save_part("a", "w1", PartRecord("195900/Patient"))
    assert not await one.add_error("a", "w1", "p", {"resourceType": "OperationOutcome"})
    assert not await one.complete("a", "w1", {"output": []}, 221.0, 300.0)
    assert await two.save_part("a", "w2", PartRecord("195900/Patient", cursor={"q": 1}))
    # a graceful stop releases: the next worker resumes at once, parts kept
    assert await two.release("a", "w2")
    resumed = await one.claim("w3", 222.0, LEASE)
    assert resumed is not None and resumed.owner == "w3"
    parts = await one.parts("a")
    assert parts["195900/Patient"].cursor == {"q": 1}


async def test_parts_errors_and_the_manifest(
    stores: tuple[SqliteBulkJobStore, SqliteBulkJobStore],
) -> None:
    one, two = stores
    await one.create(_job("a"), 5)
    await one.claim("w1", 200.0, LEASE)
    part = PartRecord(
        "195900/Encounter", "pending", {"mode": "paging", "i": 4}, 1234, 7, "E.ndjson", "Encounter"
    )
    assert await one.save_part("a", "w1", part)
    assert await one.save_part(
        "a", "w1", PartRecord("195900/Encounter", "done", None, 2000, 9, "E.ndjson", "Encounter")
    )
    assert (await two.parts("a"))["195900/Encounter"].count == 9
    for n in range(3):
        await one.add_error("a", "w1", "p", {"resourceType": "OperationOutcome", "n": n})
    assert [e["n"] for e in await two.errors("a")] == [0, 1, 2]
    job = await two.get("a")
    assert job is not None and job.manifest is None  # no manifest until completed
    assert await one.complete("a", "w1", {"output": [1]}, 201.0, 301.0)
    job = await two.get("a")
    assert job is not None and job.state == "completed" and job.manifest == {"output": [1]}
    assert job.owner is None and job.expires_at == 301.0
    assert not await one.fail("a", "w1", "late", 202.0, 302.0)  # finished: nothing changes


async def test_failures_cancellation_and_expiry(
    stores: tuple[SqliteBulkJobStore, SqliteBulkJobStore],
) -> None:
    one, two = stores
    for name in ("a", "b", "c"):
        await one.create(_job(name), 5)
    assert await one.fail("a", None, "unreadable", 200.0, 260.0)  # a queued job fails cleanly
    await one.claim("w1", 200.0, LEASE)  # b
    assert not await two.cancel("b", "someone-else", 201.0, 201.0)  # only its client
    assert await two.cancel("b", "c1", 201.0, 201.0)
    assert not await one.renew("b", "w1", 202.0, LEASE, "x")  # the runner learns and stops
    assert not await two.cancel("b", "c1", 203.0, 203.0)  # already cancelled
    assert sorted(await one.expired(250.0)) == ["b"]
    assert sorted(await one.expired(260.0)) == ["a", "b"]
    await one.delete("b")
    assert await two.get("b") is None and await two.parts("b") == {}
    assert (await two.get("c")) is not None  # queued jobs never expire
