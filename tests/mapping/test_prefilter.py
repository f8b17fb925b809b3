"""Search prefilters, department-local date windows and the paging session's memory.

A prefilter decides a parameter on athena's raw record by mapping only the fields that
produce the parameter's elements: it must agree with mapping the whole record and
matching it, for every record and every value (property below, over the emulator's
seeded schedule).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from emulator.config import EmulatorConfig
from emulator.world import World
from facade.engine.page_reuse import SearchPages
from facade.mapping.convert import to_fhir
from facade.mapping.filter import matches, prefilter_of
from facade.mapping.loader import load_mappings
from facade.mapping.planner import plan_search
from facade.mapping.table import Table
from facade.search import SearchParam, SearchRequest

MAPPINGS = load_mappings()
WORLD = World(EmulatorConfig())
ZONES = {"1": -5, "21": -5, "102": -5, "144": -6, "150": -7, "157": -8}
RECORDS: list[dict[str, Any]] = []
for _r in WORLD.schedule.all_appointments("195900")[:4000:7]:
    _row = _r.v1_slot([1]) if _r.status == "o" else _r.v1()
    RECORDS.append({**_row, "departmenttimezone": ZONES.get(str(_r.departmentid))})


def _request(resource: str, *params: tuple[str, str]) -> SearchRequest:
    return SearchRequest(
        resource_type=resource, params=tuple(SearchParam(n, None, (v,)) for n, v in params)
    )


dates = st.builds(
    lambda prefix, day, hour, zone: f"{prefix}2025-{day}T{hour:02d}:00:00{zone}",
    st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "sa", "eb"]),
    st.sampled_from(["06-02", "06-16", "07-01", "07-14", "08-04"]),
    st.integers(min_value=0, max_value=23),
    st.sampled_from(["Z", "-05:00", "+09:30"]),
)
days = st.builds(
    lambda prefix, day: f"{prefix}2025-{day}",
    st.sampled_from(["ge", "le", "eq", "sa", "eb"]),
    st.sampled_from(["06-02", "06-16", "07-01", "07-14"]),
)
statuses = st.sampled_from(["booked", "cancelled", "fulfilled", "noshow", "free", "busy"])


@settings(max_examples=60, deadline=None)
@given(
    slot=st.booleans(),
    date=st.one_of(dates, days),
    status=st.one_of(st.none(), statuses),
    pick=st.integers(min_value=0, max_value=10_000),
)
def test_a_prefilter_agrees_with_mapping_the_whole_record(
    slot: bool, date: str, status: str | None, pick: int
) -> None:
    resource = "Slot" if slot else "Appointment"
    table = MAPPINGS.tables[resource]
    route = table.routes.search[-1] if slot else table.routes.search[2]
    params = [("start" if slot else "date", date)]
    if status is not None:
        params.append(("status", status))
    req = _request(resource, *params)
    pre = prefilter_of(table, route, req, "195900", MAPPINGS.codes)
    assert pre is not None and pre.decides == {p for p, _ in params}
    sample = RECORDS[pick % 50 :: 50]
    for record in sample:
        whole = matches(to_fhir(record, table, "rest", "195900", MAPPINGS.codes), table, req)
        assert pre.passes(record) == whole, record
        assert pre.passes(record) == whole  # the memoised answer is the same


def test_department_offsets_narrow_the_window() -> None:
    table = MAPPINGS.tables["Appointment"]
    req = _request("Appointment", ("date", "ge2025-07-01"), ("date", "le2025-07-07"))
    widened = dict(plan_search(table, req, "195900").params)
    # without offsets: a day of widening on each side of [07-01, 07-08)
    assert (widened["startdate"], widened["enddate"]) == ("06/30/2025", "07/09/2025")
    narrow = dict(plan_search(table, req, "195900", zones=(-8, -5)).params)
    # 07-01T00:00Z is still 06-30 in every US department; 07-07T23:59Z is 07-07 there
    assert (narrow["startdate"], narrow["enddate"]) == ("06/30/2025", "07/07/2025")
    east = dict(plan_search(table, req, "195900", zones=(5, 9)).params)
    assert (east["startdate"], east["enddate"]) == ("07/01/2025", "07/08/2025")


def test_a_prefilter_must_name_a_local_parameter_of_a_rest_route() -> None:
    raw = MAPPINGS.tables["Appointment"].model_dump()
    raw["routes"]["search"][2]["prefilter"] = ["ah-department"]  # athena-only (local: false)
    with pytest.raises(ValidationError, match="prefilters ah-department"):
        Table.model_validate(raw)


def test_pages_expire_are_bounded_and_yield_is_the_recent_worst() -> None:
    pages = SearchPages(max_records=10)
    pages.put(("a",), "A", 6, ttl=30)
    pages.put(("b",), "B", 6, ttl=30)  # over the bound: the oldest goes
    assert pages.get(("a",)) is None and pages.get(("b",)) == "B"
    pages.put(("c",), "C", 1, ttl=0)  # no TTL: nothing kept
    assert pages.get(("c",)) is None
    assert pages.records_per_match("1", "r") is None
    for consumed in (20, 80, 25):
        pages.observe("1", "r", consumed, 20)
    assert pages.records_per_match("1", "r") == 4.0
    pages.observe("1", "r", 5, 0)  # a page without matches says nothing
    assert pages.records_per_match("1", "r") == 4.0


def test_equal_raw_values_of_other_types_are_decided_apart() -> None:
    """1 and True are equal keys: the memos (per search and across searches) key the
    values with their types, as the mapping answers them differently (``x-noshow`` only
    for a real ``true``)."""
    table = MAPPINGS.tables["Appointment"]
    route = table.routes.search[2]
    base = next(r for r in RECORDS if r.get("appointmentstatus") == "f")
    noshow = {**base, "appointmentstatus": "x", "cancelreasonnoshow": True}
    numbered = {**base, "appointmentstatus": "x", "cancelreasonnoshow": 1}
    for status in ("noshow", "cancelled"):
        for order in ((noshow, numbered), (numbered, noshow)):
            req = _request("Appointment", ("date", "ge2000-01-01"), ("status", status))
            pre = prefilter_of(table, route, req, "195900", MAPPINGS.codes)
            assert pre is not None
            for record in order:
                whole = matches(
                    to_fhir(record, table, "rest", "195900", MAPPINGS.codes), table, req
                )
                assert pre.passes(record) == whole, (status, record["cancelreasonnoshow"])
    assert matches(to_fhir(noshow, table, "rest", "195900", MAPPINGS.codes), table, req) != matches(
        to_fhir(numbered, table, "rest", "195900", MAPPINGS.codes), table, req
    )
