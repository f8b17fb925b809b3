"""One sync run, and the schedule of runs (``--every``).

A run:

1. decides its types: every type the facade's tables can export at system level
   (:func:`facade.bulk.plan.level_types`, never a list of types), that the deployment's
   CapabilityStatement serves and the client's token may read and search (its granted
   ``system/`` scopes), narrowed by ``--types``;
2. resumes first the exports a previous run left (a type's state names its export's
   status URL): if the facade still has that export, its files are read on from the
   first line not yet stored; if not (deleted, expired: 404), those types start anew;
3. starts one system-level ``$export`` (``_type``, ``_since``) per distinct ``_since``
   among the other types, records its status URL in each type's state (committed
   before polling, so a killed run finds it), polls it (``Retry-After``), and reads its
   NDJSON files, upserting every batch of lines together with the file position reached;
4. when a type's files are all in, sets its ``since`` to the export's
   ``transactionTime`` and clears its export; when all of an export's types are done,
   deletes the export on the facade. An export with error entries (a partial success:
   athena refused some patient's search) is stored, but moves no ``since`` and marks
   nothing deleted, so the next run asks for the same changes again.

Incremental by type, from its table: a type whose resources carry ``meta.lastUpdated``
(athena's FHIR resources, and rest sources that map athena's ``lastmodified``, e.g.
Appointment) is exported with ``_since`` = its last ``transactionTime`` less
``overlap`` (clock skew between the facade and athena, and athena's one-second stamps):
a cancelled, rescheduled or checked-in appointment, an edited patient (athena updates
``lastmodified``/``lastUpdated``, the stamp its ``startlastmodified`` filters use) arrives as a
changed row. A type without it (Slot, Schedule, PractitionerRole: small reference data
that athena stamps nowhere; Coverage, as the facade maps it) is exported in full every
run, and its rows that the export no longer lists are marked ``deleted`` (a booked slot is no longer free), as every type's
are under ``--full`` and once per ``--reconcile-every``. Deletions of incremental types
are not reported by Bulk Data 2.0.0 exports of the facade (no ``deleted`` array); only
reconciling runs find them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from facade.auth.scopes import ScopeSet
from facade.bulk.plan import level_types
from facade.mapping.loader import Mappings
from facade.mapping.table import Table
from facade.sync.client import BulkClient, BulkError, JobFailed, JobGone
from facade.sync.columns import RowMaker
from facade.sync.progress import Reporter, TypeResult
from facade.sync.warehouse import TypeState, Warehouse

Json = dict[str, object]
DONE = -1  # a file's position once all its lines are stored
POLL_CAP = 5.0  # seconds: the longest wait between two polls, whatever Retry-After says


class SyncError(Exception):
    """A run that cannot start (unknown type, no token, refused export)."""


@dataclass(frozen=True)
class Options:
    types: list[str] | None = None
    full: bool = False
    overlap: timedelta = timedelta(seconds=60)
    reconcile: timedelta | None = None  # an incremental type is exported in full this often
    batch: int = 500


def carries_last_updated(table: Table) -> bool:
    """The type's resources say when they last changed, so ``_since`` can select them."""
    for source in table.sources.values():
        if source.surface in ("fhir", "store"):
            return True  # athena's (or the facade's own) meta.lastUpdated is kept
        if any(
            f.fhir.startswith("meta.lastUpdated") and f.direction != "write" for f in source.fields
        ):
            return True
    return False


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Sync:
    def __init__(
        self,
        client: BulkClient,
        warehouse: Warehouse,
        mappings: Mappings,
        reporter: Reporter,
        options: Options | None = None,
    ) -> None:
        self.client = client
        self.warehouse = warehouse
        self.mappings = mappings
        self.reporter = reporter
        self.options = options or Options()

    # -- what to sync --------------------------------------------------------------------

    def plan_types(self) -> list[str]:
        """The exportable types the deployment serves and the client's token may read and
        search (``system/`` scopes: a type outside them would make the kick-off a 403)."""
        served = self.client.served_types()
        types = [t for t in level_types(self.mappings, "system") if t in served]
        self.client.token()
        granted = ScopeSet.parse(self.client.granted or "")
        system = ScopeSet(tuple(s for s in granted.scopes if s.context == "system"), ())
        readable = [t for t in types if system.allows(t, "r") and system.allows(t, "s")]
        wanted = self.options.types
        if not wanted:
            return readable
        unknown = sorted(set(wanted) - set(types))
        if unknown:
            raise SyncError(
                f"not exportable here: {', '.join(unknown)} (exportable: {', '.join(types)})"
            )
        refused = sorted(set(wanted) - set(readable))
        if refused:
            raise SyncError(f"this client may not read: {', '.join(refused)}")
        return [t for t in readable if t in wanted]

    def _full(self, state: TypeState) -> bool:
        """Exported without ``_since`` (and its absent rows marked deleted): always for a
        type without change dates, under ``--full``, and ``--reconcile-every`` apart."""
        table = self.mappings.table(state.type)
        if self.options.full or table is None or not carries_last_updated(table):
            return True
        every = self.options.reconcile
        if every is None:
            return False
        now = datetime.now(UTC).replace(tzinfo=None)
        return state.reconciled_at is None or now - state.reconciled_at >= every

    def _since(self, state: TypeState) -> str | None:
        if state.since is None or self._full(state):
            return None
        return instant(_parse(state.since) - self.options.overlap)

    # -- a run ---------------------------------------------------------------------------

    def run_once(self) -> list[TypeResult]:
        started = time.monotonic()
        calls = self.client.calls
        types = self.plan_types()
        known = self.warehouse.states()
        states = {t: known.get(t) or TypeState(t) for t in types}
        results: list[TypeResult] = []
        jobs: dict[str, list[TypeState]] = {}
        for state in states.values():
            if state.job:
                jobs.setdefault(state.job, []).append(state)
        for url, group in jobs.items():
            try:
                self._take(url, group, results, resumed=True)
            except (JobGone, JobFailed) as exc:
                left = [s for s in group if s.job == url]
                what = "gone" if isinstance(exc, JobGone) else "failed"
                self.reporter.say(
                    f"export {what}, started again: {', '.join(s.type for s in left)}"
                )
                self._forget(url, left)
        taken = {r.type for r in results}
        groups: dict[str | None, list[TypeState]] = {}
        for rtype, state in states.items():
            if rtype not in taken:
                groups.setdefault(self._since(state), []).append(state)
        for since, group in groups.items():
            url = self.client.kick_off([s.type for s in group], since)
            for state in group:
                state.clear_job()
                state.job, state.job_since = url, since
            self.warehouse.save_all(group)  # a killed run finds the export again
            try:
                self._take(url, group, results, resumed=False)
            except JobFailed:
                self._forget(url, [s for s in group if s.job == url])  # the next run starts anew
                raise
        order = {t: i for i, t in enumerate(types)}
        results.sort(key=lambda r: order[r.type])
        self.reporter.close()
        self.reporter.summary(
            results,
            time.monotonic() - started,
            self.client.calls - calls,
            self.warehouse.display,
        )
        return results

    def _forget(self, url: str, states: list[TypeState]) -> None:
        """These types' export is no more: the next export starts them from their ``since``."""
        for state in states:
            state.clear_job()
        self.warehouse.save_all(states)
        with contextlib.suppress(BulkError):  # gone already, or the facade is down: files expire
            self.client.delete(url)

    def _take(
        self, url: str, group: list[TypeState], results: list[TypeResult], *, resumed: bool
    ) -> None:
        """Wait for one export and store its files, type by type (into ``results``)."""
        since = group[0].job_since
        self.reporter.export_started(url, [s.type for s in group], since, resumed)
        while True:
            poll = self.client.poll(url)
            if poll.manifest is not None:
                break
            self.reporter.waiting(poll.progress)
            time.sleep(min(max(poll.retry_after, 0.1), POLL_CAP))
        manifest = poll.manifest
        errors = manifest.get("error") or []
        clean = not errors
        if errors:
            self.reporter.say(
                f"the export reported problems ({len(errors)} OperationOutcome file(s)): what it"
                " exported is stored; since is kept and no row is marked deleted, so the next"
                " run asks for the same changes again"
            )
        outputs = [o for o in manifest.get("output", []) if isinstance(o, dict)]
        for state in group:
            state.transaction_time = str(manifest["transactionTime"])
            files = [
                (str(o["url"]), int(o.get("count", 0))) for o in outputs if o["type"] == state.type
            ]
            results.append(self._store_type(state, files, clean))
        try:
            self.client.delete(url)
        except BulkError as exc:
            self.reporter.say(f"the finished export was not deleted on the facade: {exc}")

    # -- one type ------------------------------------------------------------------------

    def _store_type(
        self, state: TypeState, files: list[tuple[str, int]], clean: bool
    ) -> TypeResult:
        """Store the type's files; then, if the export was ``clean`` (no error entries),
        reconcile a full type's deletions and move its ``since`` on."""
        started = time.monotonic()
        calls = self.client.calls
        rtype = state.type
        full = state.job_since is None
        maker = RowMaker(rtype, self.mappings.table(rtype))
        table = self.warehouse.ensure(rtype, maker.columns)
        mode = "full" if full else f"since {state.job_since}"
        result = TypeResult(rtype, mode)
        done = sum(
            count if state.files.get(url) == DONE else max(state.files.get(url, 0), 0)
            for url, count in files
        )
        self.reporter.type_started(rtype, sum(c for _, c in files), done)
        seen = str(state.job)
        for url, _count in files:
            position = state.files.get(url, 0)
            if position == DONE:
                continue
            batch: list[bytes] = []
            for index, line in enumerate(self.client.lines(url)):
                if index < position:
                    continue
                batch.append(line)
                if len(batch) >= self.options.batch:
                    result.changed += self._store(table, maker, batch, state, url, index + 1, full)
                    result.received += len(batch)
                    self.reporter.advance(rtype, len(batch))
                    batch = []
            result.changed += self._store(table, maker, batch, state, url, DONE, full)
            result.received += len(batch)
            self.reporter.advance(rtype, len(batch))
        self.warehouse.begin()
        try:
            now = datetime.now(UTC).replace(tzinfo=None)
            if full and clean:
                result.deleted = self.warehouse.sweep(table, seen)
                state.reconciled_at = now
            if clean:
                state.since = state.transaction_time
            state.synced_at = now
            state.clear_job()
            self.warehouse.save(state)
            self.warehouse.commit()
        except BaseException:
            self.warehouse.rollback()
            raise
        result.rows = self.warehouse.count(table)
        result.calls = self.client.calls - calls
        result.seconds = time.monotonic() - started
        self.reporter.type_done(result)
        return result

    def _store(
        self,
        table: str,
        maker: RowMaker,
        lines: list[bytes],
        state: TypeState,
        url: str,
        position: int,
        full: bool,
    ) -> int:
        """One batch and the file position it reaches, in one transaction; rows changed."""
        rows = {}
        for line in lines:
            resource = orjson.loads(line)
            if isinstance(resource, dict) and resource.get("resourceType") == state.type:
                row = maker.row(resource)
                rows[row.id] = row
        self.warehouse.begin()
        try:
            existing = self.warehouse.existing(table, list(rows))
            changed = [r for r in rows.values() if existing.get(r.id) != (r.hash, False)]
            self.warehouse.upsert(table, changed, str(state.job))
            if full:
                same = [rid for rid in rows if existing.get(rid) == (rows[rid].hash, False)]
                self.warehouse.touch(table, same, str(state.job))
            state.files[url] = position
            self.warehouse.save(state)
            self.warehouse.commit()
        except BaseException:
            self.warehouse.rollback()
            raise
        return len(changed)


