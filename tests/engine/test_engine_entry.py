"""The engine runs without HTTP: any entry point opens Services and calls it with an AuthContext.

These drive the engine as the MCP server, bulk jobs and the event engine will:
``open_services(settings)`` against the emulator as a real loopback server,
then reads, searches and an operation with a plain ``AuthContext``, with the
same authorization as the HTTP face.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.engine import operations, reads, registry, searches
from facade.engine.operations import OperationCall
from facade.engine.runtime import open_services
from facade.errors import Forbidden, NotFound
from facade.mapping.loader import load_mappings
from facade.search import SearchRequest, parse_query
from tests.conftest import facade_settings

SANDBOX = "a-195900.E-60178"
OTHER = "a-195900.E-60179"


def _days_around_today(first: int, last: int, *, count: int) -> SearchRequest:
    """An Appointment search from ``first`` to ``last`` days from today, ``count`` a page."""
    today = date.today()
    return parse_query(
        "Appointment",
        [
            ("date", f"ge{(today + timedelta(days=first)).isoformat()}"),
            ("date", f"le{(today + timedelta(days=last)).isoformat()}"),
            ("_count", str(count)),
        ],
    )


def _auth(scope: str, patient: str | None = None) -> AuthContext:
    return AuthContext(
        client_id="engine-test",
        scopes=ScopeSet.parse(scope),
        practices=("195900", "195901"),
        patient=patient,
    )


async def test_read_search_and_operation_without_http(emulator_url: str, tmp_path: Path) -> None:
    settings = facade_settings(emulator_url, tmp_path)
    async with open_services(settings) as services:
        entry = await reads.read(services, _auth("system/Patient.r"), "Patient", SANDBOX)
        assert entry.resource["id"] == SANDBOX

        req = parse_query("Encounter", [("patient", SANDBOX)])
        bundle = await searches.search(
            services, _auth("system/Encounter.s"), "Encounter", req, strict=True
        )
        assert bundle["type"] == "searchset" and bundle["entry"]
        assert all(
            e["resource"]["subject"]["reference"] == f"Patient/{SANDBOX}" for e in bundle["entry"]
        )

        # The same compartment rules as over HTTP: another patient is not there.
        with pytest.raises(NotFound):
            await reads.read(services, _auth("patient/Patient.r", SANDBOX), "Patient", OTHER)
        with pytest.raises(Forbidden):
            await reads.read(services, _auth("system/Encounter.r"), "Patient", SANDBOX)

        # A workflow's operation through the engine's dispatch.
        call = OperationCall(
            "Appointment",
            "find",
            "GET",
            params=[("start", "2026-01-01T00:00:00Z"), ("end", "2026-01-01T01:00:00Z")],
        )
        outcome = await operations.invoke(services, _auth("system/Appointment.rs"), call)
        assert outcome.status == 200 and outcome.body["type"] == "searchset"
        with pytest.raises(NotFound):  # declared for GET and POST only, never PUT
            operations.handler(services, "Appointment", "find", "PUT")
        with pytest.raises(NotFound):  # not declared by the table at all
            operations.handler(services, "Patient", "book", "POST")


def test_every_hook_the_tables_name_is_registered() -> None:
    assert registry.missing(load_mappings()) == []


def test_a_table_naming_an_unregistered_hook_fails_the_start() -> None:
    mappings = load_mappings()
    table = mappings.tables["Appointment"]
    assert table.writes is not None and table.writes.create is not None
    broken = table.model_copy(
        update={
            "writes": table.writes.model_copy(
                update={"create": table.writes.create.model_copy(update={"resolve": "nowhere"})}
            )
        }
    )
    mappings.tables["Appointment"] = broken
    assert registry.missing(mappings) == ["Appointment book: resolver nowhere"]
    with pytest.raises(RuntimeError, match="resolver nowhere"):
        registry.check(mappings)


async def test_a_long_page_lets_other_requests_run_while_it_is_mapped(
    emulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mapping one athena page yields to the event loop every YIELD_EVERY records (a bulk
    export's 1000-record pages would otherwise hold every request on the worker).

    Observed through the entity cache, which every match enters as it is mapped: a task
    running beside the search sees the cache between its first and last match only if
    the search let the loop run mid-page."""
    from facade.engine import paging

    monkeypatch.setattr(paging, "YIELD_EVERY", 10)
    settings = facade_settings(emulator_url, tmp_path)
    async with open_services(settings) as services:
        cache = services.cache._caches["Appointment"]
        seen: set[int] = set()
        done = False

        async def beside() -> None:
            while not done:
                seen.add(len(cache))
                await asyncio.sleep(0)

        req = _days_around_today(0, 13, count=100)
        watcher = asyncio.create_task(beside())
        bundle = await searches.search(
            services, _auth("system/Appointment.s"), "Appointment", req, strict=True
        )
        done = True
        await watcher
        matches = len(bundle["entry"])
        assert matches == 100  # two weeks of the sandbox schedule fill the page
        assert len(cache) == matches
        # intermediate sizes: the loop ran while the page was being mapped
        assert len({n for n in seen if 0 < n < matches}) >= 3, sorted(seen)


