"""The HTTP transport under httpx, chosen by measurement (DESIGN.md "Upstream").

On a 2-core machine with a 50 ms upstream and 256 concurrent clients, httpx's
default transport served 33-93 req/s with timeouts while httpx over aiohttp
(httpx-aiohttp) served 776-861 req/s. We keep the httpx API and use the
aiohttp-backed transport; the pool size comes from configuration.
"""

from __future__ import annotations

import httpx
from httpx_aiohttp import AiohttpTransport


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class UpstreamHttpClient(httpx.AsyncClient):
    """httpx without a cookie jar: athena's API sets no cookies the facade may keep,
    and parsing them per response measured ~7% of an uncached read (bench P2 profile).
    """

    _jar = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._jar

    @cookies.setter
    def cookies(self, value: object) -> None:
        return None

    async def send_direct(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        form: dict[str, str] | None,
        limits: httpx.Timeout | None,
    ) -> httpx.Response:
        """One request straight to the transport, read to the end; ``limits``: its timeouts.

        The facade builds complete URLs and needs none of the client's per-request
        work (base-URL merging, cookies, auth flows, redirects, event hooks), which
        measured about a quarter of an uncached read's CPU; types stay httpx's.
        """
        request = httpx.Request(
            method,
            url,
            headers=headers,
            data=form,
            extensions={"timeout": (limits or self.timeout).as_dict()},
        )
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response


def make_http_client(
    *,
    max_connections: int,
    connect_timeout: float,
    read_timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    kind: str = "aiohttp",
) -> UpstreamHttpClient:
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    return UpstreamHttpClient(
        transport=transport
        or (
            AiohttpTransport(limits=limits)
            if kind == "aiohttp"
            else httpx.AsyncHTTPTransport(limits=limits)
        ),
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
    )
