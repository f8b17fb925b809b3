"""The engine's composition root: settings in, :class:`Services` out, for every entry point.

The HTTP app's lifespan, and any entry point that runs interactions without an
HTTP request (MCP, bulk jobs, the event engine, a sync), open the same
:class:`Services` here: upstream client, authorization server, cache, ledger,
the tables and the workflows registered against them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

import httpx

import facade.workflows  # noqa: F401  (registers every workflow with the engine)
from capability.operations import operation_definitions
from capability.statement import capability_statement, openid_configuration, smart_configuration
from facade.audit.runtime import open_recorder
from facade.audit.runtime import prune as prune_audit
from facade.auth.factory import auth_endpoints, build_authorization_server
from facade.auth.keys import KeyRing
from facade.auth.tokens import TokenIssuer
from facade.cache import EntityCache
from facade.drift.monitor import packaged as contract_monitor
from facade.engine import registry
from facade.engine.directory import DepartmentDirectory
from facade.engine.services import Services
from facade.mapping.loader import Mappings, load_mappings
from facade.search import CursorCodec
from facade.settings import Settings
from facade.store.bulk import SqliteBulkJobStore
from facade.store.eligibility import SqliteEligibilityStore
from facade.store.events import EventStore
from facade.store.ledger import SqliteLedger
from facade.store.sqlite import SqliteAuthStore
from facade.upstream.breaker import BreakerConfig, Breakers
from facade.upstream.budget import BudgetConfig, RateBudget
from facade.upstream.client import AthenaClient, RetryPolicy
from facade.upstream.token import TokenProvider
from facade.upstream.transport import make_http_client
from facade.vault.runtime import generated_signing_key, open_vault, resolve


def signing_key(settings: Settings) -> bytes:
    """The server's HMAC master key: configured, or generated once and kept in data_dir.

    Kept on disk so that tokens and paging links survive a restart.
    """
    if settings.signing_secret is not None:
        return settings.signing_secret.get_secret_value().encode("utf-8")
    kept = generated_signing_key(settings)  # in the vault, when one is configured
    if kept is not None:
        return kept
    path = settings.data_dir / "signing.key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # created atomically: two processes starting at once (CLI commands) keep the same key
    draft = path.with_name(f".signing.key.{os.getpid()}")
    draft.write_text(secrets.token_bytes(32).hex())
    draft.chmod(0o600)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return bytes.fromhex(path.read_text().strip())


def prepare_state(settings: Settings) -> None:
    """Create the data directory's state once, before worker processes start.

    Workers start together; left to themselves they would race to generate the
    signing key and the id_token keys (each keeping a different one) and to
    switch the SQLite files to WAL. The server's parent runs this first.
    Expired codes, refresh tokens, revocations and launches, and finished idempotency
    records past their retention, are purged here too, once per start. (Expired bulk
    exports are purged by the workers' runners, which also delete their files.)
    """
    now = int(time.time())
    settings = resolve(settings)
    signing_key(settings)
    KeyRing.load_or_create(settings.data_dir / "jwks.json")
    store = SqliteAuthStore(settings.data_dir / "auth.sqlite3")
    store.purge(now)
    store.close()
    ledger = SqliteLedger(settings.data_dir / "idempotency.sqlite3")
    ledger.purge(now - settings.idempotency_retention_seconds)
    ledger.close()
    if settings.events_enabled:
        events = EventStore(settings.data_dir / "events.sqlite3")
        events.purge(now - settings.events_retention_seconds)
        events.close()
    SqliteEligibilityStore(settings.data_dir / "eligibility.sqlite3").close()
    SqliteBulkJobStore(settings.data_dir / "bulk.sqlite3").close()  # created (and WAL) once
    if settings.audit_enabled:
        prune_audit(settings, now)


def derive(key: bytes, purpose: str) -> bytes:
    return hmac.new(key, purpose.encode(), hashlib.sha256).digest()


def load_checked_mappings() -> Mappings:
    """The tables, with every workflow hook they name registered (else the start fails)."""
    mappings = load_mappings()
    registry.check(mappings)
    return mappings


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    mappings: Mappings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Services]:
    """Everything a request needs, open for the lifetime of the block."""
    settings = resolve(settings)  # secrets from the vault, when one is configured
    mappings = mappings or load_checked_mappings()
    software = version("athena-fhir-facade")
    endpoints = auth_endpoints(settings)
    http = make_http_client(
        max_connections=settings.upstream_max_connections,
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_read_timeout,
        transport=transport,
        kind=settings.upstream_transport,
    )
    base = settings.upstream_base()
    client_id, client_secret = settings.upstream_credentials()
    tokens = TokenProvider(
        http,
        f"{base}/oauth2/v1/token",
        client_id,
        client_secret,
        settings.athena_scope,
        refresh_margin=settings.upstream_token_refresh_margin,
    )
    key = signing_key(settings)
    issuer = TokenIssuer(
        derive(key, "access-token"),
        issuer=settings.base_url,
        audience=settings.fhir_base,
        audiences=settings.resource_indicators,
        ttl_seconds=settings.token_ttl_seconds,
    )
    authz = build_authorization_server(settings, issuer, derive(key, "authorize-session"))
    athena = AthenaClient(
        http,
        base,
        tokens,
        # each worker process keeps its own bucket: split the deployment's budget
        budget=RateBudget(
            BudgetConfig(
                rate=settings.upstream_rate_per_second / settings.workers,
                burst=max(1, settings.upstream_burst // settings.workers),
                max_wait=settings.upstream_queue_max_wait,
                max_waiters=settings.upstream_queue_max_waiters,
            )
        ),
        breakers=Breakers(
            BreakerConfig(
                threshold=settings.breaker_failure_threshold,
                open_seconds=settings.breaker_open_seconds,
            )
        ),
        retry=RetryPolicy(
            attempts=settings.upstream_retry_attempts,
            base=settings.upstream_retry_base_seconds,
            cap=settings.upstream_retry_cap_seconds,
        ),
        default_deadline=settings.request_deadline_seconds,
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_read_timeout,
    )
    athena.monitor = contract_monitor()  # athena's answers against contracts/ (facade/drift)
    services = Services(
        settings=settings,
        mappings=mappings,
        athena=athena,
        issuer=issuer,
        cache=EntityCache(
            {rtype: table.ttl_seconds for rtype, table in mappings.tables.items()},
            max_entries=settings.cache_max_entries,
            enabled=settings.cache_enabled,
        ),
        cursors=CursorCodec(derive(key, "cursor"), ttl_seconds=settings.cursor_ttl_seconds),
        capability=capability_statement(
            mappings,
            fhir_base=settings.fhir_base,
            software_version=software,
            endpoints=endpoints,
            cors=bool(settings.cors_origins),
            bulk=settings.bulk_enabled,
        ),
        smart_configuration=smart_configuration(
            mappings, issuer=settings.base_url, endpoints=endpoints
        ),
        authz=authz.server,
        openid_configuration=openid_configuration(
            mappings, issuer=settings.base_url, endpoints=endpoints
        ),
        directory=DepartmentDirectory(athena),
        ledger=SqliteLedger(settings.data_dir / "idempotency.sqlite3"),
        operation_definitions=operation_definitions(mappings, fhir_base=settings.fhir_base),
        eligibility=SqliteEligibilityStore(settings.data_dir / "eligibility.sqlite3"),
        audit=open_recorder(settings, key),
        vault=open_vault(settings),
    )
    try:
        yield services
    finally:
        services.audit.close()  # drains the queue: nothing recorded is lost on shutdown
        services.eligibility.close()
        services.ledger.close()
        await authz.aclose()
        await http.aclose()
