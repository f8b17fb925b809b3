"""athena failures reach clients as typed OperationOutcomes, never as empty Bundles or 500s.

The facade runs as a real server; athena is replaced by an httpx.MockTransport
so each failure mode is exact. (Fault injection in the emulator itself comes
with the resilience work.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import dev_token, facade_settings, start_facade

Handler = Callable[[httpx.Request], httpx.Response]


class Athena:
    """A scripted athena: a token endpoint plus one behaviour for every API call."""

    def __init__(self) -> None:
        self.behaviour: Handler = lambda r: httpx.Response(200, json={})
        self.api_calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/v1/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        self.api_calls += 1
        return self.behaviour(request)


@pytest.fixture
def athena() -> Athena:
    return Athena()


@pytest.fixture
def client(athena: Athena, tmp_path: Path) -> Iterator[httpx.Client]:
    """A fresh facade per test (budget, breaker and caches start clean); fast retries."""
    settings = facade_settings(
        "http://athena.invalid",
        tmp_path,
        upstream_retry_attempts=2,
        upstream_retry_base_seconds=0.01,
        breaker_failure_threshold=100,
    )
    server = start_facade(settings, transport=httpx.MockTransport(athena))
    token = dev_token(settings.base_url)
    with httpx.Client(
        base_url=f"{settings.base_url}/fhir/r4", headers={"Authorization": f"Bearer {token}"}
    ) as c:
        yield c
    server.stop()


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    ("behaviour", "status", "code"),
    [
        (lambda r: httpx.Response(429, headers={"Retry-After": "9"}), 429, "throttled"),
        (lambda r: httpx.Response(500, text="boom"), 502, "transient"),
        (lambda r: httpx.Response(503), 502, "transient"),
        (lambda r: httpx.Response(200, content=b"{not json"), 502, "transient"),
        (lambda r: httpx.Response(200, json=["not", "a", "bundle"]), 502, "transient"),
        (_timeout, 504, "timeout"),
        (_refused, 503, "transient"),
    ],
)
@pytest.mark.parametrize(
    "path", ["Patient/a-195900.E-60178", "Patient?name=sandbox", "Patient?birthdate=1970-01-01"]
)
def test_upstream_failure_is_reported(
    client: httpx.Client, athena: Athena, behaviour: Handler, status: int, code: str, path: str
) -> None:
    athena.behaviour = behaviour
    response = client.get(path)
    assert response.status_code == status
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code
    if status == 429:
        assert response.headers["retry-after"] == "9"


def test_athena_400_is_a_client_error_with_athenas_reason(
    client: httpx.Client, athena: Athena
) -> None:
    athena.behaviour = lambda r: httpx.Response(
        400,
        json={"error": "The data provided is invalid.", "detailedmessage": "Expecting format date"},
    )
    response = client.get("Patient?birthdate=1970-01-01")
    assert response.status_code == 400
    assert "Expecting format date" in response.json()["issue"][0]["diagnostics"]


def test_practice_outside_the_deployment_never_reaches_athena(
    client: httpx.Client, athena: Athena
) -> None:
    before = athena.api_calls
    assert client.get("Patient/a-4242.E-1").status_code == 404
    assert (
        client.get("Patient?ah-practice=Organization/a-1.Practice-4242&name=x").status_code == 403
    )
    assert athena.api_calls == before
