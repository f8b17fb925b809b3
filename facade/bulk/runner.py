"""The export worker of one process: claims jobs, runs them, keeps their leases, cleans up.

Every worker process runs one :class:`BulkRunner` (started in the HTTP app's
lifespan; nothing here knows HTTP). It claims jobs from the shared store — new ones
at once when its own worker accepted the kick-off (:meth:`BulkRunner.wake`), others
every ``FACADE_BULK_POLL_SECONDS`` — and runs at most ``FACADE_BULK_JOBS_PER_WORKER``
at a time. While a job runs a heartbeat renews its lease; a failed renewal means the
job was cancelled (``DELETE``) or taken over, and the job stops at once (a ``DELETE``
answered by the worker running the job stops it before the answer).

Restarts: a graceful stop releases the leases of the jobs it was running, so the next
start (of this worker or any other) resumes them immediately from their checkpoints;
after a crash the lease runs out (``FACADE_BULK_LEASE_SECONDS``) and another worker
resumes them. A job whose spec cannot be read, or that fails unexpectedly, ends
``failed`` with an OperationOutcome on its status URL; it never gets a half manifest.

The bulk lane (:func:`lane`): the engine's services with an athena client on its own
rate budget (``FACADE_BULK_RATE_PER_SECOND``, split across workers like the
interactive one) and no entity cache, so an export neither queues interactive
requests behind its calls nor evicts their cached entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
import time
from dataclasses import replace
from pathlib import Path

from facade.bulk.export import ExportRun, Lost
from facade.cache import EntityCache
from facade.engine.directory import DepartmentDirectory
from facade.engine.services import Services
from facade.store.bulk import BulkJobStore, JobRecord
from facade.upstream.budget import BudgetConfig, RateBudget, SharedBudget

log = logging.getLogger("facade.bulk")
PURGE_EVERY_SECONDS = 60.0
HEARTBEAT_SECONDS = 1.0  # lease renewal, progress, and noticing a cancellation


def lane(services: Services) -> Services:
    """The engine's services as bulk work uses them (own budget, no entity cache)."""
    settings = services.settings
    share = settings.workers * settings.cluster_hosts  # with Redis: one budget for all hosts
    link = services.link
    budget = RateBudget(
        BudgetConfig(
            rate=settings.bulk_rate_per_second / share,
            burst=max(1, settings.bulk_burst // share),
            max_wait=30.0,  # an export may wait; an interactive request may not
            max_waiters=1024,
        ),
        shared=None
        if link is None
        else SharedBudget(
            link.reserve, settings.bulk_rate_per_second, settings.bulk_burst, name="bulk"
        ),
    )
    athena = services.athena.lane(budget)
    return replace(
        services,
        athena=athena,
        cache=EntityCache({}, max_entries=1, enabled=False),
        directory=DepartmentDirectory(athena),
    )


def remove_files(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


class BulkRunner:
    def __init__(self, work: Services, store: BulkJobStore) -> None:
        self.work = work
        self.store = store
        self.settings = work.settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._purged_at = 0.0
        self._stopping = False

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="bulk-runner")

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> list[str]:
        return list(self._jobs)

    def cancel(self, job_id: str) -> None:
        """Stop a job this worker runs at once (``DELETE``); other workers' heartbeats
        notice within a second."""
        task = self._jobs.get(job_id)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        """Stop claiming, stop the running jobs and release them (resumed on the next start)."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        jobs = dict(self._jobs)
        for task in jobs.values():
            task.cancel()
        await asyncio.gather(*jobs.values(), return_exceptions=True)
        for job_id in jobs:
            await self.store.release(job_id, self.owner)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self._tick()
            except Exception:  # the loop outlives one bad pass (logged)
                log.exception("bulk runner pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.bulk_poll_seconds)
            self._wake.clear()

    async def _tick(self) -> None:
        now = time.time()
        every = min(PURGE_EVERY_SECONDS, self.settings.bulk_file_ttl_seconds / 2)
        if now - self._purged_at >= every:
            self._purged_at = now
            await self.purge(now)
        while len(self._jobs) < self.settings.bulk_jobs_per_worker:
            job = await self.store.claim(self.owner, time.time(), self.settings.bulk_lease_seconds)
            if job is None:
                return
            self._jobs[job.id] = asyncio.create_task(self._run(job), name=f"bulk-{job.id[:8]}")

    async def purge(self, now: float) -> int:
        """Delete the files and records of expired and cancelled jobs."""
        expired = await self.store.expired(now)
        for job_id in expired:
            remove_files(self.settings.bulk_path / job_id)
            await self.store.delete(job_id)
        return len(expired)

    async def _run(self, job: JobRecord) -> None:
        settings = self.settings
        try:
            try:
                run = ExportRun(self.work, self.store, job, self.owner)
            except (TypeError, ValueError, KeyError):
                log.error("bulk job %s has an unreadable spec", job.id[:8])
                await self.store.fail(
                    job.id, self.owner, "The export's request could not be read", *self._ends()
                )
                return
            heartbeat = asyncio.create_task(self._heartbeat(job, run, asyncio.current_task()))
            try:
                result = await run.execute()
                ok = await self.store.complete(job.id, self.owner, result, *self._ends())
                if not ok:
                    raise Lost(job.id)
                log.info("bulk job %s completed (%s)", job.id[:8], run.progress)
            except (Lost, asyncio.CancelledError):
                current = await self.store.get(job.id)
                if current is None or current.state == "cancelled":
                    remove_files(settings.bulk_path / job.id)
                if not self._stopping and (current is None or current.owner != self.owner):
                    return  # cancelled or taken over: nothing more to do here
                raise
            except Exception as exc:  # the job fails cleanly, the worker stays
                log.error("bulk job %s failed: %s", job.id[:8], type(exc).__name__)
                await self.store.fail(
                    job.id, self.owner, "The export failed on the server", *self._ends()
                )
            finally:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
        finally:
            self._jobs.pop(job.id, None)
            if not self._stopping:
                self.wake()

    def _ends(self) -> tuple[float, float]:
        now = time.time()
        return now, now + self.settings.bulk_file_ttl_seconds

    async def _heartbeat(
        self, job: JobRecord, run: ExportRun, task: asyncio.Task[None] | None
    ) -> None:
        lease = self.settings.bulk_lease_seconds
        while True:
            await asyncio.sleep(min(lease / 3, HEARTBEAT_SECONDS))
            ok = await self.store.renew(job.id, self.owner, time.time(), lease, run.progress)
            if not ok and task is not None:
                log.info("bulk job %s stops: cancelled or taken over", job.id[:8])
                task.cancel()
                return
