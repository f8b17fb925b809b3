"""Fallback load generator (aiohttp), used when wrk is not installed. Reads a JSON spec on stdin."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def _main(spec: dict[str, object]) -> dict[str, float | int]:
    base = str(spec["base"])
    paths = [str(p) for p in spec["paths"]]  # type: ignore[attr-defined]
    connections = int(spec["connections"])  # type: ignore[call-overload]
    seconds = float(spec["seconds"])  # type: ignore[arg-type]
    headers = {str(k): str(v) for k, v in spec["headers"].items()}  # type: ignore[attr-defined]
    latencies: list[float] = []
    errors = 0
    counter = 0
    end = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(base, connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors, counter
            while time.monotonic() < end:
                counter += 1
                path = paths[counter % len(paths)]
                started = time.perf_counter()
                try:
                    async with session.get(path) as response:
                        await response.read()
                        if response.status >= 400:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - started
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "seconds": elapsed,
        "rps": n / elapsed if elapsed else 0.0,
        "p50_ms": latencies[n // 2] if n else 0.0,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] if n else 0.0,
        "errors": errors,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(json.loads(sys.stdin.read())))))
