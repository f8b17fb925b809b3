"""A facade restart during an export: the job resumes from its checkpoints (or fails cleanly),
never leaving a half-written manifest or file in view.

The facade server is stopped mid-job (a graceful stop releases the job's lease) and a new
one is started on the same data directory and port; a job whose worker died without
releasing it is resumed once its lease runs out; a job that cannot be run ends failed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from emulator.faults import FaultPlan
from facade.store.bulk import JobRecord, SqliteBulkJobStore
from tests.bulk.conftest import bulk_settings
from tests.bulk.support import Clients, Json, bearer, export, kick_off, poll, resources
from tests.conftest import start_facade

TYPES = "Appointment,Encounter,Patient"


def _store(settings: Any) -> SqliteBulkJobStore:
    return SqliteBulkJobStore(Path(settings.data_dir) / "bulk.sqlite3")


def _wait_for_progress(http: httpx.Client, status: str, token: str) -> str:
    """Poll until the job has written resources but not finished; its X-Progress."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = http.get(status, headers=bearer(token))
        assert response.status_code == 202, "the job finished before it could be interrupted"
        progress = response.headers["x-progress"]
        if "parts" in progress and not progress.endswith(" 0 resources"):
            return progress
        time.sleep(0.1)
    raise AssertionError("no progress")


def _calls(world: Any) -> int:
    with world.lock:
        return sum(world.call_counts.values())


def _by_type(found: dict[str, list[Json]]) -> dict[str, list[str]]:
    return {t: sorted(r["id"] for r in rs) for t, rs in found.items()}


def test_a_paging_job_resumes_after_a_restart(
    bulk_emulator: str,
    bulk_emulator_app: Any,
    clients: Clients,
    tmp_path: Path,
    faults: Any,
) -> None:
    settings = bulk_settings(
        bulk_emulator, tmp_path / "data", clients, bulk_native=False, bulk_parallel_searches=1
    )
    world = bulk_emulator_app.state.emulator
    faults.set_plan(FaultPlan(latency_ms=25))  # slow enough to stop it half way
    server = start_facade(settings)
    with httpx.Client(timeout=30) as http:
        token = clients.token(settings.base_url)
        fhir = settings.fhir_base
        before = _calls(world)
        reference = resources(http, export(http, fhir, token, params={"_type": TYPES}), token)
        full_run = _calls(world) - before

        started = kick_off(http, fhir, token, params={"_type": TYPES})
        status = started.headers["content-location"]
        _wait_for_progress(http, status, token)
        server.stop()  # graceful: the job is released mid-way

        job_id = status.rsplit("/", 1)[-1]
        store = _store(settings)
        job = asyncio.run(store.get(job_id))
        parts = asyncio.run(store.parts(job_id))
        assert job is not None and job.state == "running" and job.owner is None
        assert job.manifest is None  # nothing half-written in view
        checkpointed = [p for p in parts.values() if p.count]
        assert checkpointed, parts
        visible = {f.name for f in (settings.bulk_path / job_id).glob("*.ndjson")}
        assert visible <= {p.file for p in parts.values() if p.state == "done"}  # whole files only

        before = _calls(world)
        again = start_facade(settings)  # same data directory, same port
        try:
            token = clients.token(settings.base_url)
            done = poll(http, status, token)
            assert done.status_code == 200, done.text
            manifest = done.json()
            resumed_run = _calls(world) - before
            found = resources(http, manifest, token)
        finally:
            again.stop()
            store.close()
    assert _by_type(found) == _by_type(reference)  # nothing lost, nothing twice
    assert resumed_run < full_run  # it continued: the checkpointed work was not redone
    assert not list((settings.bulk_path / job_id).glob(".*.part"))  # no temp file left


def test_a_native_job_keeps_athenas_export_across_a_restart(
    bulk_emulator: str, bulk_emulator_app: Any, clients: Clients, tmp_path: Path, faults: Any
) -> None:
    settings = bulk_settings(bulk_emulator, tmp_path / "data", clients)
    exports = bulk_emulator_app.state.bulk_exports
    faults.set_plan(FaultPlan(bulk_export_seconds=3))
    server = start_facade(settings)
    with httpx.Client(timeout=30) as http:
        token = clients.token(settings.base_url)
        kickoffs = exports.kickoffs
        started = kick_off(http, settings.fhir_base, token, params={"_type": "Patient,Encounter"})
        status = started.headers["content-location"]
        deadline = time.monotonic() + 10
        while exports.kickoffs == kickoffs:  # the job has started athena's export
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)  # and recorded its status URL
        server.stop()
        again = start_facade(settings)
        try:
            done = poll(http, status, clients.token(settings.base_url))
            assert done.status_code == 200, done.text
            found = resources(http, done.json(), token)
        finally:
            again.stop()
    assert exports.kickoffs == kickoffs + 1  # resumed polling athena's job: not started again
    assert found["Patient"] and found["Encounter"]


def test_a_dead_workers_job_is_resumed_after_its_lease(
    bulk_emulator: str, bulk_emulator_app: Any, clients: Clients, tmp_path: Path, faults: Any
) -> None:
    """A worker that died without releasing its job: another one takes it over."""
    settings = bulk_settings(bulk_emulator, tmp_path / "data", clients, bulk_lease_seconds=1.5)
    faults.set_plan(FaultPlan(bulk_export_seconds=60))  # keeps the first run waiting
    server = start_facade(settings)
    with httpx.Client(timeout=30) as http:
        token = clients.token(settings.base_url)
        started = kick_off(http, settings.fhir_base, token, params={"_type": "Patient"})
        status = started.headers["content-location"]
        time.sleep(0.5)
        server.stop()
        job_id = status.rsplit("/", 1)[-1]
        store = _store(settings)
        dead = asyncio.run(store.claim("crashed-worker", time.time(), 1.5))
        assert dead is not None and dead.id == job_id  # held by a worker that is gone
        exports = bulk_emulator_app.state.bulk_exports
        with exports.lock:
            for athena_job in exports.jobs.values():
                athena_job.ready_at = 0.0  # athena's export is done by now
        again = start_facade(settings)
        try:
            assert http.get(status, headers=bearer(token)).status_code == 202
            done = poll(http, status, token)
            assert done.status_code == 200, done.text
            job = asyncio.run(store.get(job_id))
            assert job is not None and job.owner is None and job.state == "completed"
        finally:
            again.stop()
            store.close()


def test_a_job_that_cannot_run_fails_cleanly(
    bulk_emulator: str, clients: Clients, tmp_path: Path
) -> None:
    settings = bulk_settings(bulk_emulator, tmp_path / "data", clients)
    store = _store(settings)
    job = JobRecord("f" * 32, "bulk-backend", "queued", {"level": "group"}, created_at=time.time())
    assert asyncio.run(store.create(job, 5))  # e.g. written by an incompatible version
    server = start_facade(settings)
    try:
        with httpx.Client(timeout=30) as http:
            token = clients.token(settings.base_url)
            failed = poll(http, f"{settings.fhir_base}/bulk/status/{job.id}", token)
            assert failed.status_code == 500
            body = failed.json()
            assert body["resourceType"] == "OperationOutcome"
            assert body["issue"][0]["code"] == "exception"
            assert "manifest" not in body
    finally:
        server.stop()
        store.close()
