"""``athena-facade bench``: every scenario in one run, as ratios against same-run baselines.

Scenarios (issue: upstream resilience, caching and the benchmark):

- P1  cached Patient read throughput vs a bare FastAPI route returning the same
      bytes on the same server stack (target >= 0.85x);
- P2  uncached Patient reads, 256 concurrent clients, athena 50 ms away:
      throughput vs the emulator hit directly (>= 0.6x), p50/p99 (p99 <= 3x the
      upstream latency), errors (0);
- P3  mapping cost per resource for a 50-entry Bundle vs fhir.resources
      validate + dump (>= 20x cheaper);
- P4  100 identical concurrent reads -> upstream calls (1); RSS after 100k requests;
- P5  uncached Patient reads while a Bulk Data export runs vs without one: the p99 of
      interactive reads stays within 1.5x (the export has its own rate budget);
- P6  searches (Appointment by date, Slot by status and start, Patient by name, Encounter
      and Appointment by patient), 32 connections, distinct queries: throughput vs the
      emulator answering the same question directly (>= 0.9x), p50/p99, facade CPU per
      search (<= 2 ms for the date and Slot searches), upstream bytes per result
      (:mod:`bench.searches`);
- upstream calls per FHIR interaction and the cache hit ratio.

P1 and P2 run for each server configuration (uvicorn and granian, 1 and 2
workers) so the deployment default is chosen by measurement. Everything runs
on loopback; processes are started and stopped here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import scaleout
from bench.load import LoadResult, run_load
from bench.mapping_cost import measure
from bench.procs import Proc, cpu_delta, free_port, start
from bench.searches import render as render_p6
from bench.searches import run_p6

PATIENT_IDS = [*range(60178, 60185), *range(1000, 2800)]
READ_PATH = "/fhir/r4/Patient/a-195900.E-60178"


@dataclass(frozen=True)
class Config:
    server: str
    workers: int
    transport: str = "h1"

    @property
    def label(self) -> str:
        suffix = "" if self.transport == "h1" else f", {self.transport} transport"
        return f"{self.server} x{self.workers}{suffix}"


@dataclass(frozen=True)
class Durations:
    p1: float
    p2: float
    rss_requests: int
    p5: float = 3.0
    p6: float = 4.0


def _python_args(config: Config, port: int, *, facade: bool) -> list[str]:
    if facade:
        return [
            "-m",
            "facade.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(config.workers),
            "--server",
            config.server,
            "--log-level",
            "warning",
        ]
    if config.server == "granian":
        return [
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "--port",
            str(port),
            "--workers",
            str(config.workers),
            "--no-access-log",
            "--log-level",
            "warning",
            "bench.baseline:create_app",
        ]
    return ["-m", "bench.baseline", "--port", str(port), "--workers", str(config.workers)]


class Bench:
    def __init__(self, quick: bool, latency_ms: float, work: Path) -> None:
        self.quick = quick
        self.latency_ms = latency_ms
        self.work = work
        self.procs: list[Proc] = []
        self.emulator: Proc | None = None

    # -- processes ---------------------------------------------------------------------

    def start_emulator(self) -> Proc:
        port = free_port()
        env = {
            "EMULATOR_API_REQUESTS_PER_DAY": "1000000000",
            "EMULATOR_TOKEN_REQUESTS_PER_MINUTE": "100000",
        }
        args = [
            "-m",
            "facade.cli",
            "emulator",
            "--port",
            str(port),
            "--latency-ms",
            str(self.latency_ms),
            "--api-rps",
            "100000000",
            "--log-level",
            "warning",
        ]
        proc = start("emulator", args, env, f"http://127.0.0.1:{port}/fhir/r4/metadata", self.work)
        self.procs.append(proc)
        return proc

    def start_facade(
        self, config: Config, *, cache: bool, extra: dict[str, str] | None = None
    ) -> Proc:
        assert self.emulator is not None
        port = free_port()
        env = {
            **(extra or {}),
            "FACADE_UPSTREAM_TRANSPORT": config.transport,
            "FACADE_ATHENA_BASE_URL": self.emulator.base,
            "FACADE_PORT": str(port),
            "FACADE_DATA_DIR": str(self.work / "facade-data"),
            "FACADE_SIGNING_SECRET": "bench-only-signing-secret",
            "FACADE_CACHE_ENABLED": "true" if cache else "false",
            # the emulator is told not to throttle, so neither does the facade
            "FACADE_UPSTREAM_RATE_PER_SECOND": "1000000",
            "FACADE_UPSTREAM_BURST": "1000000",
            "FACADE_UPSTREAM_MAX_CONNECTIONS": "512",
        }
        name = f"facade-{config.server}-{config.workers}-{config.transport}-{'cache' if cache else 'nocache'}"
        proc = start(
            name,
            _python_args(config, port, facade=True),
            env,
            f"http://127.0.0.1:{port}/fhir/r4/metadata",
            self.work,
        )
        self.procs.append(proc)
        return proc

    def start_baseline(self, config: Config, body_file: Path) -> Proc:
        port = free_port()
        proc = start(
            f"baseline-{config.server}-{config.workers}",
            _python_args(config, port, facade=False),
            {"BENCH_BODY_FILE": str(body_file)},
            f"http://127.0.0.1:{port}{READ_PATH}",
            self.work,
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def facade_token(base: str) -> str:
        return _client_credentials(
            f"{base}/auth/token", ("local-dev", "local-dev-secret"), "system/*.rs"
        )

    def emulator_token(self, scope: str = "system/Patient.read") -> str:
        assert self.emulator is not None
        url = f"{self.emulator.base}/oauth2/v1/token"
        return _client_credentials(url, ("facade-dev", "facade-dev-secret"), scope)

    def emulator_calls(self, path: str | None = None) -> int:
        assert self.emulator is not None
        body = httpx.get(f"{self.emulator.base}/_emulator/calls").json()
        return sum(c["count"] for c in body["calls"] if path is None or c["path"] == path)

    @staticmethod
    def metrics(base: str) -> dict[str, float]:
        values: dict[str, float] = {}
        for line in httpx.get(f"{base}/metrics").text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.split()
                values[name] = float(value)
        return values


def _client_credentials(token_url: str, client: tuple[str, str], scope: str) -> str:
    """A client-credentials access token (both servers use their documented local-dev clients)."""
    data = {"grant_type": "client_credentials", "scope": scope}
    response = httpx.post(token_url, data=data, auth=client)
    response.raise_for_status()
    return str(response.json()["access_token"])


def _paths(prefix: str = "/fhir/r4/Patient/a-195900.E-") -> list[str]:
    return [f"{prefix}{n}" for n in PATIENT_IDS]


async def _identical_reads(base: str, token: str, path: str, n: int) -> list[int]:
    limits = httpx.Limits(max_connections=n)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:
        responses = await asyncio.gather(*(client.get(path) for _ in range(n)))
    return [r.status_code for r in responses]


def run(*, quick: bool = False, latency_ms: float = 50.0, out_dir: str = "bench") -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the harness's own calls are noise
    started = time.monotonic()
    durations = (
        Durations(p1=2, p2=3, rss_requests=5_000, p5=3, p6=1)
        if quick
        else Durations(7, 8, 100_000, p5=10, p6=5)
    )
    configs = [Config("uvicorn", 1)]
    if not quick:
        configs += [Config("uvicorn", 2), Config("granian", 1), Config("granian", 2)]
    work = Path(tempfile.mkdtemp(prefix="facade-bench-"))
    bench = Bench(quick, latency_ms, work)
    results: dict[str, Any] = {
        "quick": quick,
        "latency_ms": latency_ms,
        "cores": os.cpu_count(),
        "generator": "wrk" if shutil.which("wrk") else "python-aiohttp",
        "p1": {},
        "p2": {},
    }
    try:
        bench.emulator = bench.start_emulator()
        emu_headers = {"Authorization": f"Bearer {bench.emulator_token()}"}
        emulator_cpu = sum(bench.emulator.cpu_seconds().values())
        direct = run_load(
            bench.emulator.base,
            _paths(),
            connections=256,
            seconds=durations.p2,
            headers=emu_headers,
        )
        results["p2_emulator"] = asdict(direct)
        results["p2_emulator"]["emulator_cpu_ms_per_read"] = (
            (sum(bench.emulator.cpu_seconds().values()) - emulator_cpu) * 1000 / direct.requests
        )
        for config in configs:
            results["p1"][config.label], results["p2"][config.label] = _p1_p2(
                bench, config, durations
            )
        if not quick:
            # The upstream client, chosen by measurement: an aiohttp session, same server
            # (httpx's own transport measured 0.06x in earlier runs: README "Benchmark").
            other = Config("uvicorn", 2, "aiohttp")
            results["p2"][other.label] = _p2(bench, other, durations)
        results["p4"] = _p4_and_rss(bench, configs[0], durations)
        results["p5"] = _p5(bench, configs[0] if quick else Config("uvicorn", 2), durations)
        results["p6"] = run_p6(
            bench, configs[0] if quick else Config("uvicorn", 2), configs[0], durations
        )
        results["p3"] = measure(repeats=5 if quick else 20)
        results["scaleout"] = scaleout.measure(bench, durations.p2)  # bench/scaleout.py
    finally:
        bench.stop_all()
    results["seconds"] = round(time.monotonic() - started, 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report = render_report(results)
    (out / "RESULTS.md").write_text(report)
    _plot(results, out / "results.png")
    print(report)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _p1_p2(bench: Bench, config: Config, d: Durations) -> tuple[dict[str, Any], dict[str, Any]]:
    facade = bench.start_facade(config, cache=True)
    token = bench.facade_token(facade.base)
    headers = {"Authorization": f"Bearer {token}"}
    body = httpx.get(f"{facade.base}{READ_PATH}", headers=headers).content
    body_file = bench.work / "body.json"
    body_file.write_bytes(body)
    before = facade.cpu_seconds()
    cached = run_load(facade.base, [READ_PATH], connections=64, seconds=d.p1, headers=headers)
    facade_spent = cpu_delta(before, facade.cpu_seconds())
    bench.stop(facade)
    baseline_proc = bench.start_baseline(config, body_file)
    before = baseline_proc.cpu_seconds()
    baseline = run_load(baseline_proc.base, [READ_PATH], connections=64, seconds=d.p1)
    baseline_spent = cpu_delta(before, baseline_proc.cpu_seconds())
    bench.stop(baseline_proc)
    p1 = {
        "facade": asdict(cached),
        "baseline": asdict(baseline),
        "ratio": cached.rps / baseline.rps,
        "worker_cpu_seconds": _split(facade_spent),
        "baseline_worker_cpu_seconds": _split(baseline_spent),
        # server CPU per request (all processes), and the generator's, for the budget
        "cpu_us_per_request": sum(facade_spent.values()) * 1e6 / max(1, cached.requests),
        "baseline_cpu_us_per_request": sum(baseline_spent.values())
        * 1e6
        / max(1, baseline.requests),
    }

    return p1, _p2(bench, config, d)


def _p2(bench: Bench, config: Config, d: Durations) -> dict[str, Any]:
    uncached_proc = bench.start_facade(config, cache=False)
    headers = {"Authorization": f"Bearer {bench.facade_token(uncached_proc.base)}"}
    before = bench.emulator_calls("/fhir/r4/Patient/{id}")
    assert bench.emulator is not None
    cpu_before = uncached_proc.cpu_seconds()
    emulator_before = sum(bench.emulator.cpu_seconds().values())
    uncached: LoadResult = run_load(
        uncached_proc.base, _paths(), connections=256, seconds=d.p2, headers=headers
    )
    spent = cpu_delta(cpu_before, uncached_proc.cpu_seconds())
    emulator_spent = sum(bench.emulator.cpu_seconds().values()) - emulator_before
    upstream = bench.emulator_calls("/fhir/r4/Patient/{id}") - before
    bench.stop(uncached_proc)
    reads = max(1, uncached.requests)
    return {
        "facade": asdict(uncached),
        "upstream_calls_per_read": upstream / reads,
        "cpu_ms_per_read": sum(spent.values()) * 1000 / reads,
        # CPU seconds per process (supervisor and workers), largest first: the load split
        "worker_cpu_seconds": _split(spent),
        # the rest of the machine's CPU per read: athena (the emulator) and the generator
        "emulator_cpu_ms_per_read": emulator_spent * 1000 / reads,
        "generator_cpu_ms_per_read": uncached.generator_cpu_s * 1000 / reads,
    }


def _split(spent: dict[int, float]) -> list[float]:
    """CPU seconds per process that did work, largest first (how evenly workers share load)."""
    return sorted((round(v, 2) for v in spent.values() if v > 0), reverse=True)


def _p4_and_rss(bench: Bench, config: Config, d: Durations) -> dict[str, Any]:
    facade = bench.start_facade(config, cache=True)
    token = bench.facade_token(facade.base)
    path = "/fhir/r4/Patient/a-195900.E-2500"
    asyncio.run(_identical_reads(facade.base, token, "/fhir/r4/Patient/a-195900.E-60180", 1))
    before = bench.emulator_calls("/fhir/r4/Patient/{id}")
    statuses = asyncio.run(_identical_reads(facade.base, token, path, 100))
    identical_calls = bench.emulator_calls("/fhir/r4/Patient/{id}") - before

    rss_before = facade.rss_mb()
    metrics_before = bench.metrics(facade.base)
    calls_before = bench.emulator_calls()
    headers = {"Authorization": f"Bearer {token}"}
    done = 0
    generator = ""
    while done < d.rss_requests:
        result = run_load(
            facade.base,
            _paths(),
            connections=64,
            seconds=10 if not bench.quick else 2,
            headers=headers,
        )
        done += result.requests
        generator = result.generator
    metrics_after = bench.metrics(facade.base)
    hits = metrics_after["facade_cache_hits_total"] - metrics_before["facade_cache_hits_total"]
    misses = (
        metrics_after["facade_cache_misses_total"] - metrics_before["facade_cache_misses_total"]
    )
    upstream = bench.emulator_calls() - calls_before
    rss_after = facade.rss_mb()
    bench.stop(facade)
    return {
        "identical_reads": len(statuses),
        "identical_ok": statuses.count(200),
        "identical_upstream_calls": identical_calls,
        "rss_requests": done,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "cache_hit_ratio": hits / max(1.0, hits + misses),
        "upstream_calls_per_read_cached": upstream / max(1, done),
        "generator": generator,
    }


def _p5(
    bench: Bench, config: Config, d: Durations, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """Interactive uncached reads without, during, and again without a Bulk Data export.

    The export is a system-level ``$export`` of every practice (athena's own Group export
    for athena's FHIR types, paging through searches for the rest) on the bulk lane's
    own rate budget (FACADE_BULK_RATE_PER_SECOND, default); it is still running when the
    measurement ends (its progress is recorded) and is then cancelled.
    """
    facade = bench.start_facade(config, cache=False, extra=extra)
    token = bench.facade_token(facade.base)
    headers = {"Authorization": f"Bearer {token}"}
    connections = 32

    def reads() -> LoadResult:
        return run_load(
            facade.base, _paths(), connections=connections, seconds=d.p5, headers=headers
        )

    reads()  # warm-up: connections, upstream token, first pages
    before = reads()
    started = httpx.get(
        f"{facade.base}/fhir/r4/$export",
        headers={**headers, "Prefer": "respond-async", "Accept": "application/fhir+json"},
    )
    started.raise_for_status()
    status_url = started.headers["content-location"]
    time.sleep(1.0)  # the export is under way (athena's export kicked off, pages read)
    progress_start = httpx.get(status_url, headers=headers).headers.get("x-progress", "")
    during = reads()
    polled = httpx.get(status_url, headers=headers)
    progress_end = polled.headers.get("x-progress", "finished")
    still_running = polled.status_code == 202
    httpx.delete(status_url, headers=headers)
    after = reads()
    bench.stop(facade)
    baseline = (before.p99_ms + after.p99_ms) / 2
    return {
        "connections": connections,
        "without": asdict(before),
        "during": asdict(during),
        "after": asdict(after),
        "p99_ratio": during.p99_ms / baseline if baseline else 0.0,
        "export_progress": [progress_start, progress_end],
        "export_running_throughout": still_running,
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render_report(r: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"`athena-facade bench{' --quick' if r['quick'] else ''}` — {r['cores']} cores, "
        f"load generator {r['generator']}, emulated athena latency {r['latency_ms']:.0f} ms, "
        f"run took {r['seconds']} s. Ratios compare numbers measured in this same run.",
        "",
        "## P1 cached Patient read vs a bare FastAPI route (same bytes, same server), 64 connections",
        "",
        "CPU s per process: the supervisor and each worker over the run, largest first "
        "(how evenly the workers share the connections).",
        "",
        "| server | facade req/s | baseline req/s | ratio (target >= 0.85) | facade p50 / p99 ms "
        "| server CPU µs per request: facade / baseline "
        "| facade CPU s per process | baseline CPU s per process |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, p1 in r["p1"].items():
        f, b = p1["facade"], p1["baseline"]
        lines.append(
            f"| {label} | {f['rps']:.0f} | {b['rps']:.0f} | {p1['ratio']:.2f} {_verdict(p1['ratio'] >= 0.85)} "
            f"| {f['p50_ms']:.1f} / {f['p99_ms']:.1f} "
            f"| {p1.get('cpu_us_per_request', 0):.0f} / {p1.get('baseline_cpu_us_per_request', 0):.0f} "
            f"| {' / '.join(str(v) for v in p1.get('worker_cpu_seconds', []))} "
            f"| {' / '.join(str(v) for v in p1.get('baseline_worker_cpu_seconds', []))} |"
        )
    e = r["p2_emulator"]
    limit = 3 * r["latency_ms"]
    lines += [
        "",
        f"## P2 uncached Patient reads, 256 connections, athena {r['latency_ms']:.0f} ms away",
        "",
        f"Emulator hit directly: {e['rps']:.0f} req/s, p50 {e['p50_ms']:.1f} ms, p99 {e['p99_ms']:.1f} ms, "
        f"{e['errors']} errors.",
        "",
        "| server | facade req/s | vs emulator (>= 0.8) | p50 ms | p99 ms (<= "
        f"{limit:.0f}) | errors (0) | upstream calls per read | CPU ms per read "
        "| CPU s per process |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, p2 in r["p2"].items():
        f = p2["facade"]
        ratio = f["rps"] / e["rps"] if e["rps"] else 0.0
        lines.append(
            f"| {label} | {f['rps']:.0f} | {ratio:.2f} {_verdict(ratio >= 0.8)} | {f['p50_ms']:.1f} "
            f"| {f['p99_ms']:.1f} {_verdict(f['p99_ms'] <= limit)} | {f['errors']} {_verdict(f['errors'] == 0)} "
            f"| {p2['upstream_calls_per_read']:.2f} | {p2.get('cpu_ms_per_read', 0):.2f} "
            f"| {' / '.join(str(v) for v in p2.get('worker_cpu_seconds', []))} |"
        )
    lines += _p2_budget(r)
    p3, p4 = r["p3"], r["p4"]
    lines += [
        "",
        "## P3 mapping cost per resource (50-entry search Bundle)",
        "",
        f"Facade table mapping + Bundle + orjson: {p3['facade_us']:.1f} µs per resource; "
        f"fhir.resources R4B validate + dump of the same Patients: {p3['models_us']:.1f} µs; "
        f"**{p3['ratio']:.0f}x cheaper** (target >= 20x: {_verdict(p3['ratio'] >= 20)}).",
        "",
        "## P4 single-flight, memory, cache",
        "",
        f"- {p4['identical_reads']} identical concurrent reads of a cold Patient: {p4['identical_ok']} x 200, "
        f"**{p4['identical_upstream_calls']} upstream call(s)** (target 1: "
        f"{_verdict(p4['identical_upstream_calls'] == 1)}).",
        f"- RSS {p4['rss_before_mb']:.0f} MiB before and {p4['rss_after_mb']:.0f} MiB after "
        f"{p4['rss_requests']:,} reads over {len(PATIENT_IDS):,} patients (cache on).",
        f"- Cache hit ratio over that run: {p4['cache_hit_ratio']:.3f}; upstream calls per read: "
        f"{p4['upstream_calls_per_read_cached']:.4f} (uncached P2: about 1 per read).",
        "",
    ]
    p5 = r.get("p5")
    if p5:
        w, du, af = p5["without"], p5["during"], p5["after"]
        lines += [
            "## P5 interactive reads during a Bulk Data export",
            "",
            f"Uncached Patient reads, {p5['connections']} connections, athena "
            f"{r['latency_ms']:.0f} ms away, while a system-level `$export` runs on its own "
            f"rate budget (progress {p5['export_progress'][0]!r} -> {p5['export_progress'][1]!r}; "
            f"still running at the end: {p5['export_running_throughout']}).",
            "",
            "| | req/s | p50 ms | p99 ms | errors |",
            "|---|---|---|---|---|",
            f"| without an export | {w['rps']:.0f} | {w['p50_ms']:.1f} | {w['p99_ms']:.1f} | {w['errors']} |",
            f"| during the export | {du['rps']:.0f} | {du['p50_ms']:.1f} | {du['p99_ms']:.1f} | {du['errors']} |",
            f"| after it (cancelled) | {af['rps']:.0f} | {af['p50_ms']:.1f} | {af['p99_ms']:.1f} | {af['errors']} |",
            "",
            f"p99 during / p99 without (mean of before and after): **{p5['p99_ratio']:.2f}x** "
            f"(target <= 1.5x: {_verdict(p5['p99_ratio'] <= 1.5)}).",
            "",
        ]
    if r.get("p6"):
        lines += render_p6(r["p6"], r["latency_ms"])
    return "\n".join(lines) + scaleout.render_section(r.get("scaleout"))


def _p2_budget(r: dict[str, Any]) -> list[str]:
    """What the machine's cores allow P2: every process's CPU per read, and the ceiling.

    athena (the emulator) and the load generator run on the same cores as the facade, so a
    read through the facade costs the machine its own CPU plus theirs; the cores cap the
    rate at ``cores / (CPU per read)`` however short the facade's latency.
    """
    e = r["p2_emulator"]
    if "emulator_cpu_ms_per_read" not in e:
        return []
    direct = e["emulator_cpu_ms_per_read"] + e.get("generator_cpu_s", 0) * 1000 / max(
        1, e["requests"]
    )
    lines = [
        "",
        f"CPU per read on this {r['cores']}-core machine (ms): athena direct costs the machine "
        f"{direct:.2f} (emulator {e['emulator_cpu_ms_per_read']:.2f} + generator "
        f"{direct - e['emulator_cpu_ms_per_read']:.2f}), so its {e['rps']:.0f} req/s are bound by "
        "the 256 connections and the 50 ms latency, not by the cores. Through the facade:",
        "",
        "| server | facade | athena (emulator) | generator | machine total "
        "| ceiling req/s (cores / total) | ceiling vs emulator direct |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, p2 in r["p2"].items():
        if "emulator_cpu_ms_per_read" not in p2:
            continue
        total = (
            p2["cpu_ms_per_read"] + p2["emulator_cpu_ms_per_read"] + p2["generator_cpu_ms_per_read"]
        )
        ceiling = r["cores"] * 1000 / total if total else 0.0
        lines.append(
            f"| {label} | {p2['cpu_ms_per_read']:.2f} | {p2['emulator_cpu_ms_per_read']:.2f} "
            f"| {p2['generator_cpu_ms_per_read']:.2f} | {total:.2f} | {ceiling:.0f} "
            f"| {ceiling / e['rps'] if e['rps'] else 0:.2f} |"
        )
    return lines


def _plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(r["p1"])
    fig, (left, right, third) = plt.subplots(1, 3, figsize=(18, 4.5))
    x = range(len(labels))
    left.bar(
        [i - 0.2 for i in x],
        [r["p1"][k]["facade"]["rps"] for k in labels],
        0.4,
        label="facade (cached)",
    )
    left.bar(
        [i + 0.2 for i in x],
        [r["p1"][k]["baseline"]["rps"] for k in labels],
        0.4,
        label="bare FastAPI",
    )
    left.set_xticks(list(x), labels)
    left.set_ylabel("requests / s")
    left.set_title("P1 cached Patient read")
    left.legend()
    right.bar(
        list(x), [r["p2"][k]["facade"]["rps"] for k in labels], 0.5, label="facade (uncached)"
    )
    right.axhline(r["p2_emulator"]["rps"], color="black", linestyle="--", label="emulator direct")
    right.set_xticks(list(x), labels)
    right.set_title(f"P2 uncached, 256 clients, {r['latency_ms']:.0f} ms upstream")
    right.legend()
    searches = r.get("p6", {}).get("searches", {})
    names = [n.split("?")[0] + "?" + n.split("?")[1].split("=")[0] for n in searches]
    xs = range(len(names))
    third.bar(
        [i - 0.2 for i in xs],
        [row["facade"]["rps"] for row in searches.values()],
        0.4,
        label="facade",
    )
    third.bar(
        [i + 0.2 for i in xs],
        [row["direct"]["rps"] for row in searches.values()],
        0.4,
        label="athena (emulator) direct",
    )
    third.set_xticks(list(xs), names, rotation=15, fontsize=8)
    third.set_title(f"P6 searches, 32 clients, {r['latency_ms']:.0f} ms upstream")
    third.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(run(quick="--quick" in sys.argv))
