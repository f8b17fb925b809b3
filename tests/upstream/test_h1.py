"""The lean HTTP/1.1 client (facade/upstream/h1.py) against real loopback servers that
answer the way HTTP allows (and the ways it does not): framing, reuse, limits, timeouts,
failures, cancellation, TLS. What the server received is asserted, not only the answer."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ssl
import threading
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facade.upstream.h1 import H1Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


class Server:
    """A loopback server running ``handler`` for each connection; it counts connections
    and keeps every request it read."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.closed_by_client = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        self.port = port
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for writer in self._writers:  # handlers still waiting on a client
            writer.transport.abort()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        await self.server.wait_closed()
        await asyncio.sleep(0.01)  # the clients see the close and release their sockets

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.most_open = max(self.most_open, self.open)
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_client += 1
        finally:
            self.open -= 1
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.closed_by_client += 1
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length) if length else b""
        self.requests.append((head, body))
        return head, body


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers, "", ""]
    return "\r\n".join(lines).encode() + body


def keep_answering(*responses: bytes, delay: float = 0.0) -> Handler:
    """Answer each request on a connection with the next response (the last repeats),
    ``delay`` seconds after reading it."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        served = 0
        while await server.read_request(reader) is not None:
            if delay:
                await asyncio.sleep(delay)
            writer.write(responses[min(served, len(responses) - 1)])
            served += 1
            await writer.drain()

    return handler


def once(response: bytes, *, then_close: bool = True) -> Handler:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        if await server.read_request(reader) is None:
            return
        writer.write(response)
        await writer.drain()
        if not then_close:
            await reader.read()  # wait for the client to go

    return handler


async def get(pool: H1Pool, url: str, *, read: float = 5.0) -> tuple[int, bytes, dict[str, str]]:
    return await pool.send("GET", url, {"Accept": "application/json"}, None, 5.0, read)


async def test_a_kept_alive_connection_carries_the_next_request() -> None:
    async with Server(keep_answering(answer(b'{"a":1}', "Content-Type: application/json"))) as s:
        pool = H1Pool(4)
        for _ in range(5):
            status, body, headers = await get(pool, s.url + "/v1/195900/patients/1?x=%20y")
            assert (status, body) == (200, b'{"a":1}')
            assert headers["content-type"] == "application/json"
        assert s.connections == 1
        head = s.requests[0][0].decode()
        assert head.startswith("GET /v1/195900/patients/1?x=%20y HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{s.port}\r\n" in head
        assert "Accept: application/json\r\n" in head
        assert "Content-Length" not in head  # a GET has no body
        await pool.aclose()


async def test_an_ipv6_literal_is_called_and_named_in_brackets() -> None:
    handler = keep_answering(answer(b"v6"))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handler(reader, writer, probe)
        writer.close()

    probe = Server(handler)
    server = await asyncio.start_server(serve, "::1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = H1Pool(2)
    try:
        assert (await get(pool, f"http://[::1]:{port}/x"))[1] == b"v6"
        assert f"Host: [::1]:{port}\r\n".encode() in probe.requests[0][0]
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()


async def test_a_chunked_body_is_joined() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n"
    )
    async with Server(keep_answering(chunked)) as s:
        pool = H1Pool(4)
        assert (await get(pool, s.url + "/"))[1] == b"Wikipedia"
        assert (await get(pool, s.url + "/"))[1] == b"Wikipedia"
        assert s.connections == 1  # chunked framing keeps the connection usable


async def test_a_body_ended_by_the_close_is_read_whole_and_the_connection_not_reused() -> None:
    async with Server(once(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")) as s:
        pool = H1Pool(4)
        assert (await get(pool, s.url + "/"))[1] == b"until the end"
        assert (await get(pool, s.url + "/"))[1] == b"until the end"
        assert s.connections == 2


async def test_connection_close_and_http_1_0_answers_are_not_reused() -> None:
    closing = answer(b"x", "Connection: close")
    old = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\ny"
    async with Server(once(closing, then_close=False)) as s:
        pool = H1Pool(4)
        await get(pool, s.url + "/")
        await get(pool, s.url + "/")
        assert s.connections == 2
    async with Server(once(old, then_close=False)) as s:
        pool = H1Pool(4)
        assert (await get(pool, s.url + "/"))[1] == b"y"
        await get(pool, s.url + "/")
        assert s.connections == 2


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),  # raw deflate, seen in the wild
    ],
)
async def test_compressed_bodies_are_decoded(
    encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    data = b'{"patients": []}' * 50
    async with Server(keep_answering(answer(encode(data), f"Content-Encoding: {encoding}"))) as s:
        pool = H1Pool(4)
        assert (await get(pool, s.url + "/"))[1] == data
        assert b"Accept-Encoding: gzip, deflate\r\n" in s.requests[0][0]


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
    ],
    ids=["bad-length", "not-http", "bad-chunk", "upgrade"],
)
async def test_a_broken_answer_is_a_protocol_error_and_the_connection_is_dropped(
    response: bytes,
) -> None:
    async with Server(keep_answering(response)) as s:
        pool = H1Pool(4)
        with pytest.raises(httpx.RemoteProtocolError):
            await get(pool, s.url + "/")
        with pytest.raises(httpx.RemoteProtocolError):
            await get(pool, s.url + "/")
        assert s.connections == 2  # never reused after a broken answer


@pytest.mark.parametrize(
    "response",
    [
        answer(b"not gzip at all", "Content-Encoding: gzip"),
        answer(b"x", "Content-Encoding: br"),  # not asked for
    ],
    ids=["bad-gzip", "unasked-encoding"],
)
async def test_a_body_that_does_not_decode_is_a_protocol_error(response: bytes) -> None:
    async with Server(keep_answering(response, answer(b"fine"))) as s:
        pool = H1Pool(4)
        with pytest.raises(httpx.RemoteProtocolError):
            await get(pool, s.url + "/")
        assert (await get(pool, s.url + "/"))[1] == b"fine"  # its framing was sound


async def test_an_interim_100_continue_is_skipped() -> None:
    response = b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"real")
    async with Server(keep_answering(response)) as s:
        pool = H1Pool(4)
        assert (await get(pool, s.url + "/"))[:2] == (200, b"real")
        assert (await get(pool, s.url + "/"))[:2] == (200, b"real")


async def test_a_second_answer_to_one_request_is_never_given_to_the_next() -> None:
    two = answer(b"first") + answer(b"stray")
    async with Server(keep_answering(two)) as s:
        pool = H1Pool(1)
        assert (await get(pool, s.url + "/"))[1] == b"first"
        assert (await get(pool, s.url + "/"))[1] == b"first"  # a fresh connection
        assert s.connections == 2


async def test_a_closed_pool_keeps_no_connection_a_call_was_using() -> None:
    async with Server(keep_answering(answer(b"ok"), delay=0.05)) as s:
        pool = H1Pool(2)
        call = asyncio.create_task(get(pool, s.url + "/"))
        await asyncio.sleep(0.01)
        await pool.aclose()
        assert (await call)[1] == b"ok"
        await asyncio.sleep(0.05)
        assert s.open == 0  # closed after its answer, not left idle


async def test_statuses_without_a_body_keep_the_connection() -> None:
    no_content = b"HTTP/1.1 204 No Content\r\n\r\n"
    async with Server(keep_answering(no_content, answer(b"next"))) as s:
        pool = H1Pool(4)
        assert (await get(pool, s.url + "/"))[:2] == (204, b"")
        assert (await get(pool, s.url + "/"))[:2] == (200, b"next")
        assert s.connections == 1


async def test_repeated_answer_headers_keep_the_last_and_names_are_lower_case() -> None:
    async with Server(keep_answering(answer(b"", "X-Thing: one", "x-thing: two"))) as s:
        headers = (await get(H1Pool(4), s.url + "/"))[2]
        assert headers["x-thing"] == "two"
        assert "X-Thing" not in headers


async def test_a_form_is_sent_urlencoded_with_its_length() -> None:
    async with Server(keep_answering(answer(b"{}"))) as s:
        pool = H1Pool(4)
        form = {"appointmentid": "12", "note": "a&b=c é"}
        await pool.send("PUT", s.url + "/v1/1/appointments/12", {}, form, 5.0, 5.0)
        head, body = s.requests[0]
        assert body == b"appointmentid=12&note=a%26b%3Dc+%C3%A9"
        assert b"Content-Type: application/x-www-form-urlencoded\r\n" in head
        assert f"Content-Length: {len(body)}\r\n".encode() in head
        await pool.send("POST", s.url + "/v1/1/x", {}, None, 5.0, 5.0)
        assert b"Content-Length: 0\r\n" in s.requests[1][0]  # a bodiless POST says so


@pytest.mark.parametrize(
    ("url", "headers", "error"),
    [
        ("/patients/1 HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET /", {}, httpx.InvalidURL),
        ("/patients/\u00e9", {}, httpx.InvalidURL),
        ("/patients/1", {"X-Note": "a\r\nX-Evil: 1"}, httpx.LocalProtocolError),
        ("/patients/1", {"X-Evil: 1\r\nX": "a"}, httpx.LocalProtocolError),
    ],
    ids=["crlf-in-target", "non-ascii-target", "crlf-in-value", "crlf-in-name"],
)
async def test_nothing_is_sent_for_a_request_that_would_smuggle_another(
    url: str, headers: dict[str, str], error: type[Exception]
) -> None:
    async with Server(keep_answering(answer(b"{}"))) as s:
        with pytest.raises(error):
            await H1Pool(4).send("GET", s.url + url, headers, None, 5.0, 5.0)
        await asyncio.sleep(0.05)
        assert s.connections == 0 and s.requests == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://user@127.0.0.1/x", "//x/y"])
async def test_only_http_and_https_origins_are_called(url: str) -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        await get(H1Pool(4), url)


async def test_a_connection_the_server_closed_while_idle_is_not_used() -> None:
    async def answer_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        await server.read_request(reader)
        writer.write(answer(b"ok"))  # says nothing of closing, then closes while idle
        await writer.drain()

    async with Server(answer_then_close) as s:
        pool = H1Pool(4)
        await get(pool, s.url + "/")
        await asyncio.sleep(0.1)  # the close reaches the client
        assert (await get(pool, s.url + "/"))[1] == b"ok"
        assert s.connections == 2


async def test_an_idle_connection_past_the_keepalive_is_replaced() -> None:
    async with Server(keep_answering(answer(b"ok"))) as s:
        pool = H1Pool(4, keepalive=0.05)
        await get(pool, s.url + "/")
        await get(pool, s.url + "/")
        assert s.connections == 1
        await asyncio.sleep(0.1)
        await get(pool, s.url + "/")
        assert s.connections == 2
        await asyncio.sleep(0.05)
        assert s.open == 1  # the stale one was closed, not left open


async def test_a_close_in_the_middle_of_the_body_is_an_error_not_a_short_answer() -> None:
    async with Server(once(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial')) as s:
        with pytest.raises(httpx.RemoteProtocolError):
            await get(H1Pool(4), s.url + "/")


async def test_a_close_before_any_answer_is_an_error() -> None:
    async def hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        await server.read_request(reader)

    async with Server(hang_up) as s:
        with pytest.raises(httpx.RemoteProtocolError):
            await get(H1Pool(4), s.url + "/")
        assert len(s.requests) == 1  # it was sent: the caller decides whether to repeat it


async def test_silence_longer_than_the_read_timeout_is_a_read_timeout() -> None:
    async def silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        await server.read_request(reader)
        await reader.read()  # never answers

    async with Server(silent) as s:
        pool = H1Pool(4)
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.ReadTimeout):
            await get(pool, s.url + "/", read=0.2)
        assert asyncio.get_running_loop().time() - started >= 0.2
        await asyncio.sleep(0.05)
        assert s.open == 0  # the timed-out connection was closed


async def test_a_slow_answer_that_never_pauses_for_the_read_timeout_completes() -> None:
    async def trickle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        await server.read_request(reader)
        response = answer(b"0123456789")
        for i in range(0, len(response), 8):
            writer.write(response[i : i + 8])
            await writer.drain()
            await asyncio.sleep(0.06)  # each pause shorter than the timeout, the sum longer

    async with Server(trickle) as s:
        assert (await get(H1Pool(4), s.url + "/", read=0.25))[1] == b"0123456789"


async def test_a_call_s_read_timeout_never_reaches_the_next_call_on_its_connection() -> None:
    async def trickle_then_slow(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        while await server.read_request(reader) is not None:
            response = answer(b"0123456789")
            if len(server.requests) == 1:  # the first: bytes keep coming, the timer moves on
                for i in range(0, len(response), 16):
                    writer.write(response[i : i + 16])
                    await writer.drain()
                    await asyncio.sleep(0.08)
            else:  # the second: silent for longer than the first call's timeout
                await asyncio.sleep(0.5)
                writer.write(response)
                await writer.drain()

    async with Server(trickle_then_slow) as s:
        pool = H1Pool(1)
        assert (await get(pool, s.url + "/", read=0.2))[1] == b"0123456789"
        assert (await get(pool, s.url + "/", read=3.0))[1] == b"0123456789"
        assert s.connections == 1


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with Server(keep_answering(answer(b""))) as s:
        url = s.url
    with pytest.raises(httpx.ConnectError):
        await get(H1Pool(4), url + "/")


async def test_a_connection_not_made_in_time_is_a_connect_timeout() -> None:
    async with Server(keep_answering(answer(b""))) as s:
        with pytest.raises(httpx.ConnectTimeout):
            await H1Pool(4).send("GET", s.url + "/", {}, None, 1e-9, 5.0)
        await asyncio.sleep(0.1)  # the server accepts the abandoned connection before closing
        assert s.requests == []


async def test_no_more_connections_than_the_limit_are_opened() -> None:
    async with Server(keep_answering(answer(b"ok"), delay=0.05)) as s:
        pool = H1Pool(2)
        results = await asyncio.gather(*(get(pool, s.url + "/") for _ in range(7)))
        assert [r[1] for r in results] == [b"ok"] * 7
        assert s.most_open == 2 and s.connections == 2
        assert len(s.requests) == 7


async def test_waiting_for_a_free_connection_is_bounded_by_the_connect_timeout() -> None:
    async with Server(keep_answering(answer(b"ok"), delay=0.5)) as s:
        pool = H1Pool(1)
        first = asyncio.create_task(get(pool, s.url + "/"))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.ConnectTimeout):
            await pool.send("GET", s.url + "/", {}, None, 0.1, 5.0)
        assert (await first)[1] == b"ok"
        assert len(s.requests) == 1  # the one that waited was never sent
        assert (await get(pool, s.url + "/"))[1] == b"ok"  # its slot was not lost


async def test_a_cancelled_call_closes_its_connection_and_frees_its_slot() -> None:
    entered = asyncio.Event()

    async def slow_first(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        while await server.read_request(reader) is not None:
            if len(server.requests) == 1:
                entered.set()
                await reader.read()  # the client goes away
                return
            writer.write(answer(b"ok"))
            await writer.drain()

    async with Server(slow_first) as s:
        pool = H1Pool(1)
        call = asyncio.create_task(get(pool, s.url + "/"))
        await entered.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert (await get(pool, s.url + "/"))[1] == b"ok"  # the only slot is free again
        assert s.connections == 2  # the cancelled call's connection was not reused
        await asyncio.sleep(0.05)
        assert s.closed_by_client == 0 and s.open == 1


async def test_an_answer_split_anywhere_reads_the_same() -> None:
    body = b'{"entry": [' + b'{"id": "a"},' * 40 + b"{}]}"
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 37]), body[i : i + 37]) for i in range(0, len(body), 37)
    )
    framings = [
        answer(body),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n",
    ]
    splits: list[list[int]] = []

    async def split_writer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        while await server.read_request(reader) is not None:
            cuts = splits.pop()
            framing = framings[len(server.requests) % 2]
            points = sorted({min(c, len(framing)) for c in cuts})
            for start, end in zip([0, *points], [*points, len(framing)], strict=True):
                writer.write(framing[start:end])
                await writer.drain()
                await asyncio.sleep(0)

    async with Server(split_writer) as s:
        pool = H1Pool(1)

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(st.integers(1, 700), max_size=12))
        def check(cuts: list[int]) -> None:
            splits.append(cuts)
            future = asyncio.run_coroutine_threadsafe(get(pool, s.url + "/"), loop)
            assert future.result(10)[1] == body

        loop = asyncio.get_running_loop()
        await asyncio.to_thread(check)
        assert s.connections == 1  # every framing left the connection reusable


def _tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context, and a client
    context that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "athena test")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_https_checks_the_certificate(tmp_path: Path) -> None:
    server_tls, trusting = _tls_contexts(tmp_path)
    async with Server(keep_answering(answer(b"secret")), tls=server_tls) as s:
        assert s.url.startswith("https://")
        pool = H1Pool(4, tls=trusting)
        assert (await get(pool, s.url + "/"))[1] == b"secret"
        assert (await get(pool, s.url + "/"))[1] == b"secret"
        assert s.connections == 1
        with pytest.raises(httpx.ConnectError):  # the system's trust store does not know it
            await get(H1Pool(4), s.url + "/")
        assert len(s.requests) == 2  # nothing was sent over the untrusted connection


def test_a_pool_moves_to_the_event_loop_it_is_used_in() -> None:
    """A pool made once and used from two event loops in turn (as tests and reloads do)."""
    pool = H1Pool(2)
    answers: list[bytes] = []

    def run() -> None:
        async def one() -> None:
            async with Server(keep_answering(answer(b"ok"))) as s:
                answers.append((await get(pool, s.url + "/"))[1])

        asyncio.run(one())

    for _ in range(2):
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(10)
    assert answers == [b"ok", b"ok"]
