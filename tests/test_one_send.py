"""uvicorn workers send a response's head and body together (facade/serving.py
``OneSendHttpTools``): what the socket was asked to send, and what a client receives from
a real uvicorn server on that protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator.server import ServerThread
from facade.serving import ONE_SEND_MAX, OneSendHttpTools, _OneSend


class Counting(asyncio.Protocol):
    """The far side: every byte it receives, and whether the connection ended."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.ended = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


class Sends:
    """A real transport, with the writes it was handed counted."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _pair() -> tuple[_OneSend, Sends, Counting, asyncio.Server]:
    loop = asyncio.get_running_loop()
    far = Counting()
    server = await loop.create_server(lambda: far, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    sends = Sends(transport)  # type: ignore[arg-type]
    return _OneSend(sends, loop), sends, far, server  # type: ignore[arg-type]


async def test_writes_of_one_turn_leave_in_one_send() -> None:
    one, sends, far, server = await _pair()
    one.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    one.write(b"ok")
    assert sends.writes == []  # held until the turn ends
    assert one.get_write_buffer_size() == 40
    await asyncio.sleep(0)
    assert sends.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    one.write(b"next")  # a later turn is its own send
    await asyncio.sleep(0)
    assert sends.writes[1:] == [b"next"]
    one.close()
    await far.ended
    assert bytes(far.received) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\noknext"
    server.close()


async def test_close_sends_what_waits_and_abort_drops_it() -> None:
    one, sends, far, server = await _pair()
    one.write(b"last words")
    one.close()  # uvicorn closes right after a Connection: close answer
    await far.ended
    assert bytes(far.received) == b"last words"
    one, sends, far, server2 = await _pair()
    one.write(b"never")
    one.abort()
    await far.ended
    await asyncio.sleep(0)
    assert sends.writes == [] and far.received == b""
    server.close()
    server2.close()


async def test_no_more_than_the_bound_is_held_back() -> None:
    one, sends, far, server = await _pair()
    chunk = b"x" * (ONE_SEND_MAX // 4)
    for _ in range(10):  # a streamed body written without yielding
        one.write(chunk)
    assert sum(map(len, sends.writes)) >= 8 * len(chunk)  # sent as it came, in bound steps
    assert all(len(sent) <= ONE_SEND_MAX for sent in sends.writes)
    one.close()
    await far.ended
    assert bytes(far.received) == chunk * 10
    server.close()


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":  # ServerThread runs the lifespan: nothing to start
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(64):
            await send(
                {"type": "http.response.body", "body": b"%05d" % i * 4000, "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [(b"content-type", b"text/plain")]
    if path == "/close":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": path.encode()})


@pytest.fixture(scope="module")
def one_send_server() -> Iterator[str]:
    server = ServerThread(_app, http=OneSendHttpTools)
    yield server.start()
    server.stop()


def test_a_uvicorn_server_on_the_protocol_answers_whole(one_send_server: str) -> None:
    with httpx.Client(base_url=one_send_server) as client:
        for path in ("/a", "/b", "/c"):  # one kept-alive connection
            answer = client.get(path)
            assert (answer.status_code, answer.text) == (200, path)
        assert client.head("/a").content == b""
        streamed = client.get("/stream")
        assert streamed.content == b"".join(b"%05d" % i * 4000 for i in range(64))
        closing = client.get("/close")
        assert closing.text == "/close" and closing.headers["connection"] == "close"
        assert client.get("/after").text == "/after"  # a new connection after the close
