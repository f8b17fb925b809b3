"""The practice's departments and their booking reasons, as the scheduling tables need them.

athena's appointment records carry department-local dates and times with no zone,
and its booked and open-slot lists require ``departmentid``. Both needs are met
from ``GET /v1/{practiceid}/departments?providerlist=true`` (API-NOTES §3.1), read
once per practice and kept for ``ttl_seconds`` (departments change rarely). A
Schedule (provider in department) also lists the patient appointment reasons
bookable there (§3.5), kept the same way. Reference data only: no PHI.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, NamedTuple

from facade.errors import UpstreamError
from facade.upstream.client import AthenaClient, raise_for_bad_request

Json = dict[str, Any]


class Offsets(NamedTuple):
    """The departments' UTC offsets (hours, athena ``timezone``), worked out once per list."""

    each: dict[str, int | None]  # departmentid -> its offset (None: not known)
    range: tuple[int, int] | None  # the lowest and highest known offset (None: none known)
    rows: dict[str, Json]  # the department list they come from


class DepartmentDirectory:
    def __init__(self, athena: AthenaClient, *, ttl_seconds: float = 3600.0) -> None:
        self._athena = athena
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, dict[str, Json]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._reasons: dict[str, tuple[float, list[Json]]] = {}
        # per practice: each department's offset, their range, the list they come from
        self._offsets: dict[str, Offsets] = {}

    async def departments(self, practice: str) -> dict[str, Json]:
        """departmentid -> the department record (with ``providerlist``)."""
        entry = self._entries.get(practice)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        lock = self._locks.setdefault(practice, asyncio.Lock())
        async with lock:
            entry = self._entries.get(practice)
            if entry is not None and entry[0] > time.monotonic():
                return entry[1]
            found = await self._fetch(practice)
            self._entries[practice] = (time.monotonic() + self._ttl, found)
            return found

    async def _fetch(self, practice: str) -> dict[str, Json]:
        response = await self._athena.rest(
            "GET", practice, "/departments", params=[("providerlist", "true"), ("limit", "1000")]
        )
        raise_for_bad_request(response)
        body = response.body
        rows = body.get("departments") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and r.get("departmentid") for r in rows
        ):
            raise UpstreamError("athena returned departments of an unexpected shape")
        return {str(r["departmentid"]): r for r in rows}

    def held_offsets(self, practice: str) -> Offsets | None:
        """The departments' offsets when the department list is held; None when it would
        have to be read from athena first."""
        entry = self._entries.get(practice)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return self._worked_out(practice, entry[1])

    async def offsets(self, practice: str) -> Offsets:
        """The departments' offsets (the department list read when not held)."""
        return self._worked_out(practice, await self.departments(practice))

    def _worked_out(self, practice: str, rows: dict[str, Json]) -> Offsets:
        kept = self._offsets.get(practice)
        if kept is None or kept.rows is not rows:
            each = {department: _offset(row) for department, row in rows.items()}
            known = [z for z in each.values() if z is not None]
            kept = Offsets(each, (min(known), max(known)) if known else None, rows)
            self._offsets[practice] = kept
        return kept

    async def ids(self, practice: str) -> list[str]:
        return sorted(await self.departments(practice), key=lambda d: (len(d), d))

    async def timezone(self, practice: str, departmentid: Any) -> int | None:
        """The department's offset from UTC in hours (athena ``timezone``), when known."""
        return (await self.offsets(practice)).each.get(str(departmentid))

    async def reasons(self, practice: str, departmentid: Any, providerid: Any) -> list[Json]:
        """The patient appointment reasons bookable with a provider in a department.

        ``GET /patientappointmentreasons?departmentid=&providerid=`` (API-NOTES §3.5),
        kept like the department list (reference data, no PHI).
        """
        key = f"{practice}/reasons/{departmentid}/{providerid}"
        entry = self._reasons.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        response = await self._athena.rest(
            "GET",
            practice,
            "/patientappointmentreasons",
            params=[
                ("departmentid", str(departmentid)),
                ("providerid", str(providerid)),
                ("limit", "1000"),
            ],
        )
        raise_for_bad_request(response)
        body = response.body
        rows = body.get("patientappointmentreasons") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and r.get("reasonid") is not None for r in rows
        ):
            raise UpstreamError("athena returned appointment reasons of an unexpected shape")
        self._reasons[key] = (time.monotonic() + self._ttl, rows)
        return rows


def _offset(row: Json) -> int | None:
    """A department's offset from UTC in hours (athena ``timezone``), when known."""
    try:
        return int(str(row.get("timezone", row.get("timezoneoffset"))))
    except ValueError:
        return None
