"""TokenProvider: one token request under concurrency; 429 and failures typed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from facade.errors import Throttled, UpstreamError, UpstreamUnavailable
from facade.upstream.token import TokenProvider


def _provider(handler: httpx.MockTransport) -> tuple[TokenProvider, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=handler)
    return TokenProvider(http, "http://athena/oauth2/v1/token", "id", "secret", "scope"), http


async def test_concurrent_callers_share_one_token_request() -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        assert request.headers["authorization"].startswith("Basic ")
        assert b"grant_type=client_credentials" in request.content
        await asyncio.sleep(0.05)
        return httpx.Response(200, json={"access_token": f"t{calls}", "expires_in": 3600})

    provider, http = _provider(httpx.MockTransport(handler))
    async with http:
        tokens = await asyncio.gather(*(provider.get() for _ in range(50)))
        assert set(tokens) == {"t1"} and calls == 1
        # a 401 on the current token drops it; the next caller refreshes exactly once
        provider.invalidate("t1")
        again = await asyncio.gather(*(provider.get() for _ in range(20)))
        assert set(again) == {"t2"} and calls == 2
        # invalidating a stale token does not throw away the fresh one
        provider.invalidate("t1")
        assert await provider.get() == "t2" and calls == 2


async def test_token_limit_becomes_throttled_with_retry_after() -> None:
    provider, http = _provider(
        httpx.MockTransport(lambda r: httpx.Response(429, headers={"Retry-After": "17"}))
    )
    async with http:
        with pytest.raises(Throttled) as err:
            await provider.get()
    assert err.value.retry_after == 17


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401, json={"error": "invalid_client"}), UpstreamError),
        (httpx.Response(200, content=b"not json"), UpstreamError),
        (httpx.Response(200, json={"token_type": "Bearer"}), UpstreamError),
    ],
)
async def test_bad_token_answers_are_upstream_errors(
    response: httpx.Response, error: type[Exception]
) -> None:
    provider, http = _provider(httpx.MockTransport(lambda r: response))
    async with http:
        with pytest.raises(error):
            await provider.get()


async def test_unreachable_token_endpoint() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    provider, http = _provider(httpx.MockTransport(refuse))
    async with http:
        with pytest.raises(UpstreamUnavailable):
            await provider.get()
