"""Scale-out section of ``athena-facade bench`` (README "Scale-out"), also runnable alone:
``python -m bench.scaleout [--quick]``.

- S1 cached and S2 uncached Patient reads through HAProxy: two facade hosts on shared
  state (PostgreSQL + Redis, facade/cluster/topology.py) vs one host on embedded state
  (SQLite + in process) behind the same balancer, same emulator, same run: the ratios;
- S3 the cost per request of what Redis adds, in process against the same real Redis:
  a shared rate-budget reservation (GCRA script) vs the local bucket, a cache hit's
  generation check vs a local hit, and a write's cache invalidation (INCR + PUBLISH) vs
  dropping a local entry.

All on one machine: two hosts share its cores with the load generator, the balancer and
the emulator, so the ratio says what the shared state costs here, not how far two
machines scale.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.load import run_load
from facade.cache import EntityCache, render
from facade.cluster.servers import HAProxyServer, RedisServer
from facade.cluster.topology import Cluster
from facade.store.shared import RedisLink, SharedEntityCache
from facade.upstream.budget import Bucket, BudgetConfig, SharedBucket, SharedBudget

READ = "/fhir/r4/Patient/a-195900.E-60178"
UNLIMITED = {
    "FACADE_UPSTREAM_RATE_PER_SECOND": "1000000",
    "FACADE_UPSTREAM_BURST": "1000000",
    "FACADE_UPSTREAM_MAX_CONNECTIONS": "512",
    "FACADE_EVENTS_FEEDS": "[]",
}


def measure(bench: Any, seconds: float) -> dict[str, Any]:
    """Both topologies, cached and uncached, then the per-request costs."""
    from bench.run import Config, _paths

    paths = _paths()
    out: dict[str, Any] = {"seconds": seconds}
    for cached in (True, False):
        kind = "cached" if cached else "uncached"
        load_paths = [READ] if cached else paths
        # one host, embedded state, behind the balancer
        host = bench.start_facade(
            Config("uvicorn", 1), cache=cached, extra={"FACADE_EVENTS_FEEDS": "[]"}
        )
        port = host.base.rsplit(":", 1)[1]
        balancer = HAProxyServer(bench.work / f"lb-{kind}", [("facade1", f"127.0.0.1:{port}")])
        balancer.start()
        try:
            headers = {"Authorization": f"Bearer {bench.facade_token(balancer.url)}"}
            single = run_load(
                balancer.url, load_paths, connections=64, seconds=seconds, headers=headers
            )
        finally:
            balancer.stop()
            bench.stop(host)
        env = {**UNLIMITED, "FACADE_CACHE_ENABLED": "true" if cached else "false"}
        cluster = Cluster(
            bench.work / f"cluster-{kind}",
            hosts=2,
            athena_url=bench.emulator.base,
            extra_env=env,
        ).start()
        try:
            headers = {"Authorization": f"Bearer {bench.facade_token(cluster.url)}"}
            shared = run_load(
                cluster.url, load_paths, connections=64, seconds=seconds, headers=headers
            )
        finally:
            cluster.stop()
        out[kind] = {
            "one_host_embedded": asdict(single),
            "two_hosts_shared": asdict(shared),
            "ratio": shared.rps / max(single.rps, 1e-9),
        }
    out["costs"] = costs(bench.work / "redis", repeats=2000 if bench.quick else 20000)
    return out


def _per_op_us(fn: Any, repeats: int) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats * 1e6


def costs(root: Path, repeats: int) -> dict[str, float]:
    """Microseconds per operation, local vs through Redis (same process, real Redis)."""
    server = RedisServer(root).start()
    link = RedisLink(server.url)
    try:
        config = BudgetConfig(rate=1e9, burst=10**9, max_wait=1.0, max_waiters=10)
        local_bucket = Bucket(config)
        shared_bucket = SharedBucket(config, SharedBudget(link.reserve, 1e9, 10**9), "bench:x")

        async def acquire(bucket: Bucket) -> float:
            started = time.perf_counter()
            for _ in range(repeats):
                await bucket.acquire(1.0)
            return (time.perf_counter() - started) / repeats * 1e6

        ttls = {"Patient": 300}
        local_cache = EntityCache(ttls, max_entries=1000)
        shared_cache = SharedEntityCache(ttls, max_entries=1000, enabled=True, link=link)
        entry = render({"resourceType": "Patient", "id": "x"})
        for cache in (local_cache, shared_cache):
            cache.put("Patient", "1", "x", "*", entry)
        return {
            "budget_local_us": asyncio.run(acquire(local_bucket)),
            "budget_shared_us": asyncio.run(acquire(shared_bucket)),
            "cache_hit_local_us": _per_op_us(
                lambda: local_cache.get("Patient", "1", "x", "*"), repeats
            ),
            "cache_hit_shared_us": _per_op_us(
                lambda: shared_cache.get("Patient", "1", "x", "*"), repeats
            ),
            "invalidate_local_us": _per_op_us(
                lambda: local_cache.invalidate("Patient", "1", "x"), repeats
            ),
            "invalidate_shared_us": _per_op_us(
                lambda: shared_cache.invalidate("Patient", "1", "x"), repeats
            ),
        }
    finally:
        link.close()
        server.stop()


def render_section(r: dict[str, Any] | None) -> str:
    if not r:
        return ""
    lines = [
        "",
        "## Scale-out: two hosts on PostgreSQL + Redis vs one host embedded, both behind HAProxy",
        "",
        f"64 connections, {r['seconds']:.0f} s each, same emulator; one machine for all of it.",
        "",
        "| reads | one host embedded req/s (p99 ms) | two hosts shared req/s (p99 ms) | ratio |",
        "|---|---|---|---|",
    ]
    for kind in ("cached", "uncached"):
        one, two = r[kind]["one_host_embedded"], r[kind]["two_hosts_shared"]
        lines.append(
            f"| {kind} | {one['rps']:.0f} ({one['p99_ms']:.1f}) | {two['rps']:.0f} "
            f"({two['p99_ms']:.1f}) | {r[kind]['ratio']:.2f} |"
        )
    c = r["costs"]
    lines += [
        "",
        "Per request, in process against the same Redis (µs): "
        f"rate-budget reservation {c['budget_local_us']:.1f} local vs {c['budget_shared_us']:.1f} "
        f"shared (GCRA script); cache hit {c['cache_hit_local_us']:.1f} vs "
        f"{c['cache_hit_shared_us']:.1f} (generation check); a write's invalidation "
        f"{c['invalidate_local_us']:.1f} vs {c['invalidate_shared_us']:.1f} (INCR + PUBLISH).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    from bench.run import Bench

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    bench = Bench(args.quick, args.latency_ms, Path(tempfile.mkdtemp(prefix="facade-scale-")))
    try:
        bench.emulator = bench.start_emulator()
        result = measure(bench, 2.0 if args.quick else 8.0)
    finally:
        bench.stop_all()
    print(render_section(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
