"""Running one export job: its parts, in order, each resumable from its last checkpoint.

A job exports, for each practice of its spec, each of its types into one NDJSON file
(``{Type}-{practice}.ndjson``). Sources (:mod:`facade.bulk.plan`):

1. athena's own Group ``$export`` for the types athena's FHIR API serves
   (:mod:`facade.bulk.native`), mapped by the table's FHIR search source and then
   checked exactly like a search result (``_since``, ``_typeFilter``, the token's
   granular scopes and compartment: ``matches`` and ``policy.visible``). If athena
   refuses, fails, or takes longer than ``FACADE_BULK_NATIVE_TIMEOUT_SECONDS``, those
   types fall back to 2.;
2. paging through the facade's own searches (``searches.search`` with the job's
   :class:`AuthContext`, so every resource passed the same authorization as an
   interactive search): a practice-wide search followed through its ``next`` links, or
   one search per member of the group on the compartment parameter.

Every search runs on the bulk lane (:func:`facade.bulk.runner.lane`): its own rate
budget and no entity cache. A search that athena throttles is retried after
``Retry-After``; one that keeps failing for one patient becomes an OperationOutcome
in the error file and the export goes on (a partial success is still a 200, IG
2.0.0). Checkpoints record, per part, the position (query, page link or member
index) and the file's length; the manifest is written only once every part is done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from facade.auth import policy
from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.bulk import plan
from facade.bulk.manifest import ERROR_FILE, manifest
from facade.bulk.native import AthenaExport, NativeExportFailed, parse_lines
from facade.bulk.ndjson import LostCheckpoint, PartFile, write_all
from facade.bulk.spec import ExportSpec
from facade.engine import searches
from facade.engine.records import add_context, skipped
from facade.engine.services import Services
from facade.errors import (
    FacadeError,
    InvalidCursor,
    Throttled,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from facade.fhir.outcome import outcome
from facade.mapping.convert import to_fhir
from facade.mapping.filter import matches, validate_request
from facade.mapping.ids import parse_table_id
from facade.mapping.table import Table
from facade.search import SearchRequest, parse_query
from facade.store.bulk import BulkJobStore, JobRecord, PartRecord

log = logging.getLogger("facade.bulk")
Json = dict[str, Any]
Items = list[tuple[str, str]]
TRANSIENT = (UpstreamError, UpstreamUnavailable, UpstreamTimeout)
SEARCH_ATTEMPTS = 5
MAX_THROTTLE_WAITS = 60
NATIVE_POLL_FAILURES = 3  # failed polls in a row before athena's export is given up
NATIVE_CHUNK = 50  # resources mapped between two yields to the event loop (a few ms)


class Lost(Exception):
    """The job is no longer this worker's (cancelled, or another worker took it over)."""


