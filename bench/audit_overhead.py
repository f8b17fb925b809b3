"""The audit trail's cost per request, measured in one process (README "Audit trail").

Two facades in front of one emulator, identical but for ``FACADE_AUDIT_ENABLED``; cached
Patient reads (the fast path: the cheapest request, so the largest relative cost) are sent
to each in alternating blocks over one keep-alive connection. Reported per request: the
median and mean latency as the client sees it, the process CPU time (every thread:
the client, both servers, the audit writer, which is flushed inside its block), and the
facade's own CPU time: its server thread and its audit writer thread only, without the
client's (which is most of the process's, so the process figure is the noisier one).

    .venv/bin/python -m bench.audit_overhead [requests per block] [blocks]

In one process the client, both servers and the writer share one GIL, which exaggerates
the hand-offs between threads; ``--processes`` runs each facade as its own
``athena-facade serve`` process (uvicorn, one worker, as ``make bench`` does) and reports
each server process's CPU time per request (its writer thread included) from /proc:

    .venv/bin/python -m bench.audit_overhead --processes [requests per block] [blocks]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from facade.api.app import create_app
from facade.settings import Settings
from tests.conftest import dev_token, free_port

PATIENT = "a-195900.E-60178"


def facade_cpu(server: ServerThread) -> float:
    """CPU seconds of a facade's server thread and its audit writer thread so far."""
    threads = [server._thread, getattr(server.app.state.services.audit, "_thread", None)]
    return sum(
        time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        for t in threads
        if isinstance(t, threading.Thread) and t.ident is not None
    )


def main(per_block: int = 2000, blocks: int = 6) -> None:
    emulator = ServerThread(create_emulator(EmulatorConfig(api_requests_per_second=100_000)))
    upstream = emulator.start()
    servers: dict[bool, tuple[ServerThread, str]] = {}
    for enabled in (True, False):
        port = free_port()
        settings = Settings(
            environment="embedded",
            workers=1,
            port=port,
            athena_base_url=upstream,
            data_dir=Path(tempfile.mkdtemp(prefix=f"audit-{enabled}-")),
            events_feeds=[],
            audit_enabled=enabled,
        )
        server = ServerThread(create_app(settings), port=port)
        server.start()
        servers[enabled] = (server, settings.base_url)
    latency: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, float] = {True: 0.0, False: 0.0}
    own: dict[bool, float] = {True: 0.0, False: 0.0}  # the facade's threads only
    clients = {}
    for enabled, (_, base) in servers.items():
        token = dev_token(base)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        for _ in range(200):  # warm: the cache holds the Patient, connections open
            assert client.get(f"/fhir/r4/Patient/{PATIENT}").status_code == 200
        clients[enabled] = client
    for block in range(blocks):
        for enabled in (True, False) if block % 2 == 0 else (False, True):
            client = clients[enabled]
            started_cpu = time.process_time()
            started_own = facade_cpu(servers[enabled][0])
            for _ in range(per_block):
                t0 = time.perf_counter()
                client.get(f"/fhir/r4/Patient/{PATIENT}")
                latency[enabled].append(time.perf_counter() - t0)
            servers[enabled][0].app.state.services.audit.flush()  # the writer's work counts
            cpu[enabled] += time.process_time() - started_cpu
            own[enabled] += facade_cpu(servers[enabled][0]) - started_own
    n = per_block * blocks
    for enabled in (False, True):
        values = latency[enabled]
        print(
            f"audit {'on ' if enabled else 'off'}: median {statistics.median(values) * 1e6:7.1f} us"
            f"  mean {statistics.fmean(values) * 1e6:7.1f} us  cpu {cpu[enabled] / n * 1e6:7.1f} us"
            f"/request, of it the facade's threads {own[enabled] / n * 1e6:6.1f} us"
            f"  ({n} cached reads)"
        )
    on, off = latency[True], latency[False]
    print(
        f"cost of the audit trail per request: median +{(statistics.median(on) - statistics.median(off)) * 1e6:.1f} us,"
        f" cpu +{(cpu[True] - cpu[False]) / n * 1e6:.1f} us"
        f" (the facade's threads: +{(own[True] - own[False]) / n * 1e6:.1f} us)"
    )
    for client in clients.values():
        client.close()
    for server, _ in servers.values():
        server.stop()
    emulator.stop()


def processes(per_block: int = 2000, blocks: int = 6) -> None:
    from bench.procs import start

    emulator = ServerThread(create_emulator(EmulatorConfig(api_requests_per_second=100_000)))
    upstream = emulator.start()
    work = Path(tempfile.mkdtemp(prefix="audit-processes-"))
    procs = {}
    for enabled in (True, False):
        port = free_port()
        env = {
            "FACADE_ATHENA_BASE_URL": upstream,
            "FACADE_PORT": str(port),
            "FACADE_DATA_DIR": str(work / f"data-{enabled}"),
            "FACADE_SIGNING_SECRET": "bench-only-signing-secret",
            "FACADE_AUDIT_ENABLED": "true" if enabled else "false",
            "FACADE_EVENTS_FEEDS": "[]",
        }
        args = ["-m", "facade.cli", "serve", "--port", str(port), "--workers", "1"]
        args += ["--server", "uvicorn", "--log-level", "warning"]
        url = f"http://127.0.0.1:{port}/fhir/r4/metadata"
        procs[enabled] = start(f"facade-audit-{enabled}", args, env, url, work)
    try:
        clients = {}
        for enabled, proc in procs.items():
            token = dev_token(proc.base)
            client = httpx.Client(base_url=proc.base, headers={"Authorization": f"Bearer {token}"})
            for _ in range(200):  # warm: the cache holds the Patient, connections open
                assert client.get(f"/fhir/r4/Patient/{PATIENT}").status_code == 200
            clients[enabled] = client
        time.sleep(1.0)  # the warm-up's records written
        before = {e: sum(p.cpu_seconds().values()) for e, p in procs.items()}
        for block in range(blocks):
            for enabled in (True, False) if block % 2 == 0 else (False, True):
                for _ in range(per_block):
                    clients[enabled].get(f"/fhir/r4/Patient/{PATIENT}")
        time.sleep(1.0)  # the writer's last batch (it lingers at most 250 ms)
        n = per_block * blocks
        cpu = {e: (sum(p.cpu_seconds().values()) - before[e]) / n for e, p in procs.items()}
        for enabled in (False, True):
            print(
                f"audit {'on ' if enabled else 'off'}: server process cpu"
                f" {cpu[enabled] * 1e6:7.1f} us/request ({n} cached reads)"
            )
        print(f"cost of the audit trail per request: cpu +{(cpu[True] - cpu[False]) * 1e6:.1f} us")
        for client in clients.values():
            client.close()
    finally:
        for proc in procs.values():
            proc.stop()
        emulator.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--processes"]:
        processes(*(int(a) for a in sys.argv[2:4]))
    else:
        main(*(int(a) for a in sys.argv[1:3]))
