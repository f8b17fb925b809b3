"""Bulk Data Access 2.0.0 ``$export``: an entry point over the engine (DESIGN.md "Folders").

    spec.py      the kick-off, parsed and authorized into an ExportSpec
    plan.py      how each type is exported, decided from its table
    export.py    running one job: its parts, checkpoints, the manifest
    native.py    athena's own Group $export
    ndjson.py    NDJSON files written atomically
    manifest.py  status and file URLs, the completion manifest
    groups.py    the Groups a token may export
    runner.py    the per-process worker: claims, leases, resume, purge

:class:`Bulk` is what an HTTP (or any other) face calls: kick-off, status, cancel,
file lookup. Durable state is the job store (:mod:`facade.store.bulk`); files live
under ``FACADE_BULK_DIR`` (default ``{data_dir}/bulk``). Nothing here imports the
HTTP face.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facade.auth.context import AuthContext
from facade.bulk.manifest import ERROR_FILE, status_url
from facade.bulk.plan import Level
from facade.bulk.runner import BulkRunner, lane, remove_files
from facade.bulk.spec import parse_kickoff
from facade.engine.services import Services
from facade.errors import NotFound, Throttled
from facade.store.bulk import BulkJobStore, JobRecord, SqliteBulkJobStore
from facade.store.database import location

Json = dict[str, Any]
CONCURRENCY_RETRY_AFTER = 30  # seconds; a client over its limit waits for a job to finish


@dataclass(frozen=True)
class Kickoff:
    job_id: str
    status_url: str
    notes: list[Json] = field(default_factory=list)  # warnings (lenient handling)


@dataclass(frozen=True)
class Status:
    state: str  # running | completed | failed
    progress: str = ""
    manifest: Json | None = None
    error: str | None = None
    expires_at: float | None = None


class Bulk:
    def __init__(self, services: Services, store: BulkJobStore, runner: BulkRunner) -> None:
        self.services = services
        self.store = store
        self.runner = runner
        self.settings = services.settings

    async def kick_off(
        self,
        auth: AuthContext,
        *,
        level: Level,
        group: str | None,
        items: list[tuple[str, str]],
        post: bool,
        lenient: bool,
        request_url: str,
    ) -> Kickoff:
        spec = parse_kickoff(
            self.services.mappings,
            auth,
            level=level,
            group=group,
            items=items,
            post=post,
            lenient=lenient,
            request_url=request_url,
        )
        job = JobRecord(
            id=secrets.token_hex(16),
            client_id=spec.client_id,
            state="queued",
            spec=spec.dump(),
            created_at=time.time(),
        )
        if not await self.store.create(job, self.settings.bulk_max_jobs_per_client):
            raise Throttled(
                f"This client already runs {self.settings.bulk_max_jobs_per_client} exports;"
                " retry when one has finished",
                retry_after=CONCURRENCY_RETRY_AFTER,
            )
        self.runner.wake()
        return Kickoff(job.id, status_url(self.settings.fhir_base, job.id), spec.notes)

    async def _job(self, auth: AuthContext, job_id: str) -> JobRecord:
        """The client's own job; anyone else's, cancelled or expired is unknown (404)."""
        job = await self.store.get(job_id)
        if (
            job is None
            or job.client_id != auth.client_id
            or job.state == "cancelled"
            or (job.expires_at is not None and job.expires_at <= time.time())
        ):
            raise NotFound("No such export (unknown, deleted or expired)")
        return job

    async def status(self, auth: AuthContext, job_id: str) -> Status:
        job = await self._job(auth, job_id)
        if job.state == "completed" and job.manifest is not None:
            return Status("completed", manifest=job.manifest, expires_at=job.expires_at)
        if job.state == "failed":
            return Status("failed", error=job.error or "The export failed")
        return Status("running", progress=job.progress or job.state)

    async def cancel(self, auth: AuthContext, job_id: str) -> None:
        """``DELETE`` on the status URL: stop the job (if running) and delete its files."""
        job = await self._job(auth, job_id)
        now = time.time()
        if not await self.store.cancel(job.id, auth.client_id, now, now):
            raise NotFound("No such export (unknown, deleted or expired)")
        self.runner.cancel(job.id)
        remove_files(self.settings.bulk_path / job.id)

    async def file(self, auth: AuthContext, job_id: str, name: str) -> Path:
        """A finished export's file, for a token of the client that started it."""
        job = await self._job(auth, job_id)
        manifest = job.manifest if job.state == "completed" else None
        names = {
            str(item["url"]).rsplit("/", 1)[-1]
            for key in ("output", "error")
            for item in (manifest or {}).get(key, [])
        }
        path = self.settings.bulk_path / job.id / name
        if name not in names or not path.is_file():
            raise NotFound("No such export file")
        return path


@asynccontextmanager
async def open_bulk(services: Services) -> AsyncIterator[Bulk]:
    """The bulk entry point for one process: its job store and its running worker."""
    settings = services.settings
    store = SqliteBulkJobStore(location(settings.data_dir, "bulk", settings.database))
    settings.bulk_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    runner = BulkRunner(lane(services), store)
    runner.start()
    try:
        yield Bulk(services, store, runner)
    finally:
        await runner.stop()
        store.close()


__all__ = ["ERROR_FILE", "Bulk", "Kickoff", "Status", "open_bulk"]
