"""Security headers on every response: nosniff everywhere, HSTS only behind https."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import dev_token, facade_settings, start_facade


def _sample(base: str, token: str) -> list[httpx.Response]:
    """FHIR (fast path, router, errors), metadata, auth pages and errors, ops, limits, CORS."""
    bearer = {"Authorization": f"Bearer {token}"}
    return [
        httpx.get(f"{base}/fhir/r4/metadata"),
        httpx.get(f"{base}/fhir/r4/Patient/a-195900.E-60178", headers=bearer),  # fast path
        httpx.get(f"{base}/fhir/r4/Patient", params={"name": "sandbox"}, headers=bearer),
        httpx.get(f"{base}/fhir/r4/Patient"),  # 401
        httpx.get(f"{base}/fhir/r4/Patient/not-an-id", headers=bearer),  # 400
        httpx.get(f"{base}/nowhere"),  # 404
        httpx.post(f"{base}/fhir/r4/Patient/_search", content=b"x" * 2_000_000),  # 413
        httpx.get(f"{base}/auth/launch"),  # HTML page
        httpx.post(f"{base}/auth/token", data={"grant_type": "password"}),  # OAuth error
        httpx.get(f"{base}/.well-known/openid-configuration"),
        httpx.get(f"{base}/metrics"),
        httpx.options(
            f"{base}/fhir/r4/Patient",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        ),
    ]


def test_every_response_says_nosniff_and_no_hsts_over_http(facade_url: str) -> None:
    responses = _sample(facade_url, dev_token(facade_url))
    assert len({r.status_code for r in responses}) >= 5  # successes and several kinds of error
    for response in responses:
        assert response.headers.get("x-content-type-options") == "nosniff", response.url
        assert "strict-transport-security" not in response.headers, response.url


@pytest.fixture(scope="module")
def https_facade(emulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Served on loopback, reached by clients at an https URL (behind a TLS proxy)."""
    settings = facade_settings(
        emulator_url, tmp_path_factory.mktemp("https"), public_base_url="https://fhir.example.org"
    )
    server = start_facade(settings)
    yield f"http://127.0.0.1:{settings.port}"
    server.stop()


def test_behind_https_every_response_carries_hsts(https_facade: str) -> None:
    for response in _sample(https_facade, dev_token(https_facade)):
        assert response.headers["strict-transport-security"] == "max-age=31536000", response.url
        assert response.headers["x-content-type-options"] == "nosniff"