async def test_a_page_the_estimate_leaves_short_continues_with_doubling_pages(
    emulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upstream page sized from a route's recent yield that does not fill the FHIR page
    is followed by pages twice as large (up to athena's maximum), and the page holds the
    same matches as a search sized at athena's maximum from the start."""
    from facade.engine import paging

    sizes: list[int] = []
    fetch = paging._fetch

    async def counted(*args: object) -> paging.UpstreamPage:
        sizes.append(int(args[-1]))  # type: ignore[call-overload]
        return await fetch(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(paging, "_fetch", counted)
    req = _days_around_today(-14, 14, count=60)
    auth = _auth("system/Appointment.s")
    settings = facade_settings(emulator_url, tmp_path, cache_enabled=False)
    async with open_services(settings) as services:
        full = await searches.search(services, auth, "Appointment", req, strict=True)
        route = next(
            r.name
            for r in services.mappings.tables["Appointment"].routes.search
            if r.path == "/appointments/booked"
        )
        assert sizes == [1000]  # a route not seen yet: athena's maximum
        # a yield far better than the truth: one record per match, so 61 records asked
        services.search_pages._yield.clear()
        for _ in range(3):
            services.search_pages.observe("195900", route, 1, 1)
        sizes.clear()
        short = await searches.search(services, auth, "Appointment", req, strict=True)
    assert sizes[0] == 61 and len(sizes) >= 2, sizes
    assert sizes[1:] == [min(1000, 61 * 2**n) for n in range(1, len(sizes))], sizes
    ids = [e["resource"]["id"] for e in short["entry"]]
    assert ids == [e["resource"]["id"] for e in full["entry"]] and len(ids) == 60


async def test_known_department_offsets_plan_a_search_once_and_the_same(
    emulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facade.engine import paging

    settings = facade_settings(emulator_url, tmp_path)
    table = load_mappings().tables["Appointment"]
    queries = [
        [("date", "ge2026-03-02T03:00:00Z"), ("date", "le2026-03-09")],
        [("date", "2026-03-02")],
        [("date", "ge2026-03-09"), ("date", "le2026-03-02")],  # can match nothing
        [("patient", SANDBOX)],
        [("_id", "a-195900.Appointment-1")],
    ]
    calls: list[object] = []
    plan = paging.plan_search

    def counted(*args: object, **kwargs: object) -> paging.UpstreamPlan:
        calls.append(kwargs.get("zones"))
        return plan(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(paging, "plan_search", counted)
    async with open_services(settings) as services:
        assert services.directory.held_offsets("195900") is None  # nothing read yet
        cold = []
        for query in queries:
            req = parse_query("Appointment", query)
            cold.append(await paging.planned(services, table, req, "195900", allow_scan=False))
        departments = await services.directory.departments("195900")
        offsets = [int(d["timezone"]) for d in departments.values() if "timezone" in d]
        held = services.directory.held_offsets("195900")
        assert held is not None and held.range == (min(offsets), max(offsets)) and offsets
        assert held.each == {d: int(r["timezone"]) for d, r in departments.items()}
        calls.clear()
        for query, before in zip(queries, cold, strict=True):
            req = parse_query("Appointment", query)
            warm = await paging.planned(services, table, req, "195900", allow_scan=False)
            assert warm == before, query
    assert calls == [held.range] * len(queries)  # one plan each, with the offsets


async def test_a_search_maps_a_record_again_when_athena_changed_it(
    emulator_url: str, emulator_world: Any, tmp_path: Path
) -> None:
    """Search results of an unchanged athena record are the mapping kept from an earlier
    search (facade/mapping/convert.py ``to_fhir_remembered``); a record athena changed in
    between, even with the same ``lastmodified``, is mapped again."""
    req = _days_around_today(2, 4, count=5)
    auth = _auth("system/Appointment.s")
    settings = facade_settings(emulator_url, tmp_path, cache_enabled=False)
    async with open_services(settings) as services:
        first = await searches.search(services, auth, "Appointment", req, strict=True)
        again = await searches.search(services, auth, "Appointment", req, strict=True)
        resources = [e["resource"] for e in first["entry"]]
        assert len(resources) == 5
        # the same objects: kept, not mapped again (the bundle carries them as they are)
        assert all(a["resource"] is r for a, r in zip(again["entry"], resources, strict=True))
        changed = resources[2]
        number = int(changed["id"].rsplit("-", 1)[1])
        record = next(
            r
            for r in emulator_world.schedule.all_appointments("195900")
            if r.appointmentid == number
        )
        stamp, duration = record.lastmodified, record.duration
        try:
            record.duration = duration + 5  # athena changed it, lastmodified as it was
            record.lastmodified = stamp
            after = await searches.search(services, auth, "Appointment", req, strict=True)
        finally:
            record.duration, record.lastmodified = duration, stamp
    mapped = {e["resource"]["id"]: e["resource"] for e in after["entry"]}
    assert mapped[changed["id"]]["minutesDuration"] == duration + 5
    assert mapped[changed["id"]]["end"] != changed["end"]
    assert mapped[changed["id"]] is not changed
    unchanged = [r for r in resources if r["id"] != changed["id"]]
    assert all(mapped[r["id"]] is r for r in unchanged)


async def test_a_kept_page_holds_only_what_its_search_did_not_read(
    emulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The athena page a FHIR page stopped in is kept from the next record on; a
    continuation that starts inside what is kept reads it, one that starts before it
    (another paging session of the same upstream request) reads athena again; both
    answer what a single large page answers."""
    from urllib.parse import parse_qsl, urlsplit

    from facade.engine import paging

    fetched: list[int] = []
    fetch = paging._fetch

    async def counted(*args: object) -> paging.UpstreamPage:
        page = await fetch(*args)  # type: ignore[arg-type]
        fetched.append(len(page.records))
        return page

    monkeypatch.setattr(paging, "_fetch", counted)
    auth = _auth("system/Appointment.s")
    settings = facade_settings(emulator_url, tmp_path, cache_enabled=False)
    async with open_services(settings) as services:

        async def search(req: SearchRequest) -> dict[str, Any]:
            services.search_pages._yield.clear()  # athena's largest pages: one per search
            return await searches.search(services, auth, "Appointment", req, strict=True)

        def kept() -> paging.UpstreamPage:
            (only,) = services.search_pages._pages.values()
            assert only.weight == len(only.value.records)
            page: paging.UpstreamPage = only.value
            return page

        def following(bundle: dict[str, Any]) -> SearchRequest:
            url = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
            return parse_query("Appointment", parse_qsl(urlsplit(url).query))

        whole = await search(_days_around_today(3, 6, count=200))
        five = await search(_days_around_today(3, 6, count=5))
        after_five = kept().start
        assert after_five >= 5 and kept().end == fetched[-1]
        three = await search(_days_around_today(3, 6, count=3))
        after_three = kept().start  # the same upstream request: this page replaced five's
        assert 3 <= after_three < after_five
        calls = len(fetched)
        five_next = await search(following(five))
        assert len(fetched) == calls  # it starts inside what is kept
        assert kept().start > after_five
        three_next = await search(following(three))
        assert len(fetched) == calls + 1  # it starts before what five's next kept
    ids = [e["resource"]["id"] for e in whole["entry"]]
    assert len(ids) > 12

    def got(*bundles: dict[str, Any]) -> list[str]:
        return [e["resource"]["id"] for b in bundles for e in b["entry"]]

    assert got(five, five_next) == ids[:10]
    assert got(three, three_next) == ids[:6]
