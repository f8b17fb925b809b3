"""The eligibility store (facade/store/eligibility.py): kept checks, stable paging, and the
compare-and-set that settles a queued response once."""

from __future__ import annotations

from pathlib import Path

from facade.store.eligibility import EligibilityRecord, SqliteEligibilityStore


def record(local: str, patient: str, created: str, outcome: str = "complete") -> EligibilityRecord:
    return EligibilityRecord(
        "195900", local, patient, created, outcome,
        {"resourceType": "CoverageEligibilityRequest", "id": f"a-195900.EligibilityRequest-{local}"},
        {"resourceType": "CoverageEligibilityResponse", "outcome": outcome},
        {"insuranceid": "7001"},
    )  # fmt: skip


async def test_add_get_page_and_settle(tmp_path: Path) -> None:
    store = SqliteEligibilityStore(tmp_path / "eligibility.sqlite3")
    assert await store.add(record("1", "a-195900.E-1", "2025-06-30T10:00:00+00:00"), 1.0)
    assert not await store.add(record("1", "a-195900.E-2", "2025-06-30T10:00:00+00:00"), 1.0)
    assert await store.add(record("2", "a-195900.E-2", "2025-06-30T11:00:00+00:00", "queued"), 1.0)
    assert await store.add(record("3", "a-195900.E-1", "2025-06-30T12:00:00+00:00"), 1.0)
    kept = await store.get("195900", "2")
    assert kept is not None and kept.outcome == "queued" and kept.facts == {"insuranceid": "7001"}
    assert await store.get("195901", "2") is None  # another practice
    every = await store.page("195900", patient=None, local=None, offset=0, limit=10)
    assert [r.local for r in every] == ["1", "2", "3"]  # oldest first: new checks append
    hers = await store.page("195900", patient="a-195900.E-1", local=None, offset=1, limit=10)
    assert [r.local for r in hers] == ["3"]
    assert [
        r.local for r in await store.page("195900", patient=None, local="2", offset=0, limit=5)
    ] == ["2"]
    done = {"resourceType": "CoverageEligibilityResponse", "outcome": "complete"}
    assert await store.settle("195900", "2", done, "complete", "queued", 2.0)
    assert not await store.settle("195900", "2", done, "error", "queued", 3.0)  # settled once
    again = await store.get("195900", "2")
    assert again is not None and again.outcome == "complete" and again.response == done
    store.close()
    reopened = SqliteEligibilityStore(tmp_path / "eligibility.sqlite3")  # durable
    assert (await reopened.get("195900", "3")) is not None
    reopened.close()
