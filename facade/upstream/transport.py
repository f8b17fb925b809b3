"""The HTTP transport to athena, chosen by measurement (DESIGN.md "Upstream").

On a 2-core machine with a 50 ms upstream and 256 concurrent clients, httpx's
default transport served 33-93 req/s with timeouts while httpx over aiohttp
(httpx-aiohttp) served 776-861 req/s. We keep the httpx API for the few calls that
want it (tokens) and use the aiohttp-backed transport; the pool size comes from
configuration.

The calls the engine makes (every read and search: :meth:`UpstreamHttpClient.send_direct`)
skip httpx's request and response objects. By default (``kind="h1"``) they go through
the lean HTTP/1.1 client of :mod:`facade.upstream.h1`; ``FACADE_UPSTREAM_TRANSPORT=aiohttp``
sends them on an aiohttp session instead. Client CPU per Patient read from the emulator
(``python -m bench.upstream_client``, one run, 2-core machine):

======================  ==============  ================
client                  one at a time   16 at once
======================  ==============  ================
lean h1                 75 µs           48 µs
aiohttp directly        155 µs          99 µs
httpx over aiohttp      288 µs          203 µs
======================  ==============  ================

In bench P2 (uncached reads, 256 connections, two uvicorn workers, alternating runs) the
lean client took the facade's CPU per read from 0.45 to 0.31 ms and throughput from
0.64x to 0.76x of athena direct. Failures are raised as the httpx exceptions the upstream
client already handles (the lean client's own, httpx-aiohttp's mapping for aiohttp), so
the retry, breaker and error behaviour is the same on every path; an injected httpx
transport (tests) or ``FACADE_UPSTREAM_TRANSPORT=httpx`` takes the httpx path.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions
from yarl import URL

from facade.upstream.h1 import H1Pool

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


class _Lean:
    """The engine's calls through :class:`facade.upstream.h1.H1Pool` (``kind="h1"``)."""

    def __init__(self, max_connections: int, timeout: httpx.Timeout) -> None:
        self._pool = H1Pool(max_connections)
        self._connect = timeout.connect or 5.0
        self._read = timeout.read or 10.0

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        form: dict[str, str] | None,
        limits: httpx.Timeout | None,
    ) -> Sent:
        connect, read = (
            (self._connect, self._read)
            if limits is None
            else (limits.connect or self._connect, limits.read or self._read)
        )
        status, content, answer_headers = await self._pool.send(
            method, url, headers, form, connect, read
        )
        return Sent(status, content, answer_headers)

    async def aclose(self) -> None:
        await self._pool.aclose()


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
    _direct: _Direct | _Lean | None = (
        None  # the engine's calls straight to aiohttp (see the module)
    )

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
    kind: str = "h1",
) -> UpstreamHttpClient:
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    client = UpstreamHttpClient(
        transport=transport
        or (
            AiohttpTransport(limits=limits)
            if kind in ("aiohttp", "h1")
            else httpx.AsyncHTTPTransport(limits=limits)
        ),
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
    )
    if transport is None and kind == "aiohttp":
        client._direct = _Direct(max_connections, timeout)
    elif transport is None and kind == "h1":
        client._direct = _Lean(max_connections, timeout)
    return client
