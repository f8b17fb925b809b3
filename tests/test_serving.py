"""``athena-facade serve --workers 2`` (uvicorn): one SO_REUSEPORT socket per worker.

A real server process tree. Connections are attributed to the worker holding them from
``/proc`` (the worker's socket descriptors against the kernel's TCP table), so the test
sees what the kernel did, not what the server says about itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

CONNECTIONS = 64


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _workers(parent: int) -> list[int]:
    return [
        pid
        for pid in _children(parent)
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def _established(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is ``port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(fields[9])
    return inodes


def _held(pid: int, inodes: set[str]) -> int:
    count = 0
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    count += 1
    return count


@pytest.fixture(scope="module")
def served(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    data = tmp_path_factory.mktemp("serving")
    env = {
        **os.environ,
        "FACADE_ATHENA_BASE_URL": emulator_url,
        "FACADE_DATA_DIR": str(data),
        "FACADE_EVENTS_FEEDS": "[]",
    }
    with (data / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "facade.cli", "serve", "--port", str(port)),
                *("--workers", "2", "--server", "uvicorn", "--log-level", "warning"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while len(_workers(process.pid)) < 2 or not _answers(port):
            assert process.poll() is None, (data / "serve.log").read_text()
            assert time.monotonic() < deadline, "the facade did not start within 90 s"
            time.sleep(0.3)
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/fhir/r4/metadata", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _connect_all(port: int) -> list[socket.socket]:
    """``CONNECTIONS`` keep-alive connections, each having had one answered request."""
    opened = []
    for _ in range(CONNECTIONS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200"), "a connection was not served"
        opened.append(sock)
    return opened


def test_each_worker_has_its_own_socket_and_connections_spread_over_both(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = served
    workers = _workers(process.pid)
    opened = _connect_all(port)
    try:
        inodes = _established(port)
        held = {pid: _held(pid, inodes) for pid in workers}
        assert sum(held.values()) == CONNECTIONS, held  # the workers hold every connection
        # the kernel hashes connections over the two sockets: a worker with fewer than a
        # quarter of them has odds below 1 in 10,000 (binomial 64, 1/2)
        assert min(held.values()) >= CONNECTIONS // 4, held
    finally:
        for sock in opened:
            sock.close()


def test_a_killed_worker_is_replaced_on_its_socket_and_no_connection_is_refused(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = served
    victim = _workers(process.pid)[0]
    os.kill(victim, signal.SIGKILL)
    # while the replacement starts, new connections to the victim's socket wait in its
    # backlog (the supervisor holds the socket); none is refused
    opened = _connect_all(port)
    for sock in opened:
        sock.close()
    deadline = time.monotonic() + 60
    while True:
        workers = _workers(process.pid)
        if len(workers) == 2 and victim not in workers:
            break
        assert time.monotonic() < deadline, workers
        time.sleep(0.2)
    opened = _connect_all(port)
    try:
        held = {pid: _held(pid, _established(port)) for pid in workers}
        assert min(held.values()) >= CONNECTIONS // 4, held  # the replacement takes its share
    finally:
        for sock in opened:
            sock.close()
