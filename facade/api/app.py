"""App factory: settings in, a FastAPI app out; clients and stores live in the lifespan."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

import httpx
from fastapi import FastAPI

from facade import collector
from facade.api import (
    errors,
    routes_auth,
    routes_bulk,
    routes_fhir,
    routes_ops,
    routes_subscriptions,
    routes_write,
)
from facade.api.fastpath import CorsWhenOrigin, PlainFastPath
from facade.api.head import HeadAsGet
from facade.api.headers import security_headers
from facade.api.limits import Limits, RequestLimits
from facade.api.timing import RequestEnvelope
from facade.bulk import open_bulk
from facade.engine.runtime import load_checked_mappings, open_services
from facade.engine.services import Services
from facade.events.runtime import open_events
from facade.mcp.http import McpEndpoint
from facade.settings import Settings


def _quiet_libraries() -> None:
    """httpx logs every request URL at INFO — athena paths and queries carry patient ids
    and names. The facade's own logs say what happened without them."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def create_serving_app() -> FastAPI:
    """The app a server process runs (``athena-facade serve``: each uvicorn or granian
    worker calls this): :func:`create_app` with the process's garbage collector tuned
    once the services are open (facade/collector.py)."""
    return create_app(tune_process=True)


def create_app(
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    tune_process: bool = False,
) -> FastAPI:
    settings = settings or Settings()
    _quiet_libraries()
    mappings = load_checked_mappings()  # at creation: an unregistered workflow hook fails here
    software = version("athena-fhir-facade")
    mcp = McpEndpoint(settings, mappings, lambda: app.state.services)  # MCP at /mcp
    # the running services, for the middlewares (twice per request: a dict lookup, where
    # ``app.state`` goes through starlette's ``State.__getattr__``)
    live: dict[str, Services] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_services(settings, mappings=mappings, transport=transport) as services,
            mcp.running(),
        ):
            app.state.services = live["services"] = services
            if tune_process:
                collector.tune(settings.gc_young_threshold, freeze=settings.gc_freeze)
            async with open_events(services) as events:
                app.state.events = events
                if not settings.bulk_enabled:
                    yield
                    return
                async with open_bulk(services) as bulk:
                    app.state.bulk = bulk
                    yield

    app = FastAPI(
        title="athena-fhir-facade",
        version=software,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # FastAPI's built-in OpenTelemetry would record exception messages (PHI risk) and
        # read the environment on every request (~5% of an uncached read): off.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    errors.install(app)
    # added last = outermost: the envelope (deadline, request id, Server-Timing, security
    # headers, the audit capture, the access log, unexpected errors) around CORS, the
    # request limits, the fast path and the router
    services = functools.partial(live.get, "services")  # None until the lifespan starts
    app.add_middleware(PlainFastPath, services=services)
    app.add_middleware(
        RequestLimits,
        limits=Limits.from_settings(settings),
        deadline_seconds=settings.request_deadline_seconds,
    )
    app.add_middleware(HeadAsGet)  # inside CORS and the envelope: routed as GET
    if settings.cors_origins:  # SMART browser apps call discovery, token and FHIR cross-origin
        app.add_middleware(
            CorsWhenOrigin,  # starlette's CORS, skipped for requests without Origin
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Accept",
                "Prefer",
                "Idempotency-Key",
                "If-None-Exist",
            ],
            expose_headers=[
                "Location",
                "ETag",
                "Retry-After",
                "WWW-Authenticate",
                "Content-Location",  # Bulk Data: the status URL, its progress and expiry
                "X-Progress",
                "Expires",
            ],
            max_age=600,
        )
    app.add_middleware(
        RequestEnvelope,
        deadline_seconds=settings.request_deadline_seconds,
        headers=security_headers(settings),
        services=services,
        cors=bool(settings.cors_origins),  # Vary: Origin on the answers CORS leaves alone
    )
    app.include_router(routes_bulk.router)  # first: $export, Group and bulk status/files
    app.include_router(routes_subscriptions.router)  # Subscription is not a mapping table
    app.include_router(routes_write.router)  # then Type/$op before the read route
    app.include_router(routes_fhir.router)
    app.include_router(routes_auth.router)
    app.include_router(routes_ops.router)
    app.router.routes.extend(mcp.routes())  # /mcp and its RFC 9728 documents
    return app
