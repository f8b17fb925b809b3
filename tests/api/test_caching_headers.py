"""ETag / If-None-Match, Cache-Control that keeps PHI out of shared caches, Server-Timing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

READ = "Patient/a-195900.E-60182"


def test_second_read_is_served_from_the_cache(fhir: httpx.Client, emulator_world: Any) -> None:
    fhir.get(READ)
    emulator_world.reset_call_counts()
    again = fhir.get(READ)
    assert again.status_code == 200
    assert 'cache;desc="hit"' in again.headers["server-timing"]
    assert emulator_world.calls("GET", "/fhir/r4/Patient/{id}") == 0


def test_etag_and_conditional_read(fhir: httpx.Client) -> None:
    first = fhir.get(READ)
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    assert first.headers["cache-control"] == "private, no-cache"
    assert "Authorization" in first.headers["vary"]
    not_modified = fhir.get(READ, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert fhir.get(READ, headers={"If-None-Match": etag.removeprefix("W/")}).status_code == 304
    assert fhir.get(READ, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    pretty = fhir.get(READ, params={"_pretty": "true"})
    assert pretty.json() == first.json()


def test_searches_are_never_stored(fhir: httpx.Client) -> None:
    response = fhir.get("Patient", params={"name": "sandbox"})
    assert response.headers["cache-control"] == "private, no-store"


def test_server_timing_and_request_id_on_every_response(
    fhir: httpx.Client, facade_url: str
) -> None:
    for response in [
        fhir.get(READ),
        fhir.get("Patient/a-195900.E-99999999"),
        httpx.get(f"{facade_url}/fhir/r4/metadata"),
        httpx.get(f"{facade_url}/nowhere"),
    ]:
        timing = response.headers["server-timing"]
        assert "upstream;dur=" in timing and "facade;dur=" in timing and "total;dur=" in timing
        assert response.headers["x-request-id"]
    echoed = fhir.get(READ, headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    hostile = fhir.get(READ, headers={"X-Request-Id": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500


def test_fast_path_answers_exactly_like_the_router(fhir: httpx.Client) -> None:
    fhir.get(READ)  # warm the cache
    fast = fhir.get(READ)  # plain cached read: answered before the router
    routed = fhir.get(READ, params={"_format": "json"})  # a query string: through the router
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content
    for header in (
        "etag",
        "cache-control",
        "vary",
        "content-type",
        "server-timing",
        "x-request-id",
    ):
        assert header in fast.headers and header in routed.headers
    assert fast.headers["etag"] == routed.headers["etag"]
    assert fast.headers["content-type"] == routed.headers["content-type"]


def test_fast_path_never_bypasses_checks(fhir: httpx.Client, facade_url: str) -> None:
    fhir.get(READ)  # cached now
    bare = httpx.get(f"{facade_url}/fhir/r4/{READ}")
    assert bare.status_code == 401
    forged = httpx.get(f"{facade_url}/fhir/r4/{READ}", headers={"Authorization": "Bearer x.y.z"})
    assert forged.status_code == 401
    xml = fhir.get(READ, headers={"Accept": "application/fhir+xml"})
    assert xml.status_code == 406
    from tests.conftest import dev_token

    other = dev_token(facade_url, scope="system/Observation.rs")
    denied = httpx.get(f"{facade_url}/fhir/r4/{READ}", headers={"Authorization": f"Bearer {other}"})
    assert denied.status_code == 403


def test_logs_carry_no_ids_or_names(fhir: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.INFO):
        fhir.get("Patient/a-195900.E-60183", params={"_format": "json"})
        fhir.get("Patient", params={"name": "Sandbox-Test", "birthdate": "ge1900"})
        fhir.get("Patient/a-195900.E-99999999")
    access = [r for r in caplog.records if r.name == "facade.access"]
    assert len(access) >= 3  # something was logged: the access lines (facade/api/accesslog.py)
    text = caplog.text + " ".join(str(getattr(r, "fields", "")) for r in caplog.records)
    for secret in ("60183", "99999999", "Sandbox", "1900"):
        assert secret not in text, secret
