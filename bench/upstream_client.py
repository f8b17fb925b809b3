"""The upstream client's own CPU per call: aiohttp directly vs httpx over aiohttp.

Starts the emulator as its own process (no latency), then sends the same athena FHIR
Patient read, sequentially over one kept-alive connection, through
:meth:`facade.upstream.transport.UpstreamHttpClient.send_direct` on both paths, in
alternating blocks. Reported: this process's CPU per call (the server's CPU is in the
other process), so the difference is what the httpx layer costs per call
(facade/upstream/transport.py cites it).

    .venv/bin/python -m bench.upstream_client [calls per block] [blocks]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from tempfile import mkdtemp

import httpx
from httpx_aiohttp import AiohttpTransport

from bench.procs import free_port, start
from facade.upstream.transport import UpstreamHttpClient, make_http_client

PATH = "/fhir/r4/Patient/a-195900.E-60178"


async def _measure(base: str, token: str, per_block: int, blocks: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    clients: dict[str, UpstreamHttpClient] = {
        "aiohttp directly": make_http_client(max_connections=4, connect_timeout=5, read_timeout=10),
        "httpx over aiohttp": make_http_client(
            max_connections=4,
            connect_timeout=5,
            read_timeout=10,
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=4)),
        ),
    }
    spent = dict.fromkeys(clients, 0.0)
    for client in clients.values():  # warm: the connection is open
        for _ in range(50):
            sent = await client.send_direct(
                "GET", base + PATH, headers=headers, form=None, limits=None
            )
            assert sent.status_code == 200, sent.status_code
    for block in range(blocks):
        for name in clients if block % 2 == 0 else reversed(list(clients)):
            started = time.process_time()
            for _ in range(per_block):
                await clients[name].send_direct(
                    "GET", base + PATH, headers=headers, form=None, limits=None
                )
            spent[name] += time.process_time() - started
    for client in clients.values():
        await client.aclose()
    return {name: seconds / (per_block * blocks) * 1e6 for name, seconds in spent.items()}


def main(per_block: int = 1000, blocks: int = 6) -> None:
    port = free_port()
    work = Path(mkdtemp(prefix="upstream-client-"))
    emulator = start(
        "emulator",
        [
            *("-m", "facade.cli", "emulator", "--port", str(port), "--latency-ms", "0"),
            *("--api-rps", "100000000", "--log-level", "warning"),
        ],
        {"EMULATOR_API_REQUESTS_PER_DAY": "1000000000"},
        f"http://127.0.0.1:{port}/fhir/r4/metadata",
        work,
    )
    try:
        base = emulator.base
        token = httpx.post(
            f"{base}/oauth2/v1/token",
            data={"grant_type": "client_credentials", "scope": "system/Patient.read"},
            auth=("facade-dev", "facade-dev-secret"),  # the emulator's local-dev client
        ).json()["access_token"]
        per_call = asyncio.run(_measure(base, token, per_block, blocks))
    finally:
        emulator.stop()
    for name, us in per_call.items():
        print(f"{name:20s} {us:7.1f} µs client CPU per call ({per_block * blocks} calls)")
    direct, layered = per_call["aiohttp directly"], per_call["httpx over aiohttp"]
    print(f"the httpx layer costs {layered - direct:.1f} µs per call")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
