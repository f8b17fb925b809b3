"""athena records on their way to ``to_fhir``: context, skips, paths, defaults.

The mapping functions are pure; what they need from other athena calls (the
department's time zone for appointment times) is added here, and route
declarations that depend on the practice (``{departments}``, path placeholders)
are resolved here, right before the upstream call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from facade.engine.services import Services
from facade.mapping.table import Route, Table

Json = dict[str, Any]


def skipped(route: Route, record: Json) -> bool:
    """A record the route declares is not this resource (``skip_when``)."""
    for key, values in route.skip_when.items():  # noqa: SIM110 (a loop: runs for every record)
        if str(record.get(key)) in values:
            return True
    return False


# athena's practice defaults for open-slot searches without reason-specific windows
# (API-NOTES §3.5 [G]): no slot sooner than 24 h ahead, none beyond 90 days.
DEFAULT_LEAD_HOURS = 24
DEFAULT_HORIZON_DAYS = 90


async def add_context(
    services: Services,
    table: Table,
    source: str,
    practice: str,
    records: list[Json],
) -> list[Json]:
    """Facts a source asks for (``context``) added to each record before mapping."""
    kinds = table.sources[source].context
    if not kinds or not records:
        return records
    at = await context_at(services, table, source, practice, records)
    return [at(index) for index in range(len(records))]


async def context_at(
    services: Services,
    table: Table,
    source: str,
    practice: str,
    records: list[Json],
) -> Callable[[int], Json]:
    """``add_context(...)[index]`` as a function of the index, each record made when asked
    for: a search page maps only the records it consumes of an upstream page (the rest may
    serve the ``next`` request), so only those are copied. The practice's and departments'
    facts are looked up here, once for the page."""
    kinds = table.sources[source].context
    if not kinds or not records:
        return records.__getitem__
    today = await practice_today(services, practice) if "today" in kinds else None
    zones: dict[str, int | None] = {}
    if "schedule" in kinds or "department" in kinds:  # every department's, once for the page
        zones = (await services.directory.offsets(practice)).each
    if "schedule" in kinds:  # per record (its provider's reasons), all at once
        out = []
        for record in records:
            if today is not None:
                record = {**record, "today": today}
            tz = zones.get(str(record.get("departmentid")))  # the directory's key too
            record = {**record, "departmenttimezone": tz}
            record.update(await _schedule_facts(services, practice, record, tz))
            out.append(record)
        return out.__getitem__
    by_department = "department" in kinds

    def at(index: int) -> Json:
        record = records[index]
        if today is not None:
            record = {**record, "today": today}
        if by_department:
            tz = zones.get(str(record.get("departmentid")))
            record = {**record, "departmenttimezone": tz}
        return record

    return at


async def practice_today(services: Services, practice: str) -> str:
    """The practice's current date (ISO): at its first department's UTC offset, US Eastern
    standard time when the practice lists none."""
    offset = None
    for department in (await services.directory.ids(practice))[:1]:
        offset = await services.directory.timezone(practice, department)
    zone = timezone(timedelta(hours=offset if offset is not None else -5))
    return datetime.fromtimestamp(time.time(), zone).date().isoformat()


async def _schedule_facts(services: Services, practice: str, record: Json, tz: int | None) -> Json:
    """A provider-in-department's bookable reasons and planning horizon.

    The horizon is the window athena's open-slot search answers for: from now plus
    the shortest lead time (``schedulingminhours``) to the department's today plus
    the longest horizon (``schedulingmaxdays``) of the reasons bookable there.
    """
    reasons = await services.directory.reasons(
        practice, record.get("departmentid"), record.get("providerid")
    )
    leads = [_hours(r.get("schedulingminhours")) for r in reasons]
    spans = [_hours(r.get("schedulingmaxdays")) for r in reasons]
    lead = min((h for h in leads if h is not None), default=DEFAULT_LEAD_HOURS)
    span = max((d for d in spans if d is not None), default=DEFAULT_HORIZON_DAYS)
    zone = timezone(timedelta(hours=tz if tz is not None else 0))
    moment = datetime.fromtimestamp(time.time(), zone)
    start = (moment + timedelta(hours=lead)).replace(second=0, microsecond=0)
    return {
        "reasonids": [str(r["reasonid"]) for r in reasons],
        "planningstart": start.isoformat(),
        "planningend": (moment.date() + timedelta(days=span)).isoformat(),
    }


def _hours(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


DEPARTMENTS = "{departments}"


async def expand_defaults(
    services: Services, practice: str, planned: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    """``{departments}`` (a route default) -> every department of the practice."""
    params = list(planned)
    if any(value == DEPARTMENTS for _, value in params):
        ids = ",".join(await services.directory.ids(practice))
        params = [(name, ids if value == DEPARTMENTS else value) for name, value in params]
    return params


def path_fields(path: str, params: list[tuple[str, str]]) -> dict[str, str]:
    """The upstream parameters a path names: records athena lists under such a path
    (``/patients/{patientid}/insurances``) belong to them, so they carry them.

    >>> path_fields("/patients/{patientid}/insurances", [("patientid", "1"), ("x", "2")])
    {'patientid': '1'}
    """
    return {name: value for name, value in params if "{" + name + "}" in path}


def with_path_fields(records: list[Json], fields: dict[str, str]) -> list[Json]:
    """Each record with the path's fields it lacks (athena leaves out what the path says)."""
    if not fields:
        return records
    return [{**fields, **record} for record in records]


def fill_path(path: str, params: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """Upstream parameters named in the path (``/patients/{patientid}/appointments``) go there.

    >>> fill_path("/appointments/{appointmentid}", [("appointmentid", "7"), ("x", "1")])
    ('/appointments/7', [('x', '1')])
    """
    rest: list[tuple[str, str]] = []
    for name, value in params:
        placeholder = "{" + name + "}"
        if placeholder in path:
            path = path.replace(placeholder, quote(value, safe=""))
        else:
            rest.append((name, value))
    return path, rest
