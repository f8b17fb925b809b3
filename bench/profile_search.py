"""CPU per FHIR search, in process: ``PYTHONPATH=. python -m bench.profile_search KIND [AUDIT] [N]``.

KIND is ``appt`` (Appointment, one week of ``date``), ``slot`` (free Slots, one week of
``start``) or ``read`` (one Patient read); AUDIT ``on``/``off``; N searches
(a fourth argument ``noprofile`` leaves out the cProfile round, e.g. under py-spy). The emulator
runs in a thread (a real HTTP server on loopback), the facade app in this thread behind
httpx's ASGITransport. After a warm-up, three rounds of N searches give the figures, then
one more runs under cProfile (``/tmp/prof-KIND.out``; read it with pstats). Printed per search:
this thread's CPU (the facade plus the in-process client: what matters here), the
whole process's (adds the emulator thread), and wall time. A diagnostic, not a
benchmark: ``make bench`` measures the facade workers as separate processes.
"""

from __future__ import annotations

import asyncio
import cProfile
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import httpx._transports.asgi as asgi_transport

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from facade.api.app import create_app
from facade.settings import Settings
from tests.conftest import free_port


def _queries(kind: str, seed: int = 1) -> list[str]:
    today = datetime.now(UTC).date()
    rng = random.Random(seed)
    out = []
    for _ in range(10_000):
        low = -27 if kind == "appt" else 2
        first = today + timedelta(days=rng.randint(low, 30))
        last = first + timedelta(days=6)
        ge = f"{first.isoformat()}T{rng.randint(0, 4):02d}:{rng.randint(0, 59):02d}:00Z"
        if kind == "appt":
            out.append(f"/fhir/r4/Appointment?date=ge{ge}&date=le{last.isoformat()}&_count=20")
        elif kind == "slot":
            out.append(
                f"/fhir/r4/Slot?status=free&start=ge{ge}&start=le{last.isoformat()}&_count=20"
            )
        else:
            out.append("/fhir/r4/Patient/a-195900.E-60178")
    return out


async def _run(kind: str, audit: bool, n: int, upstream: str, *, profile: bool = True) -> None:
    settings = Settings(
        environment="embedded",
        workers=1,
        port=free_port(),
        athena_base_url=upstream,
        data_dir=Path(tempfile.mkdtemp()),
        events_feeds=[],
        audit_enabled=audit,
        cache_enabled=True,  # as make bench runs the facade
    )
    app = create_app(settings)
    queries = iter(_queries(kind))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            token = await client.post(
                "/auth/token",
                data={"grant_type": "client_credentials", "scope": "system/*.rs"},
                auth=("local-dev", "local-dev-secret"),
            )
            client.headers["Authorization"] = "Bearer " + token.json()["access_token"]

            async def batch(count: int) -> None:
                for _ in range(count):
                    response = await client.get(next(queries))
                    assert response.status_code == 200, response.text

            await batch(30)
            for rounds in range(3):
                thread, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
                await batch(n)
                print(
                    f"{kind} round {rounds}: ms per search: facade thread "
                    f"{(time.thread_time() - thread) / n * 1000:.3f}, process "
                    f"{(time.process_time() - process) / n * 1000:.3f}, wall "
                    f"{(time.perf_counter() - wall) / n * 1000:.3f}"
                )
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                await batch(n)
                profiler.disable()
                profiler.dump_stats(f"/tmp/prof-{kind}.out")


def main() -> None:
    # httpx's ASGITransport tries to import sniffio (not installed) for every request: a
    # failed import searches sys.path each time, CPU of this harness, not of the facade
    asgi_transport.create_event = asyncio.Event  # type: ignore[assignment]
    kind = sys.argv[1] if len(sys.argv) > 1 else "appt"
    audit = (sys.argv[2] if len(sys.argv) > 2 else "on") == "on"
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    profile = "noprofile" not in sys.argv[4:]
    emulator = ServerThread(create_emulator(EmulatorConfig(api_requests_per_second=100_000)))
    upstream = emulator.start()
    try:
        asyncio.run(_run(kind, audit, n, upstream, profile=profile))
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
