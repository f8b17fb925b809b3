"""Property: Appointment and Slot date searches, paged, equal a brute-force oracle.

The oracle reads the emulator's own schedule (every appointment's department-local
date and time at its department's offset) and the conformance suite's date rules
(``conformance.dates``, written from FHIR R4 search.html#date, no facade code). Each
search is paged with a small ``_count``, following ``next`` links verbatim: the pages
together are exactly the oracle's matches in athena's order, with no gaps and no
duplicates, whether a continuation finds the athena page its previous page stopped in
(the page reuse, facade/engine/page_reuse.py) or has to read athena again (the kept
pages dropped between pages: another worker, or the TTL over). This also covers the
prefilter (dates decided on athena's raw fields) and the window narrowed by the
departments' offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.dates import satisfies
from tests.api.scheduling.support import PID, TODAY, _client
from tests.conftest import facade_settings, start_facade

Json = dict[str, Any]
LOWER = ["ge", "gt", "sa"]
UPPER = ["le", "lt", "eb"]
OFFSETS = [timedelta(0), timedelta(hours=-5), timedelta(hours=-8), timedelta(hours=5, minutes=30)]


@pytest.fixture(scope="module")
def facade(clinic: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings_ = facade_settings(clinic[0], tmp_path_factory.mktemp("paging"))
    server = start_facade(settings_)
    with _client(settings_.base_url) as client:
        yield client, server.app
    server.stop()


def _start(world: Any, record: Any) -> datetime:
    tz = world.department_tz(PID, record.departmentid)
    hour, minute = (int(x) for x in record.starttime.split(":"))
    return datetime(record.date.year, record.date.month, record.date.day, hour, minute, tzinfo=tz)


def _order(record: Any) -> tuple[Any, ...]:
    return (record.date, record.starttime, record.appointmentid)  # athena's list order


def _render(moment: datetime, precision: str, offset: timedelta) -> str:
    local = moment.astimezone(timezone(offset))
    zone = local.strftime("%z")
    zone = "Z" if offset == timedelta(0) else f"{zone[:3]}:{zone[3:]}"
    if precision == "day":
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%dT%H:%M:%S") + zone


def _pages(fhir: httpx.Client, path: str, params: list[tuple[str, str]], drop: Any) -> list[str]:
    """Every match over all pages; ``drop`` runs between pages."""
    answer = fhir.get(path, params=params)
    ids: list[str] = []
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        ids += [e["resource"]["id"] for e in body.get("entry", [])]
        nxt = [link["url"] for link in body["link"] if link["relation"] == "next"]
        if not nxt:
            return ids
        drop()
        answer = fhir.get(nxt[0])


bound = st.tuples(
    st.sampled_from(["day", "second"]),
    st.sampled_from(OFFSETS),
    st.integers(min_value=-36 * 60, max_value=36 * 60),  # minutes around an appointment
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    slot=st.booleans(),
    day=st.integers(min_value=-20, max_value=30),
    low=st.tuples(st.sampled_from(LOWER), bound),
    span_hours=st.integers(min_value=1, max_value=60),
    high=st.tuples(st.sampled_from(UPPER), bound),
    count=st.integers(min_value=3, max_value=9),
    reuse=st.booleans(),
)
def test_paged_date_search_equals_the_oracle(
    facade: tuple[httpx.Client, Any],
    clinic: tuple[str, Any],
    slot: bool,
    day: int,
    low: tuple[str, tuple[str, timedelta, int]],
    span_hours: int,
    high: tuple[str, tuple[str, timedelta, int]],
    count: int,
    reuse: bool,
) -> None:
    fhir, app = facade
    world = clinic[1]
    anchor = datetime(TODAY.year, TODAY.month, TODAY.day, 15, tzinfo=UTC)
    anchor += timedelta(days=day)
    (lp, (lprec, loff, lshift)), (hp, (hprec, hoff, hshift)) = low, high
    lower = lp + _render(anchor + timedelta(minutes=lshift), lprec, loff)
    upper = hp + _render(anchor + timedelta(hours=span_hours, minutes=hshift), hprec, hoff)
    name = "start" if slot else "date"
    params = [(name, lower), (name, upper), ("_count", str(count))]
    if slot:
        params.append(("status", "free"))
    pages = app.state.services.search_pages

    def drop() -> None:
        if not reuse:  # the continuation reads athena again
            pages._pages.clear()
            pages._weight = 0

    got = _pages(fhir, "Slot" if slot else "Appointment", params, drop)
    assert len(got) == len(set(got)), "a record on two pages"

    def matches(record: Any) -> bool:
        start = _start(world, record).isoformat()
        target = {"start": start, "end": start}
        return all(satisfies(v[:2], v[2:], target) for v in (lower, upper))

    if slot:
        # athena lists only free slots from its lead time on: the oracle is athena's own
        # open list over a window days wider than the search, filtered here
        listed = {str(r["appointmentid"]) for r in _open_slots(clinic[0], anchor, span_hours)}
        expected = sorted(
            (
                r
                for r in world.schedule.all_appointments(PID)
                if str(r.appointmentid) in listed and matches(r)
            ),
            key=_order,
        )
        assert got == [f"a-{PID}.Slot-{r.appointmentid}" for r in expected], (lower, upper)
        return
    expected = sorted(
        (r for r in world.schedule.all_appointments(PID) if r.status != "o" and matches(r)),
        key=_order,
    )
    assert got == [f"a-{PID}.Appointment-{r.appointmentid}" for r in expected], (lower, upper)


def _open_slots(base: str, anchor: datetime, span_hours: int) -> list[Json]:
    token = httpx.post(
        f"{base}/oauth2/v1/token",
        data={"grant_type": "client_credentials", "scope": "athena/service/Athenanet.MDP.*"},
        auth=("facade-dev", "facade-dev-secret"),
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    departments = httpx.get(f"{base}/v1/{PID}/departments", headers=headers).json()
    params = {
        "departmentid": ",".join(d["departmentid"] for d in departments["departments"]),
        "reasonid": "-1",
        "startdate": (anchor - timedelta(days=3)).strftime("%m/%d/%Y"),
        "enddate": (anchor + timedelta(hours=span_hours, days=3)).strftime("%m/%d/%Y"),
        "limit": "10000",
    }
    answer = httpx.get(f"{base}/v1/{PID}/appointments/open", params=params, headers=headers)
    answer.raise_for_status()
    slots: list[Json] = answer.json()["appointments"]
    return slots


def test_continuations_reuse_the_page_they_stopped_in(
    facade: tuple[httpx.Client, Any], clinic: tuple[str, Any]
) -> None:
    """Paging a week 5 at a time asks athena's booked list once, not once per page."""
    fhir, _ = facade
    base = clinic[0]
    first = TODAY + timedelta(days=2)
    params = [
        ("date", f"ge{first.isoformat()}"),
        ("date", f"le{(first + timedelta(days=2)).isoformat()}"),
        ("_count", "5"),
    ]
    fhir.get("Appointment", params=[*params[:2], ("_count", "1")])  # the department list, once
    httpx.delete(f"{base}/_emulator/calls")
    got = _pages(fhir, "Appointment", params, lambda: None)
    calls = httpx.get(f"{base}/_emulator/calls").json()["calls"]
    booked = sum(c["count"] for c in calls if c["path"].endswith("/appointments/booked"))
    assert len(got) > 10  # several pages
    assert booked == 1, calls
