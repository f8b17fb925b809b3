"""``athena-facade cluster``: the scale-out topology on loopback, without containers
(``make cluster``): N facade hosts, one PostgreSQL, one Redis, HAProxy in front, and the
athenahealth emulator (or ``FACADE_ATHENA_BASE_URL``). Runs until interrupted, then stops
everything it started. The same topology as ``deploy/compose.yaml``."""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
from pathlib import Path

from facade.cluster.topology import Cluster


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cluster = sub.add_parser(
        "cluster",
        help="N facade hosts on PostgreSQL + Redis behind HAProxy, on loopback (no containers)",
    )
    cluster.add_argument("--hosts", type=int, default=2, help="facade hosts (default 2)")
    cluster.add_argument("--workers", type=int, default=1, help="worker processes per host")
    cluster.add_argument(
        "--dir", default=None, help="where the cluster's state goes (default: a temporary one)"
    )
    cluster.add_argument("--no-redis", action="store_true", help="PostgreSQL only")
    cluster.add_argument("--log-level", default="info")
    cluster.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="facade-cluster-"))
    cluster = Cluster(
        root,
        hosts=args.hosts,
        workers=args.workers,
        athena_url=os.environ.get("FACADE_ATHENA_BASE_URL"),
        redis=not args.no_redis,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cluster.start()
    try:
        assert cluster.postgres is not None
        print(f"FHIR base (HAProxy): {cluster.url}/fhir/r4", flush=True)
        for host in cluster.members:
            print(f"  {host.name}: {host.url} (log {host.log})", flush=True)
        print(f"  PostgreSQL: {cluster.postgres.url}", flush=True)
        if cluster.redis_server is not None:
            print(f"  Redis: {cluster.redis_server.url}", flush=True)
        print(f"state in {root}; Ctrl-C stops everything", flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0
