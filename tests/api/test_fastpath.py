"""The search fast path (facade/api/fastpath.py) answers exactly what the router answers.

Every case is asked twice of one real facade in front of the emulator: plainly (the fast
path takes it: counted) and with ``Prefer: handling=lenient`` (the default handling, but a
``Prefer`` header sends the request through the router). Status, body (paging cursors
aside: they carry their own issue time) and the response's header names must be equal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from facade.api.fastpath import PlainFastPath
from tests.conftest import dev_token, facade_settings, start_facade

ROUTER = {"Prefer": "handling=lenient"}
# headers whose values differ per request by design
PER_REQUEST = {"date", "server-timing", "x-request-id"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    emulator = ServerThread(
        create_emulator(
            EmulatorConfig(api_requests_per_second=100_000, token_requests_per_minute=1000)
        )
    )
    upstream = emulator.start()
    settings = facade_settings(
        upstream,
        tmp_path_factory.mktemp("fastpath"),
        cache_enabled=False,
        upstream_retry_attempts=1,
        breaker_failure_threshold=100,
    )
    facade = start_facade(settings)
    yield upstream, settings.base_url
    facade.stop()
    emulator.stop()


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The resource types the fast path answered a search for."""
    seen: list[str] = []
    original = PlainFastPath._search

    async def counted(self: PlainFastPath, *args: Any) -> bool:
        done = await original(self, *args)
        if done:
            seen.append(args[4])  # (services, scope, send, token, resource_type, ...)
        return done

    monkeypatch.setattr(PlainFastPath, "_search", counted)
    return seen


