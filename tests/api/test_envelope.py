"""The request envelope (facade/api/timing.py) does in one pass what four middlewares did:
every response carries each envelope header exactly once (request id, Server-Timing, the
security headers, one ``Vary`` with ``Origin`` when CORS is on), CORS still answers browser
requests, and the audit capture records even a request that failed unexpectedly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.server import ServerThread
from facade.api.fastpath import PlainFastPath
from facade.store.audit import SqliteAuditStore
from tests.conftest import dev_token, facade_settings, start_facade

PATIENT = "a-195900.E-60178"


class Facade:
    def __init__(self, server: ServerThread, base: str, data_dir: Path) -> None:
        self.server, self.base, self.data_dir = server, base, data_dir
        self.bearer = {"Authorization": f"Bearer {dev_token(base)}"}

    def records(self) -> list[dict[str, Any]]:
        self.server.app.state.services.audit.flush()
        store = SqliteAuditStore(self.data_dir / "audit.sqlite3")
        try:
            return [json.loads(r.facts) for r in store.scan()]
        finally:
            store.close()

    def recorded(self, *request_ids: str) -> list[dict[str, Any]]:
        """The records of these requests. The server hands a record over before the
        response's last byte, so one flush after the client has the response finds it."""
        return [r for r in self.records() if r.get("request_id") in request_ids]


def _start(emulator_url: str, data_dir: Path, **overrides: Any) -> Facade:
    settings = facade_settings(emulator_url, data_dir, **overrides)
    return Facade(start_facade(settings), settings.base_url, data_dir)


@pytest.fixture(scope="module")
def facade(emulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Facade]:
    started = _start(emulator_url, tmp_path_factory.mktemp("envelope"))
    yield started
    started.server.stop()


def _sample(facade: Facade) -> list[httpx.Response]:
    base, bearer = facade.base, facade.bearer
    return [
        httpx.get(f"{base}/fhir/r4/Patient/{PATIENT}", headers=bearer),  # fast path
        httpx.get(f"{base}/fhir/r4/Patient/{PATIENT}", headers=bearer),  # fast path, cached
        httpx.get(f"{base}/fhir/r4/Patient", params={"name": "sandboxtest"}, headers=bearer),
        httpx.get(f"{base}/fhir/r4/Patient"),  # 401
        httpx.get(f"{base}/fhir/r4/Patient/not-an-id", headers=bearer),  # 400
        httpx.get(f"{base}/nowhere"),  # 404 outside FHIR
        httpx.get(f"{base}/fhir/r4/metadata"),
        httpx.post(f"{base}/auth/token", data={"grant_type": "password"}),  # OAuth error
    ]


def test_each_envelope_header_once_and_vary_names_origin(facade: Facade) -> None:
    responses = _sample(facade)
    assert {r.status_code for r in responses} >= {200, 400, 401, 404}
    for response in responses:
        for name in ("x-request-id", "server-timing", "x-content-type-options", "vary"):
            assert len(response.headers.get_list(name)) == 1, (response.url, name)
        assert "Origin" in [v.strip() for v in response.headers["vary"].split(",")]
    fast = responses[1]
    assert fast.headers["vary"] == "Authorization, Accept, Origin"
    assert 'cache;desc="hit"' in fast.headers["server-timing"]


def test_a_caller_request_id_is_kept_and_a_hostile_one_replaced(facade: Facade) -> None:
    url = f"{facade.base}/fhir/r4/Patient/{PATIENT}"
    kept = httpx.get(url, headers={**facade.bearer, "X-Request-Id": "caller-42"})
    assert kept.headers["x-request-id"] == "caller-42"
    hostile = httpx.get(url, headers={**facade.bearer, "X-Request-Id": "not sane/" + "x" * 80})
    assert hostile.headers["x-request-id"] not in ("", "not sane/" + "x" * 80)
    found = facade.recorded("caller-42", hostile.headers["x-request-id"])
    assert sorted(r["kind"] for r in found) == ["read", "read"]  # the audit trail's ids too


def test_cors_answers_requests_with_origin(facade: Facade) -> None:
    origin = {"Origin": "https://app.example"}
    read = httpx.get(
        f"{facade.base}/fhir/r4/Patient/{PATIENT}", headers={**facade.bearer, **origin}
    )
    assert read.status_code == 200 and read.headers["access-control-allow-origin"] == "*"
    assert "ETag" in read.headers["access-control-expose-headers"]
    preflight = httpx.options(
        f"{facade.base}/fhir/r4/Patient",
        headers={**origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["x-content-type-options"] == "nosniff"


def test_without_cors_vary_does_not_name_origin(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    plain = _start(emulator_url, tmp_path_factory.mktemp("no-cors"), cors_origins=[])
    try:
        read = httpx.get(f"{plain.base}/fhir/r4/Patient/{PATIENT}", headers=plain.bearer)
        assert read.headers.get_list("vary") == ["Authorization, Accept"]
        missing = httpx.get(f"{plain.base}/nowhere")
        assert "vary" not in missing.headers
        with_origin = httpx.get(
            f"{plain.base}/fhir/r4/Patient/{PATIENT}",
            headers={**plain.bearer, "Origin": "https://app.example"},
        )
        assert "access-control-allow-origin" not in with_origin.headers
    finally:
        plain.server.stop()


def test_a_request_that_failed_unexpectedly_is_audited_with_its_500(
    facade: Facade, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("unexpected")

    monkeypatch.setattr(PlainFastPath, "_answer", boom)
    response = httpx.get(f"{facade.base}/fhir/r4/Patient/{PATIENT}", headers=facade.bearer)
    assert response.status_code == 500
    (record,) = facade.recorded(response.headers["x-request-id"])
    assert record["kind"] == "read" and record["status"] == 500 and record["id"] == PATIENT
