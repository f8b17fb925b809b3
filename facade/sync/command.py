"""``athena-facade sync``: its arguments and its run (registered by :mod:`facade.cli`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

import httpx

SECRET_ENV = "FACADE_SYNC_CLIENT_SECRET"
INTERRUPTED = 130


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sync = sub.add_parser(
        "sync",
        help="copy everything a Backend Services client may read into a SQL warehouse",
        description="Incremental warehouse sync over Bulk Data $export (README: Warehouse sync).",
    )
    sync.add_argument(
        "--to",
        default=None,
        help="duckdb:///path/file.duckdb (default {FACADE_DATA_DIR}/warehouse.duckdb)"
        " or postgresql://user@host/db",
    )
    sync.add_argument("--base", default=None, help="the facade's FHIR base (default: this one's)")
    sync.add_argument(
        "--client-id", default=None, help="Backend Services client (embedded: local-dev)"
    )
    sync.add_argument("--key", default=None, help="its private key (JWK, JWKS or PEM file)")
    sync.add_argument(
        "--client-secret", default=None, help=f"a client secret instead of a key ({SECRET_ENV})"
    )
    sync.add_argument("--scope", default="system/*.rs")
    sync.add_argument(
        "--types", action="append", default=None, help="only these types (comma list; repeat)"
    )
    sync.add_argument(
        "--full", action="store_true", help="export everything again; unlisted rows -> deleted"
    )
    sync.add_argument("--every", default=None, help="keep syncing on a schedule, e.g. 15m")
    sync.add_argument(
        "--reconcile-every",
        default=None,
        help="export incremental types in full this often (deletions), e.g. 1d",
    )
    sync.add_argument("--runs", type=int, default=None, help="with --every: stop after N runs")
    sync.add_argument(
        "--overlap", default="60s", help="_since reaches back this far before the last export"
    )
    sync.add_argument("--progress", choices=["auto", "bar", "lines"], default="auto")
    sync.add_argument("--log-level", default="warning")
    sync.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facade.mapping.loader import load_mappings
    from facade.settings import DEV_CLIENT_ID, Settings
    from facade.sync.client import BulkClient, BulkError, Credentials, load_key
    from facade.sync.progress import reporter
    from facade.sync.run import Options, Sync, SyncError, every, parse_interval, types_argument
    from facade.sync.warehouse import TargetError, open_warehouse

    logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs carry ids
    settings = Settings()
    secret = args.client_secret or os.environ.get(SECRET_ENV)
    client_id = args.client_id
    if client_id is None and args.key is None and secret is None:
        if settings.environment != "embedded":
            print("give --client-id and --key (or --client-secret)", file=sys.stderr)
            return 2
        client_id, secret = DEV_CLIENT_ID, settings.dev_client_secret.get_secret_value()
    if client_id is None:
        print("--key and --client-secret need --client-id", file=sys.stderr)
        return 2
    try:
        key = load_key(Path(args.key)) if args.key else None
        interval = parse_interval(args.every) if args.every else None
        overlap = timedelta(seconds=parse_interval(args.overlap))
        reconcile = (
            timedelta(seconds=parse_interval(args.reconcile_every))
            if args.reconcile_every
            else None
        )
    except (OSError, ValueError, BulkError) as exc:
        print(f"sync: {exc}", file=sys.stderr)
        return 2
    if key is None and secret is None:
        print("--client-id needs --key or --client-secret", file=sys.stderr)
        return 2
    credentials = Credentials(client_id, key=key, secret=secret, scope=args.scope)
    target = args.to or f"duckdb:///{(settings.data_dir / 'warehouse.duckdb').resolve()}"
    options = Options(
        types=types_argument(args.types), full=args.full, overlap=overlap, reconcile=reconcile
    )
    mappings = load_mappings()
    try:
        warehouse = open_warehouse(target)
    except (TargetError, OSError) as exc:
        print(f"sync: cannot open {target}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the database driver's own errors
        print(f"sync: cannot open the warehouse: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    client = BulkClient(args.base or settings.fhir_base, credentials)

    def once() -> None:
        shown = reporter(args.progress)
        try:
            Sync(client, warehouse, mappings, shown, options).run_once()
        except httpx.HTTPError as exc:
            raise BulkError(f"the facade could not be reached: {type(exc).__name__}") from exc
        finally:
            shown.close()

    def failed(exc: Exception) -> None:
        print(f"sync failed: {exc}", file=sys.stderr, flush=True)

    try:
        if interval is None:
            try:
                once()
            except (BulkError, SyncError) as exc:
                failed(exc)
                return 1
            return 0
        return 1 if every(once, interval, runs=args.runs, on_error=failed) else 0
    except KeyboardInterrupt:
        print("\ninterrupted: what was stored is kept; the next run resumes", file=sys.stderr)
        return INTERRUPTED
    finally:
        client.close()
        warehouse.close()
