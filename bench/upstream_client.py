"""The upstream client's own CPU per call: the lean HTTP/1.1 client (the default),
aiohttp directly, and httpx over aiohttp.

Starts the emulator as its own process (no latency), then sends the same athena FHIR
Patient read through :meth:`facade.upstream.transport.UpstreamHttpClient.send_direct` on
each path, in alternating blocks, from ``concurrency`` callers at once (1: sequentially
over one kept-alive connection). Reported: this process's CPU per call (the server's CPU
is in the other process), so the differences are what each client costs per call
(facade/upstream/transport.py cites them).

    .venv/bin/python -m bench.upstream_client [calls per block] [blocks] [concurrency]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from tempfile import mkdtemp

import httpx
import uvloop
from httpx_aiohttp import AiohttpTransport

from bench.procs import free_port, start
from facade.upstream.transport import UpstreamHttpClient, make_http_client

PATH = "/fhir/r4/Patient/a-195900.E-60178"


async def _measure(
    base: str, token: str, per_block: int, blocks: int, concurrency: int
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    limit = max(4, concurrency)
    clients: dict[str, UpstreamHttpClient] = {
        "lean h1": make_http_client(
            max_connections=limit, connect_timeout=5, read_timeout=10, kind="h1"
        ),
        "aiohttp directly": make_http_client(
            max_connections=limit, connect_timeout=5, read_timeout=10, kind="aiohttp"
        ),
        "httpx over aiohttp": make_http_client(
            max_connections=limit,
            connect_timeout=5,
            read_timeout=10,
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=limit)),
        ),
    }
    spent = dict.fromkeys(clients, 0.0)

    async def calls(client: UpstreamHttpClient, count: int) -> None:
        for _ in range(count):
            sent = await client.send_direct(
                "GET", base + PATH, headers=headers, form=None, limits=None
            )
            assert sent.status_code == 200, sent.status_code

    async def block_of(client: UpstreamHttpClient, count: int) -> None:
        await asyncio.gather(*(calls(client, count // concurrency) for _ in range(concurrency)))

    for client in clients.values():  # warm: the connections are open
        await block_of(client, 50 * concurrency)
    per_block -= per_block % concurrency
    for block in range(blocks):
        for name in clients if block % 2 == 0 else reversed(list(clients)):
            started = time.process_time()
            await block_of(clients[name], per_block)
            spent[name] += time.process_time() - started
    for client in clients.values():
        await client.aclose()
    return {name: seconds / (per_block * blocks) * 1e6 for name, seconds in spent.items()}


def main(per_block: int = 1000, blocks: int = 6, concurrency: int = 1) -> None:
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
        per_call = uvloop.run(_measure(base, token, per_block, blocks, concurrency))
    finally:
        emulator.stop()
    for name, us in per_call.items():
        print(f"{name:20s} {us:7.1f} µs client CPU per call ({per_block * blocks} calls)")
    lean, direct = per_call["lean h1"], per_call["aiohttp directly"]
    layered = per_call["httpx over aiohttp"]
    print(f"aiohttp costs {direct - lean:.1f} µs per call more than the lean client")
    print(f"the httpx layer costs {layered - direct:.1f} µs per call over aiohttp")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
