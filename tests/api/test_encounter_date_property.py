"""Property: Encounter ``date`` searches through the facade equal a brute-force oracle.

For random comparators, precisions (year ... seconds), offsets and shifts around the
served encounters' own period boundaries, ``Encounter?patient=X&date=...`` (one or two
``date`` parameters) returns exactly the served encounters the oracle in
``clinical_support`` accepts (FHIR R4 search.html#date, Period targets), in order.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.clinical_support import SANDBOX, Json, implicit_range, satisfies, search

PREFIXES = ["eq", "ne", "gt", "ge", "lt", "le", "sa", "eb"]
OFFSETS = [timedelta(0), timedelta(hours=-5), timedelta(hours=9, minutes=30), timedelta(hours=-11)]


@pytest.fixture(scope="module")
def served(fhir: httpx.Client) -> dict[str, list[Json]]:
    return {p: search(fhir, "Encounter", {"patient": p})[0] for p in SANDBOX}


def _render(moment: datetime, precision: str, offset: timedelta) -> str:
    local = moment.astimezone(timezone(offset))
    zone = "Z" if offset == timedelta(0) else local.strftime("%z")
    zone = zone if zone == "Z" else f"{zone[:3]}:{zone[3:]}"
    return {
        "year": local.strftime("%Y"),
        "month": local.strftime("%Y-%m"),
        "day": local.strftime("%Y-%m-%d"),
        "minute": local.strftime("%Y-%m-%dT%H:%M") + zone,
        "second": local.strftime("%Y-%m-%dT%H:%M:%S") + zone,
    }[precision]


values = st.tuples(
    st.sampled_from(PREFIXES),
    st.sampled_from(["year", "month", "day", "minute", "second"]),
    st.sampled_from(OFFSETS),
    st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60),  # shift in minutes
    st.sampled_from(["start", "end"]),
)


def _value(encounter: Json, spec: tuple[str, str, timedelta, int, str]) -> str:
    prefix, precision, offset, shift, edge = spec
    period = encounter["period"]
    anchor = period.get(edge) or period["start"]
    moment = implicit_range(anchor)[0] + timedelta(minutes=shift)
    return prefix + _render(moment, precision, offset)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    patient=st.integers(min_value=0, max_value=len(SANDBOX) - 1),
    pick=st.integers(min_value=0, max_value=20),
    first=values,
    second=st.one_of(st.none(), values),
)
def test_date_search_equals_the_oracle(
    fhir: httpx.Client,
    served: dict[str, list[Json]],
    patient: int,
    pick: int,
    first: tuple[str, str, timedelta, int, str],
    second: tuple[str, str, timedelta, int, str] | None,
) -> None:
    pid = SANDBOX[patient]
    encounters = served[pid]
    dates = [_value(encounters[pick % len(encounters)], first)]
    if second is not None:
        dates.append(_value(encounters[(pick + 1) % len(encounters)], second))
    params = [("patient", pid), *(("date", d) for d in dates)]
    got = [e["id"] for e in search(fhir, "Encounter", params)[0]]
    expected = [
        e["id"] for e in encounters if all(satisfies(d[:2], d[2:], e["period"]) for d in dates)
    ]
    assert got == expected, dates
