"""A half-open breaker's probe that ends without a verdict on athena lets the next call probe."""

from __future__ import annotations

import httpx
import pytest

from facade.errors import InvalidRequest, UpstreamError
from facade.upstream.breaker import BreakerConfig, Breakers
from facade.upstream.client import AthenaClient
from facade.upstream.token import TokenProvider
from facade.upstream.transport import make_http_client


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _athena(status: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(status, json={"patients": []})

    return httpx.MockTransport(handler)


async def _half_open_client(status: int) -> tuple[AthenaClient, Clock]:
    http = make_http_client(
        max_connections=4, connect_timeout=1, read_timeout=1, transport=_athena(status)
    )
    tokens = TokenProvider(http, "http://athena/oauth2/v1/token", "id", "secret", "scope")
    clock = Clock()
    breakers = Breakers(BreakerConfig(threshold=1, open_seconds=10), clock=clock)
    breakers.get(("195900", "rest")).failure()  # open
    clock.now = 11.0  # half-open: the next call is the probe
    return AthenaClient(http, "http://athena", tokens, breakers=breakers), clock


@pytest.mark.parametrize(
    ("status", "params", "error"),
    [
        (403, None, UpstreamError),  # athena refused the facade: says nothing of its health
        (200, [("name", "\u4e2d" * 8000)], InvalidRequest),  # too long to send at all
    ],
)
async def test_a_probe_without_a_verdict_releases_the_probe(
    status: int, params: list[tuple[str, str]] | None, error: type[Exception]
) -> None:
    athena, _ = await _half_open_client(status)
    with pytest.raises(error):
        await athena.rest("GET", "195900", "/patients", params=params)
    assert not athena.breakers.get(("195900", "rest")).probing
    with pytest.raises(error):  # the next call is a probe again, not "athena is failing"
        await athena.rest("GET", "195900", "/patients", params=params)