def _client(base: str, scope: str = "system/*.rs") -> httpx.Client:
    token = dev_token(base, scope)
    return httpx.Client(
        base_url=f"{base}/fhir/r4", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def _without_cursors(body: Any) -> Any:
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        for link in body.get("link", []):
            parts = urlsplit(link["url"])
            query = [(k, v) for k, v in parse_qsl(parts.query) if k != "_cursor"]
            link["url"] = (parts.path, sorted(query))
    return body


def _same(fast: httpx.Response, routed: httpx.Response) -> None:
    assert fast.status_code == routed.status_code, (fast.text, routed.text)
    assert _without_cursors(fast.json()) == _without_cursors(routed.json())
    assert set(fast.headers) - PER_REQUEST == set(routed.headers) - PER_REQUEST
    for name in set(fast.headers) - PER_REQUEST - {"content-length"}:
        assert fast.headers[name] == routed.headers[name], name


# (type, parameters, status, entries at least)
SEARCHES = [
    ("Patient", {"name": "sandboxtest"}, 200, 1),
    ("Patient", {"name": "a", "_count": "3"}, 200, 3),
    ("Appointment", {"date": ["ge2026-11-02", "le2026-11-09"], "_count": "5"}, 200, 5),
    ("Slot", {"status": "free", "_count": "4"}, 200, 4),
    ("Encounter", {"patient": "a-195900.E-60178"}, 200, 1),
    ("Patient", {"name": "sandboxtest", "no-such-parameter": "x"}, 200, 1),  # lenient
    ("Patient", {"name": "sandboxtest", "_summary": "count"}, 200, 0),
    ("Patient", {"birthdate": "not-a-date"}, 400, 0),
    ("Patient", {"_count": "-1"}, 400, 0),
    ("Appointment", {"date": "ge2026-11-02", "_cursor": "forged"}, 400, 0),
]


@pytest.mark.parametrize(("rtype", "params", "status", "entries"), SEARCHES)
def test_fast_path_search_answers_as_the_router(
    stack: tuple[str, str],
    answered: list[str],
    rtype: str,
    params: dict[str, Any],
    status: int,
    entries: int,
) -> None:
    with _client(stack[1]) as client:
        fast = client.get(rtype, params=params)
        routed = client.get(rtype, params=params, headers=ROUTER)
    assert answered == [rtype]  # the plain one came through the fast path, the other not
    assert fast.status_code == status, fast.text
    if status == 200:
        assert len(fast.json().get("entry", [])) >= entries
    else:
        assert fast.json()["resourceType"] == "OperationOutcome"
    _same(fast, routed)


def test_next_links_from_either_path_continue_on_either(
    stack: tuple[str, str], answered: list[str]
) -> None:
    params = {"date": ["ge2026-10-01", "le2026-12-31"], "_count": "7"}
    with _client(stack[1]) as client:
        first = client.get("Appointment", params=params).json()
        routed_first = client.get("Appointment", params=params, headers=ROUTER).json()
        links = [
            next(link["url"] for link in page["link"] if link["relation"] == "next")
            for page in (first, routed_first)
        ]
        pages = [client.get(url) for url in links] + [client.get(u, headers=ROUTER) for u in links]
    ids = [[e["resource"]["id"] for e in p.json()["entry"]] for p in pages]
    assert len(ids[0]) == 7 and all(i == ids[0] for i in ids), ids
    first_ids = {e["resource"]["id"] for e in first["entry"]}
    assert not first_ids & set(ids[0])  # page 2 continues: no duplicates


def test_scope_and_token_errors_are_the_routers(
    stack: tuple[str, str], answered: list[str]
) -> None:
    with _client(stack[1], "system/Patient.rs") as client:
        fast = client.get("Appointment", params={"date": "ge2026-11-02"})
        routed = client.get("Appointment", params={"date": "ge2026-11-02"}, headers=ROUTER)
    assert fast.status_code == 403
    _same(fast, routed)
    bad = {"Authorization": "Bearer not-a-token"}
    base = f"{stack[1]}/fhir/r4"
    fast = httpx.get(f"{base}/Patient", params={"name": "x"}, headers=bad)
    routed = httpx.get(f"{base}/Patient", params={"name": "x"}, headers={**bad, **ROUTER})
    assert fast.status_code == 401
    _same(fast, routed)
    with _client(stack[1]) as client:  # not a mapped type: the router's 404
        fast = client.get("NoSuchType", params={"x": "1"})
        routed = client.get("NoSuchType", params={"x": "1"}, headers=ROUTER)
    assert fast.status_code == 404
    _same(fast, routed)
    # only the 403 was the fast path's to answer (401 and 404 fell through)
    assert answered == ["Appointment"]


def test_upstream_failure_is_reported_the_same(stack: tuple[str, str], answered: list[str]) -> None:
    upstream, base = stack
    rule = {"kind": "status", "status": 503, "path": "^/(v1|fhir)/", "count": 2}
    with httpx.Client(base_url=f"{upstream}/_emulator") as admin, _client(base) as client:
        admin.delete("faults")
        assert admin.post("faults/rules", json=rule).status_code == 201
        try:
            fast = client.get("Patient", params={"name": "sandboxtest"})
            routed = client.get("Patient", params={"name": "sandboxtest"}, headers=ROUTER)
            fired = admin.get("faults").json()["fired"]
        finally:
            admin.delete("faults")
    assert fired == [2], fired  # both reached athena and met the fault
    assert fast.status_code >= 500 and fast.json()["resourceType"] == "OperationOutcome"
    _same(fast, routed)
    assert answered == ["Patient"]


def test_format_and_pretty_stay_with_the_router(
    stack: tuple[str, str], answered: list[str]
) -> None:
    with _client(stack[1]) as client:
        pretty = client.get("Patient", params={"name": "sandboxtest", "_pretty": "true"})
        formatted = client.get("Patient", params={"name": "sandboxtest", "_format": "json"})
    assert answered == []
    assert pretty.status_code == 200 and "\n  " in pretty.text
    assert formatted.headers["content-type"].startswith("application/fhir+json")
    assert json.loads(pretty.text)["entry"] == formatted.json()["entry"]
