"""The HTTP transport to athena, chosen by measurement (DESIGN.md "Upstream").

On a 2-core machine with a 50 ms upstream and 256 concurrent clients, httpx's
default transport served 33-93 req/s with timeouts while httpx over aiohttp
(httpx-aiohttp) served 776-861 req/s. We keep the httpx API for the few calls that
want it (tokens) and use the aiohttp-backed transport; the pool size comes from
configuration.

The calls the engine makes (every read and search: :meth:`UpstreamHttpClient.send_direct`)
go to aiohttp itself, without httpx's request and response objects around it: sequential
Patient reads from the emulator measured 285 µs of client CPU per call through httpx over
aiohttp and 160 µs through aiohttp alone (``python -m bench.upstream_client``, one run on
a busy 2-core machine; an earlier one gave 254-262 against 136-141): about a fifth of an
uncached read's CPU (bench P2: 0.65 ms). Failures are raised as the
httpx exceptions the client already handles (httpx-aiohttp's own mapping), so the
retry, breaker and error behaviour is the same for both paths; an injected httpx
transport (tests) or ``FACADE_UPSTREAM_TRANSPORT=httpx`` takes the httpx path.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions
from yarl import URL

MAX_URL_LENGTH = 65_536  # httpx's own limit, kept for both paths (a 400, never sent)


@dataclass(frozen=True, slots=True)
class Sent:
    """athena's answer to one call, read to the end: status, body, headers (lower-case names)."""

    status_code: int
    content: bytes
    headers: dict[str, str]


class _Direct:
    """One aiohttp session (connection pool) for the engine's calls, opened on first use
    (a session belongs to the running event loop)."""

    def __init__(self, max_connections: int, timeout: httpx.Timeout) -> None:
        self._limit = max_connections
        self._timeout = _client_timeout(timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, limit_per_host=0),
                cookie_jar=aiohttp.DummyCookieJar(),  # athena sets no cookies the facade keeps
                timeout=self._timeout,
            )
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        form: dict[str, str] | None,
        limits: httpx.Timeout | None,
    ) -> Sent:
        timeout = self._timeout if limits is None else _client_timeout(limits)
        with map_aiohttp_exceptions():
            async with self._open().request(
                method,
                URL(url, encoded=True),  # the client built and encoded it
                headers=headers,
                data=form,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                content = await response.read()
                return Sent(
                    response.status,
                    content,
                    {name.lower(): value for name, value in response.headers.items()},
                )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _client_timeout(timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(sock_connect=timeout.connect, sock_read=timeout.read)


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class UpstreamHttpClient(httpx.AsyncClient):
    """httpx without a cookie jar: athena's API sets no cookies the facade may keep,
    and parsing them per response measured ~7% of an uncached read (bench P2 profile).
    """

    _jar = _NoCookies()
    _direct: _Direct | None = None  # the engine's calls straight to aiohttp (see the module)

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
    ) -> Sent:
        """One request, read to the end; ``limits``: its timeouts (default: the client's).

        The facade builds complete URLs and needs none of the client's per-request
        work (base-URL merging, cookies, auth flows, redirects, event hooks), which
        measured about a quarter of an uncached read's CPU.
        """
        if len(url) > MAX_URL_LENGTH:
            raise httpx.InvalidURL("URL too long")
        if self._direct is not None:
            return await self._direct.send(method, url, headers, form, limits)
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
        return Sent(response.status_code, response.content, dict(response.headers))

    async def aclose(self) -> None:
        await super().aclose()
        if self._direct is not None:
            await self._direct.aclose()


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
    client = UpstreamHttpClient(
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
    if transport is None and kind == "aiohttp":
        client._direct = _Direct(max_connections, timeout)
    return client