def _last_updated(resource: Json) -> datetime | None:
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class ExportRun:
    def __init__(self, work: Services, store: BulkJobStore, job: JobRecord, owner: str) -> None:
        self.work = work
        self.store = store
        self.job = job
        self.owner = owner
        self.spec = ExportSpec.load(job.spec)
        self.auth = self.spec.auth()
        self.settings = work.settings
        self.directory: Path = self.settings.bulk_path / job.id
        self.since = self.spec.since_instant()
        self.parts: dict[str, PartRecord] = {}
        self.resources = 0

    # -- progress ------------------------------------------------------------------------

    @property
    def progress(self) -> str:
        total = len(self.spec.practices) * len(self.spec.types)
        done = sum(
            1 for p in self.spec.practices for t in self.spec.types if self._done(f"{p}/{t}")
        )
        return f"{done}/{total} parts, {self.resources} resources"

    def _done(self, key: str) -> bool:
        part = self.parts.get(key)
        return part is not None and part.state in ("done", "failed")

    async def _save(self, part: PartRecord) -> None:
        if not await self.store.save_part(self.job.id, self.owner, part):
            raise Lost(self.job.id)
        self.parts[part.part] = part

    async def _error(self, key: str, message: str, code: str = "exception") -> None:
        if not await self.store.add_error(self.job.id, self.owner, key, outcome(code, message)):
            raise Lost(self.job.id)

    # -- the job -------------------------------------------------------------------------

    async def execute(self) -> Json:
        """Run every part not done yet; the manifest (stored by the caller)."""
        self.parts = await self.store.parts(self.job.id)
        self.resources = sum(p.count for p in self.parts.values() if p.type)
        for practice in self.spec.practices:
            await self._native(practice)
            members: list[str] | None = None

            async def roster(practice: str = practice) -> list[str]:
                nonlocal members
                if members is None:
                    members = await self._members(practice)
                return members

            for rtype in self.spec.types:
                key = f"{practice}/{rtype}"
                if self._done(key):
                    continue
                try:
                    await self._paged(practice, rtype, roster)
                except (Lost, asyncio.CancelledError):
                    raise
                except FacadeError as exc:
                    await self._error(key, f"{rtype} was not exported: {exc.diagnostics}")
                    await self._save(PartRecord(key, "failed", None, type=rtype))
        return await self._manifest()

    async def _manifest(self) -> Json:
        outputs = []
        for practice in self.spec.practices:
            for rtype in self.spec.types:
                part = self.parts.get(f"{practice}/{rtype}")
                if part is not None and part.file and part.count:
                    outputs.append((rtype, part.file, part.count))
        errors = [*self.spec.notes, *await self.store.errors(self.job.id)]
        if errors:
            write_all(self.directory, ERROR_FILE, errors)
        return manifest(
            fhir_base=self.settings.fhir_base,
            job_id=self.job.id,
            transaction_time=self.spec.transaction_time,
            request=self.spec.request,
            outputs=outputs,
            errors=len(errors),
        )

    # -- what every source shares ----------------------------------------------------------

    def _table(self, rtype: str) -> Table:
        table = self.work.mappings.table(rtype)
        assert table is not None
        return table

    def _queries(self, table: Table, practice: str) -> list[Items]:
        """The search of each ``_typeFilter`` of the type (or the plain one), with ``_since``."""
        base: Items = [
            ("ah-practice", f"Organization/a-1.Practice-{practice}"),
            ("_count", str(self.settings.max_count)),
        ]
        if self.spec.since and "_lastUpdated" in table.search_params:
            base.append(("_lastUpdated", f"gt{self.spec.since}"))
        filters = self.spec.type_filters.get(table.resource) or [""]
        return [[*base, *parse_qsl(q, keep_blank_values=True)] for q in filters]

    def _open(self, key: str, rtype: str, practice: str, mode: str) -> tuple[PartFile, Json]:
        """The part's file at its last checkpoint in ``mode`` (else from scratch); its cursor."""
        name = f"{rtype}-{practice}.ndjson"
        part = self.parts.get(key)
        if part is not None and part.cursor and part.cursor.get("mode") == mode:
            try:
                return PartFile(
                    self.directory, name, size=part.bytes, count=part.count
                ), part.cursor
            except LostCheckpoint:
                log.warning("bulk part restarts: its file is shorter than its checkpoint")
        return PartFile(self.directory, name), {"mode": mode}

    def _keep(self, resource: Json, seen: set[str] | None) -> bool:
        """``_since`` on ``meta.lastUpdated`` where the resource has it; no duplicates."""
        if self.since is not None:
            updated = _last_updated(resource)
            if updated is not None and updated <= self.since:
                return False
        if seen is not None:
            rid = str(resource.get("id"))
            if rid in seen:
                return False
            seen.add(rid)
        return True

    async def _checkpoint(self, key: str, rtype: str, file: PartFile, cursor: Json) -> None:
        size = file.checkpoint()
        before = self.parts.get(key)
        self.resources += file.count - (before.count if before is not None else 0)
        await self._save(PartRecord(key, "pending", cursor, size, file.count, file.name, rtype))

    async def _finish(self, key: str, rtype: str, file: PartFile) -> None:
        before = self.parts.get(key)
        self.resources += file.count - (before.count if before is not None else 0)
        file.finish()
        name = file.name if file.count else None
        await self._save(PartRecord(key, "done", None, file.size, file.count, name, rtype))

    # -- searches ------------------------------------------------------------------------

    async def _search(
        self, rtype: str, items: Items, auth: AuthContext | None = None
    ) -> tuple[list[Json], Items | None]:
        """One page of a search on the bulk lane: its matches and the next page's query."""
        req = parse_query(rtype, items)
        throttled = 0
        attempt = 0
        while True:
            try:
                bundle = await searches.search(
                    self.work, auth or self.auth, rtype, req, strict=True, allow_scan=True
                )
                break
            except Throttled as exc:  # our own bulk budget or athena: wait, never give up early
                throttled += 1
                if throttled > MAX_THROTTLE_WAITS:
                    raise
                await asyncio.sleep(min(exc.retry_after, 30))
            except TRANSIENT:
                attempt += 1
                if attempt >= SEARCH_ATTEMPTS:
                    raise
                await asyncio.sleep(min(8.0, 0.5 * 2**attempt))
        found = [
            e["resource"]
            for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode", "match") == "match"
        ]
        following: Items | None = None
        for link in bundle.get("link", []):
            if link.get("relation") == "next":
                following = parse_qsl(urlsplit(str(link["url"])).query, keep_blank_values=True)
        return found, following

    async def _search_all(self, rtype: str, items: Items) -> list[Json]:
        found: list[Json] = []
        page: Items | None = items
        while page is not None:
            resources, page = await self._search(rtype, page)
            found += resources
        return found

    async def _members(self, practice: str) -> list[str]:
        """The group: the patients named by ``patient``, else every patient of the practice.

        Listed with a Patient search scope of the job's client: the ids only drive the
        per-patient searches, each of which the job's own token authorizes.
        """
        if self.spec.patients is not None:
            return list(self.spec.patients.get(practice, []))
        key = f"{practice}/$members"
        name = f"members-{practice}.json"
        part = self.parts.get(key)
        path = self.directory / name
        if part is not None and part.state == "done" and path.exists():
            ids: list[str] = json.loads(path.read_text())
            return ids
        roster = AuthContext(
            client_id=self.auth.client_id,
            scopes=ScopeSet.parse("system/Patient.s"),
            practices=(practice,),
            subject=self.auth.client_id,
        )
        ids = []
        page: Items | None = [
            ("ah-practice", f"Organization/a-1.Practice-{practice}"),
            ("_count", str(self.settings.max_count)),
        ]
        while page is not None:
            resources, page = await self._search("Patient", page, roster)
            ids += [str(r["id"]) for r in resources]
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = self.directory / f".{name}.part"
        temp.write_text(json.dumps(ids))
        temp.replace(path)
        await self._save(PartRecord(key, "done", None, 0, len(ids), None, None))
        return ids

    # -- 2. paging through searches ------------------------------------------------------

    async def _paged(
        self, practice: str, rtype: str, roster: Callable[[], Awaitable[list[str]]]
    ) -> None:
        key = f"{practice}/{rtype}"
        try:
            await self._paged_once(practice, rtype, roster)
        except InvalidCursor:  # a resumed page link past its lifetime: this part starts over
            self.parts.pop(key, None)
            await self._save(PartRecord(key, "pending", None, type=rtype))
            await self._paged_once(practice, rtype, roster)

    async def _paged_once(
        self, practice: str, rtype: str, roster: Callable[[], Awaitable[list[str]]]
    ) -> None:
        key = f"{practice}/{rtype}"
        table = self._table(rtype)
        queries = self._queries(table, practice)
        file, cursor = self._open(key, rtype, practice, "paging")
        try:
            seen = (file.ids() if file.count else set()) if len(queries) > 1 else None
            for qi in range(int(cursor.get("q", 0)), len(queries)):
                items = queries[qi]
                here = cursor if cursor.get("q", 0) == qi else {}
                req = validate_request(table, parse_query(rtype, items), strict=True)
                how = plan.strategy(
                    table,
                    SearchRequest(rtype, tuple(p for p in req.params if p.name != "ah-practice")),
                    by_patient=self.spec.patients is not None,
                    practice=practice,
                )
                if how == "list":
                    await self._page_list(key, rtype, file, qi, items, here, seen)
                elif how == "patient":
                    members = await roster()
                    await self._page_patients(key, table, file, qi, items, here, members, seen)
                else:
                    await self._error(key, f"{rtype} cannot be searched for a whole practice")
                await self._checkpoint(key, rtype, file, {"mode": "paging", "q": qi + 1})
                cursor = {}
            await self._finish(key, rtype, file)
        finally:
            file.close()

    async def _page_list(
        self,
        key: str,
        rtype: str,
        file: PartFile,
        qi: int,
        items: Items,
        here: Json,
        seen: set[str] | None,
    ) -> None:
        page: Items | None = items
        if here.get("next"):
            page = [(str(k), str(v)) for k, v in here["next"]]
        while page is not None:
            resources, page = await self._search(rtype, page)
            for resource in resources:
                if self._keep(resource, seen):
                    file.write(resource)
            if page is not None:
                await self._checkpoint(
                    key, rtype, file, {"mode": "paging", "q": qi, "next": [list(p) for p in page]}
                )

    async def _page_patients(
        self,
        key: str,
        table: Table,
        file: PartFile,
        qi: int,
        items: Items,
        here: Json,
        members: list[str],
        seen: set[str] | None,
    ) -> None:
        rtype = table.resource
        assert table.compartment is not None
        param = table.compartment.param
        width = self.settings.bulk_parallel_searches
        for start in range(int(here.get("i", 0)), len(members), width):
            batch = members[start : start + width]
            results = await asyncio.gather(
                *(
                    self._search_all(rtype, [(param, plan.patient_value(table, pid)), *items])
                    for pid in batch
                ),
                return_exceptions=True,
            )
            for pid, result in zip(batch, results, strict=True):
                if isinstance(result, FacadeError):
                    await self._error(
                        key, f"{rtype} of Patient/{pid} was not exported: {result.diagnostics}"
                    )
                    continue
                if isinstance(result, BaseException):
                    raise result
                for resource in result:
                    if self._keep(resource, seen):
                        file.write(resource)
            await self._checkpoint(
                key, rtype, file, {"mode": "paging", "q": qi, "i": start + len(batch)}
            )

    # -- 1. athena's own Group export ----------------------------------------------------

    def _native_requests(self, table: Table, practice: str) -> list[SearchRequest] | None:
        """The checks a native resource must pass (one request per query), or None when
        some parameter can only be applied by athena's search (then the type pages)."""
        found = []
        for items in self._queries(table, practice):
            req = validate_request(table, parse_query(table.resource, items), strict=True)
            req = policy.restrict_search(table, self.auth, req)
            if not plan.checkable(table, req):
                return None
            found.append(replace(req, count=None))
        return found

    async def _native(self, practice: str) -> None:
        if not self.settings.bulk_native or self.spec.patients is not None:
            return
        checks = {}
        for rtype in self.spec.types:
            table = self._table(rtype)
            if plan.native_route(table) is None:
                continue
            requests = self._native_requests(table, practice)
            if requests is not None:
                checks[rtype] = requests
        key = f"{practice}/$athena"
        part = self.parts.get(key)
        pending = [t for t in checks if not self._done(f"{practice}/{t}")]
        if not pending or (part is not None and part.state in ("done", "failed")):
            return
        exporter = AthenaExport(self.work.athena, practice)
        cursor: Json = dict(part.cursor or {}) if part is not None else {}
        try:
            if not cursor.get("status"):
                cursor = {"status": await exporter.kick_off(list(checks), self.spec.since)}
                cursor["started"] = time.time()
                await self._save(PartRecord(key, "pending", cursor))
            athena_manifest = cursor.get("manifest")
            failures = 0
            while athena_manifest is None:
                if (
                    time.time() - float(cursor["started"])
                    > self.settings.bulk_native_timeout_seconds
                ):
                    raise NativeExportFailed("athena's export did not finish in time")
                try:
                    poll = await exporter.poll(str(cursor["status"]))
                except (*TRANSIENT, Throttled) as exc:
                    failures += 1
                    if failures >= NATIVE_POLL_FAILURES:
                        raise NativeExportFailed(exc.diagnostics) from exc
                    await asyncio.sleep(min(8.0, 0.5 * 2**failures))
                    continue
                failures = 0
                if poll.manifest is None:
                    await asyncio.sleep(min(poll.retry_after, 30.0))
                    continue
                athena_manifest = poll.manifest
                cursor["manifest"] = athena_manifest
                await self._save(PartRecord(key, "pending", cursor))
            for rtype in pending:
                urls = [
                    str(o["url"])
                    for o in athena_manifest.get("output", [])
                    if isinstance(o, dict) and o.get("type") == rtype and o.get("url")
                ]
                await self._native_part(practice, rtype, exporter, urls, checks[rtype])
            await self._save(PartRecord(key, "done", {"status": cursor["status"]}))
            await exporter.delete(str(cursor["status"]))
        except (NativeExportFailed, *TRANSIENT, Throttled) as exc:
            message = exc.diagnostics if isinstance(exc, FacadeError) else str(exc)
            log.warning("bulk: athena's Group export is not used (%s); paging instead", message)
            await self._save(PartRecord(key, "failed", cursor or None))
            if cursor.get("status"):
                await exporter.delete(str(cursor["status"]))

    async def _native_part(
        self,
        practice: str,
        rtype: str,
        exporter: AthenaExport,
        urls: list[str],
        checks: list[SearchRequest],
    ) -> None:
        key = f"{practice}/{rtype}"
        table = self._table(rtype)
        route = plan.native_route(table)
        assert route is not None
        codes = self.work.mappings.codes
        file, cursor = self._open(key, rtype, practice, "native")
        try:
            seen = (file.ids() if file.count else set()) if len(checks) > 1 else None
            for index in range(int(cursor.get("f", 0)), len(urls)):
                lines = await exporter.download(urls[index])
                for start in range(0, len(lines), NATIVE_CHUNK):
                    busy = time.perf_counter()
                    chunk = [
                        r
                        for r in parse_lines(lines[start : start + NATIVE_CHUNK])
                        if r.get("resourceType") == rtype and isinstance(r.get("id"), str)
                    ]
                    chunk = await add_context(self.work, table, route.source, practice, chunk)
                    for record in chunk:
                        if skipped(route, record):
                            continue
                        resource = to_fhir(record, table, route.source, practice, codes)
                        if self._admits(table, resource, practice, checks) and self._keep(
                            resource, seen
                        ):
                            file.write(resource)
                    await self._pace(time.perf_counter() - busy)
                await self._checkpoint(key, rtype, file, {"mode": "native", "f": index + 1})
            await self._finish(key, rtype, file)
        finally:
            file.close()

    async def _pace(self, busy: float) -> None:
        """Yield to interactive requests (they share this event loop): mapping athena's
        files takes at most ``FACADE_BULK_CPU_SHARE`` of the loop's time."""
        share = self.settings.bulk_cpu_share
        await asyncio.sleep(busy * (1.0 - share) / share)

    def _admits(
        self, table: Table, resource: Json, practice: str, checks: list[SearchRequest]
    ) -> bool:
        """What a search would let through: this practice, one query, the token's reach."""
        try:
            if parse_table_id(str(resource.get("id")), table.id).practice != practice:
                return False
        except FacadeError:
            return False
        if not any(matches(resource, table, req) for req in checks):
            return False
        return policy.visible(table, self.auth, resource, "s")
