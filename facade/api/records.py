"""athena records on their way to ``to_fhir``: context, skips, paths, defaults.

The mapping functions are pure; what they need from other athena calls (the
department's time zone for appointment times) is added here, and route
declarations that depend on the practice (``{departments}``, path placeholders)
are resolved here, right before the upstream call.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from facade.api.services import Services
from facade.mapping.table import Route, Table

Json = dict[str, Any]


def skipped(route: Route, record: Json) -> bool:
    """A record the route declares is not this resource (``skip_when``)."""
    return any(str(record.get(k)) in values for k, values in route.skip_when.items())


async def add_context(
    services: Services, table: Table, source: str, practice: str, records: list[Json]
) -> list[Json]:
    """Facts a source asks for (``context``) added to each record before mapping."""
    if "department" not in table.sources[source].context or not records:
        return records
    out = []
    for record in records:
        tz = await services.directory.timezone(practice, record.get("departmentid"))
        out.append({**record, "departmenttimezone": tz})
    return out


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