def every(
    run: Callable[[], object],
    interval: float,
    *,
    runs: int | None = None,
    on_error: Callable[[Exception], None],
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """``run`` every ``interval`` seconds (start to start; a long run is followed at once),
    ``runs`` times or until interrupted; a failed run is reported and the next one tried.
    Returns the number of failed runs."""
    failed = 0
    count = 0
    while True:
        started = time.monotonic()
        try:
            run()
        except (BulkError, SyncError, OSError) as exc:
            failed += 1
            on_error(exc)
        count += 1
        if runs is not None and count >= runs:
            return failed
        sleep(max(0.0, interval - (time.monotonic() - started)))


def parse_interval(text: str) -> float:
    """``90s``, ``15m``, ``2h``, ``1d`` or plain seconds; a sum like ``1h30m``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    number = ""
    for char in text.strip().lower():
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            raise ValueError(f"not an interval: {text!r} (e.g. 90s, 15m, 1h)")
    if number:
        total += float(number)
    if total <= 0:
        raise ValueError(f"not an interval: {text!r} (e.g. 90s, 15m, 1h)")
    return total


def types_argument(values: Iterable[str] | None) -> list[str] | None:
    """``--types Patient,Encounter --types Appointment`` -> the list (None: all)."""
    found = [t.strip() for v in values or [] for t in v.split(",") if t.strip()]
    return found or None
