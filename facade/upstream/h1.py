"""A lean HTTP/1.1 client for the engine's calls to athena: keep-alive connections,
llhttp parsing (httptools), nothing else.

Why: in bench P2 (uncached Patient reads) a read costs the facade about 0.43 ms of CPU,
and a profile put ~30 % of it in aiohttp's client, most of which is machinery the
facade does not use for these calls (tracing hooks, cookie and redirect handling,
stream readers, per-request timer objects, header multidicts). This client does what a
call to athena needs and no more:

- one pool of connections per origin (scheme, host, port), last-used first, at most
  ``limit`` open connections in all (callers wait for one);
- requests written in one ``transport.write``; responses parsed by llhttp in
  ``data_received`` (Content-Length, chunked, or until close), 1xx answers skipped,
  gzip/deflate bodies decoded (we ask for them, as aiohttp did);
- a connection is reused only after a complete response that allows keep-alive, and
  dropped after ``keepalive`` seconds idle or when the server closes it;
- timeouts: ``connect`` to get a connection (a free one of the pool, or a new one: TCP +
  TLS), ``read`` as the longest silence while waiting for the answer (aiohttp's
  ``sock_read``, httpx's ``read``);
- failures are raised as the httpx exceptions the upstream client already handles:
  :class:`httpx.ConnectTimeout` / :class:`httpx.ConnectError` (nothing was sent),
  :class:`httpx.ReadTimeout`, :class:`httpx.RemoteProtocolError` (the server closed
  the connection or broke the protocol), :class:`httpx.ReadError` (the socket failed).
  A cancelled call closes its connection (its state is unknown).

It never retries by itself: whether a call may be repeated is the upstream client's
decision (writes go through the idempotency ledger).
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from typing import Any, cast
from urllib.parse import urlencode

import httptools
import httpx

USER_AGENT = "athena-fhir-facade"


class _Answer:
    """One response as it arrives."""

    __slots__ = ("body", "headers", "keep_alive", "status", "until_close")

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.keep_alive = False
        self.until_close = False


class _Connection(asyncio.Protocol):
    """One kept-alive connection; at most one request on it at a time."""

    def __init__(self, origin: _Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: _Answer | None = None
        self.waiter: asyncio.Future[_Answer] | None = None
        self.timer: asyncio.TimerHandle | None = None  # the read timeout of the call in flight
        self.closed = False
        self.idle_since = 0.0  # loop time it was put back in the pool
        self.heard = 0.0  # loop time of the last bytes received

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        self.heard = self.origin.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("athena answered with a protocol upgrade"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"athena's answer is not valid HTTP: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer, waiter = self.answer, self.waiter
        if waiter is None or waiter.done():
            return
        if answer is not None and answer.until_close and exc is None:
            self._complete(answer)  # a body delimited by the end of the connection
            return
        if exc is None:
            self._fail(httpx.RemoteProtocolError("athena closed the connection"))
        else:
            self._fail(httpx.ReadError(f"the connection to athena failed: {exc}"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        waiter = self.waiter
        self.answer = _Answer()  # a fresh one even for a stray answer: nothing joins the last
        if waiter is None or waiter.done():  # a second answer to one request: unusable
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.answer is not None
        self.answer.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        answer = self.answer
        assert answer is not None
        answer.status = self.parser.get_status_code()
        headers = answer.headers
        answer.until_close = (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
            and answer.status >= 200
            and answer.status not in (204, 304)
        )

    def on_body(self, body: bytes) -> None:
        assert self.answer is not None
        self.answer.body.append(body)

    def on_message_complete(self) -> None:
        answer = self.answer
        assert answer is not None
        if 100 <= answer.status < 200:  # an interim answer (100 Continue): the real one follows
            self.answer = None
            return
        answer.keep_alive = self.parser.should_keep_alive() and not answer.until_close
        self._complete(answer)

    # the request side
    def _complete(self, answer: _Answer) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, error: Exception) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def exchange(self, request: bytes, read_timeout: float) -> _Answer:
        loop = self.origin.loop
        assert self.transport is not None
        waiter: asyncio.Future[_Answer] = loop.create_future()
        self.waiter = waiter
        self.answer = None
        self.heard = loop.time()
        self.timer = loop.call_at(self.heard + read_timeout, self._silent, waiter, read_timeout)
        try:
            self.transport.write(request)
            return await waiter
        finally:
            self.timer.cancel()
            self.waiter = None
            if not waiter.done() or waiter.cancelled():  # cancelled: its state is unknown
                self.close()

    def _silent(self, waiter: asyncio.Future[_Answer], read_timeout: float) -> None:
        if waiter is not self.waiter or waiter.done():  # that call is over
            return
        quiet_until = self.heard + read_timeout
        loop = self.origin.loop
        if loop.time() < quiet_until:  # bytes arrived since: wait out the new silence
            self.timer = loop.call_at(quiet_until, self._silent, waiter, read_timeout)
            return
        self._fail(httpx.ReadTimeout(f"athena sent nothing for {read_timeout:g} s"))


class _Origin:
    """Where requests go (scheme, host, port) and its idle connections."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, scheme: str, host: str, port: int, tls: Any
    ) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.tls = tls
        default = 443 if scheme == "https" else 80
        named = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
        self.host_header = named if port == default else f"{named}:{port}"
        self.idle: deque[_Connection] = deque()


