"""uvicorn worker processes with one listening socket each (``SO_REUSEPORT``).

uvicorn's own ``--workers`` shares one listening socket among the workers, and whichever
worker is awake first takes the next connection. Under a benchmark's (or a balancer's)
long-lived keep-alive connections that split stays lopsided for the life of the
connections: ``make bench`` measured one worker spending 3.62 CPU seconds against its
sibling's 0.13 in the same run (bench/RESULTS.md before this module). With one
``SO_REUSEPORT`` socket per worker, the kernel hashes each new connection to one of the
sockets, so the workers receive connections evenly whatever their scheduling.

The parent binds every socket before any worker starts (a connection made while a
worker is still starting waits in that socket's backlog instead of going to the
worker that happens to be up) and keeps them for the workers' lifetime: a worker that
dies is replaced on the same socket, so its share of connections waits for the
replacement instead of being refused. Supervision (health pings, restart of a dead
worker, refusing to restart one that failed at startup, signals) is uvicorn's
``Multiprocess``; only the socket each worker gets differs.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, cast

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("uvicorn.error")


def reuseport_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A bound, listening ``SO_REUSEPORT`` TCP socket.

    Listening starts here, not in the worker: the kernel spreads connections over the
    *listening* sockets of the port only, so a socket whose worker is still starting
    would otherwise receive none (all of a client's early connections went to the first
    worker up)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class ReusePortWorkers(Multiprocess):
    """uvicorn's worker supervisor, worker ``i`` serving ``sockets[i]`` only."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        if len(sockets) != config.workers:
            raise ValueError("one socket per worker")
        super().__init__(config, sockets)

    def _process(self, index: int) -> Process:
        return Process(self.config, [self.sockets[index]])

    def init_processes(self) -> None:
        for index in range(self.processes_num):
            process = self._process(index)
            process.start()
            self.processes.append(process)

    def restart_all(self) -> None:  # SIGHUP: each replacement is up before the old one goes
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(index)
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: it answered no health ping
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: neither would a new one
                log.error("worker [%s] failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.warning("worker [%s] died; starting its replacement on its socket", process.pid)
            replacement = self._process(index)
            replacement.start()
            self.processes[index] = replacement


def run_one(app: str, *, host: str, port: int, **options: Any) -> None:
    """``uvicorn.run(app, factory=True, ...)`` in this process, on :class:`OneSendHttpTools`."""
    import uvicorn

    uvicorn.run(app, factory=True, host=host, port=port, **{"http": OneSendHttpTools, **options})


def run(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """``uvicorn.run(app, factory=True, ...)`` with ``workers`` processes, one socket each,
    on :class:`OneSendHttpTools`."""
    options = {"http": OneSendHttpTools, **options}
    config = Config(app, factory=True, host=host, port=port, workers=workers, **options)
    first = reuseport_socket(host, port)
    port = first.getsockname()[1]  # port 0: the others share the one the kernel chose
    sockets = [first, *(reuseport_socket(host, port) for _ in range(workers - 1))]
    try:
        ReusePortWorkers(config, sockets).run()
    except KeyboardInterrupt:
        pass
    finally:
        for sock in sockets:
            sock.close()


ONE_SEND_MAX = 64 * 1024  # bytes held back at most: a larger response goes out as it comes


class _OneSend:
    """A connection's transport whose writes of one event-loop turn leave in one send.

    uvicorn writes a response's status line and headers in one ``transport.write`` and
    its body in the next: two ``send`` calls, two loopback segments and two wake-ups of
    the reader for every small answer. Held until the end of the event-loop turn (or
    until ``ONE_SEND_MAX`` bytes wait), they leave together. Measured in bench P2
    (uncached reads, two workers, alternating runs): 0.29-0.31 -> 0.28 ms of facade CPU
    per read. ``close`` sends what waits first; ``abort`` drops it, as a transport does.
    """

    __slots__ = ("_loop", "_pending", "_transport", "_waiting")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._waiting = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pending = self._pending
        if pending is None:
            self._pending = pending = [bytes(data)]
            self._waiting = len(data)
            self._loop.call_soon(self._flush)
        else:
            pending.append(bytes(data))
            self._waiting += len(data)
        if self._waiting >= ONE_SEND_MAX:
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        if not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        waiting = self._waiting if self._pending else 0
        return self._transport.get_write_buffer_size() + waiting

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneSendHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, a response's head and body sent together
    (:class:`_OneSend`): the ``http`` protocol of every uvicorn worker :func:`run` and
    :func:`run_one` start."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(
            cast(asyncio.Transport, _OneSend(cast(asyncio.Transport, transport), self.loop))
        )
