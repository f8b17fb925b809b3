"""What bulk exports need from AthenaClient: a lane on its own budget, extra headers, raw
bodies, a 5xx as an answer, and only athena's own URLs followed."""

from __future__ import annotations

import httpx
import pytest

from facade.errors import Throttled, UpstreamError
from facade.upstream.breaker import BreakerConfig, Breakers
from facade.upstream.budget import BudgetConfig, RateBudget
from facade.upstream.client import AthenaClient, RetryPolicy
from facade.upstream.token import TokenProvider
from facade.upstream.transport import make_http_client

KEY = ("195900", "fhir")
seen: list[httpx.Request] = []


def _handler(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/token"):
        return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
    seen.append(request)
    if request.url.path.endswith("/status"):
        body = {"resourceType": "OperationOutcome", "issue": [{"code": "exception"}]}
        return httpx.Response(500, json=body)
    if request.url.path.endswith(".ndjson"):
        return httpx.Response(200, content=b'{"id":"1"}\n{"id":"2"}\n')
    return httpx.Response(202, headers={"Content-Location": "http://athena/fhir/r4/s/1"})


def _client(**kwargs: object) -> AthenaClient:
    http = make_http_client(
        max_connections=4,
        connect_timeout=1,
        read_timeout=1,
        transport=httpx.MockTransport(_handler),
    )
    tokens = TokenProvider(http, "http://athena/oauth2/v1/token", "id", "secret", "scope")
    return AthenaClient(http, "http://athena", tokens, **kwargs)  # type: ignore[arg-type]


async def test_headers_raw_bodies_and_answered_5xx() -> None:
    breakers = Breakers(BreakerConfig(threshold=1, open_seconds=60))
    athena = _client(breakers=breakers, retry=RetryPolicy(attempts=3, base=0, cap=0))
    seen.clear()
    kicked = await athena.request(
        "GET", "/fhir/r4/Group/x/$export", "/Group/{id}/$export", KEY,
        headers={"Prefer": "respond-async"},
    )  # fmt: skip
    assert kicked.status == 202 and kicked.body is None
    assert seen[-1].headers["prefer"] == "respond-async"
    assert seen[-1].headers["authorization"] == "Bearer t"  # never replaced by a caller
    raw = await athena.request("GET", "/fhir/r4/f/1.ndjson", "/f", KEY, raw=True)
    assert raw.body == b'{"id":"1"}\n{"id":"2"}\n'
    calls = len(seen)
    failed = await athena.request("GET", "/fhir/r4/status", "/status", KEY, answer_5xx=True)
    assert failed.status == 500 and failed.body["resourceType"] == "OperationOutcome"
    assert len(seen) == calls + 1  # not retried
    assert breakers.get(KEY).state == "closed"  # and not counted as athena failing
    with pytest.raises(UpstreamError):  # without the flag, a 5xx is athena failing
        await athena.request("GET", "/fhir/r4/status", "/status", KEY)
    assert len(seen) == calls + 4


async def test_only_urls_on_athenas_host_are_followed() -> None:
    athena = _client()
    assert athena.path_of("http://athena/fhir/r4/bulk/status/1") == "/fhir/r4/bulk/status/1"
    for url in ("http://elsewhere/fhir/r4/x", "http://athena.evil/fhir", "https://athena/x"):
        with pytest.raises(UpstreamError):
            athena.path_of(url)


async def test_a_lane_has_its_own_budget_and_shares_the_breakers() -> None:
    empty = RateBudget(BudgetConfig(rate=0.001, burst=1, max_wait=0, max_waiters=0))
    athena = _client(budget=empty)
    bulk = athena.lane(RateBudget(BudgetConfig(rate=1000, burst=100, max_wait=1, max_waiters=10)))
    assert bulk.breakers is athena.breakers and bulk.tokens is athena.tokens
    await athena.request("GET", "/fhir/r4/x", "/x", KEY)  # the one interactive token
    for _ in range(5):  # the lane is not starved by, and does not take, interactive tokens
        await bulk.request("GET", "/fhir/r4/x", "/x", KEY)
    with pytest.raises(Throttled):
        await athena.request("GET", "/fhir/r4/x", "/x", KEY)