class H1Pool:
    """The engine's connection pool to athena (see the module)."""

    def __init__(
        self, limit: int, *, keepalive: float = 15.0, tls: ssl.SSLContext | None = None
    ) -> None:
        """``limit``: open connections in all; ``keepalive``: seconds a connection may
        sit idle and still be used; ``tls``: the context for https (default: the
        system's trusted certificates, host names checked)."""
        self._limit = limit
        self._keepalive = keepalive
        self._slots: asyncio.Semaphore | None = None
        self._origins: dict[str, _Origin] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tls = tls
        self._closed = False

    def _origin(self, url: str) -> tuple[_Origin, str]:
        """The origin of an absolute URL and its request target (path and query)."""
        scheme_end = url.find("://")
        path_start = url.find("/", scheme_end + 3) if scheme_end > 0 else -1
        if path_start < 0:
            path_start = len(url)
        key = url[:path_start]
        target = url[path_start:] or "/"
        origin = self._origins.get(key)
        if origin is None:
            origin = self._new_origin(key)
        return origin, target

    def _new_origin(self, key: str) -> _Origin:
        scheme, _, authority = key.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https") or not authority or "@" in authority:
            raise httpx.UnsupportedProtocol(f"cannot call {key!r}: http(s)://host[:port] only")
        host, port_text = authority, ""
        if authority.startswith("["):  # an IPv6 literal
            end = authority.find("]")
            host, port_text = authority[1:end], authority[end + 2 :]
        elif ":" in authority:
            host, _, port_text = authority.rpartition(":")
        try:
            port = int(port_text) if port_text else (443 if scheme == "https" else 80)
        except ValueError:
            raise httpx.InvalidURL(f"bad port in {key!r}") from None
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        origin = _Origin(self._running_loop(), scheme, host, port, tls)
        self._origins[key] = origin
        return origin

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a pool belongs to one event loop (tests run several)
            self._loop = loop
            self._origins.clear()
            self._slots = asyncio.Semaphore(self._limit)
        return loop

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        form: dict[str, str] | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request, read to the end: (status, body, headers with lower-case names)."""
        self._running_loop()
        origin, target = self._origin(url)
        request = _request(method, target, origin.host_header, headers, form)
        slots = self._slots
        assert slots is not None
        if slots.locked():  # every connection busy: wait for one, as long as for a connect
            try:
                async with asyncio.timeout(connect_timeout):
                    await slots.acquire()
            except TimeoutError:
                raise httpx.ConnectTimeout(
                    f"no free connection to athena within {connect_timeout:g} s"
                ) from None
        else:
            await slots.acquire()
        try:
            connection = self._idle(origin) or await self._connect(origin, connect_timeout)
            answer = await connection.exchange(request, read_timeout)
            if answer.keep_alive and not connection.closed and not self._closed:
                connection.idle_since = origin.loop.time()
                origin.idle.append(connection)
            else:
                connection.close()
        finally:
            slots.release()
        return answer.status, _decoded(answer), answer.headers

    def _idle(self, origin: _Origin) -> _Connection | None:
        idle = origin.idle
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if connection.closed or connection.transport is None:
                continue
            if connection.transport.is_closing():
                connection.close()
                continue
            if origin.loop.time() - connection.idle_since > self._keepalive:
                connection.close()
                for stale in idle:  # older still
                    stale.close()
                idle.clear()
                return None
            return connection
        return None

    async def _connect(self, origin: _Origin, connect_timeout: float) -> _Connection:
        loop = origin.loop
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(origin),
                    origin.host,
                    origin.port,
                    ssl=origin.tls,
                    server_hostname=origin.host if origin.tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"no connection to athena within {connect_timeout:g} s"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to athena: {exc}") from exc
        return connection

    async def aclose(self) -> None:
        """Close the idle connections; busy ones close when their call ends."""
        self._closed = True
        for origin in self._origins.values():
            while origin.idle:
                origin.idle.pop().close()
        self._origins.clear()


def _request(
    method: str, target: str, host: str, headers: dict[str, str], form: dict[str, str] | None
) -> bytes:
    if not (target.isascii() and target.isprintable()) or " " in target:
        raise httpx.InvalidURL("the request target holds characters URLs may not")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise httpx.LocalProtocolError(f"header {name!r} is not a valid HTTP header")
        lines.append(f"{name}: {value}")
    lines.append(f"User-Agent: {USER_AGENT}")
    lines.append("Accept-Encoding: gzip, deflate")
    body = b""
    if form is not None:
        body = urlencode(form, doseq=True).encode("ascii")
        lines.append("Content-Type: application/x-www-form-urlencoded")
    if form is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1") + body


def _decoded(answer: _Answer) -> bytes:
    body = b"".join(answer.body) if len(answer.body) != 1 else answer.body[0]
    encoding = answer.headers.get("content-encoding")
    if not encoding or encoding == "identity" or not body:
        return body
    encoding = encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, wbits=16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, wbits=-zlib.MAX_WBITS)  # raw deflate
    except zlib.error as exc:
        raise httpx.RemoteProtocolError(f"athena's {encoding} body does not decode: {exc}") from exc
    raise httpx.RemoteProtocolError(f"athena answered in an encoding not asked for: {encoding}")
