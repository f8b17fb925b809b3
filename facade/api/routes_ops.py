"""Operational endpoints outside the FHIR base: health, readiness and counters, never PHI."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, PlainTextResponse

from facade.api import metrics_guard
from facade.api.deps import ServicesDep
from facade.engine.services import Services

router = APIRouter()
log = logging.getLogger("facade.ops")
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """Liveness: the process answers (for a supervisor or an orchestrator's liveness probe)."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the services are open and the durable store answers (503 otherwise).

    athena's own health does not decide readiness: every host shares it, and taking them
    all out of a load balancer because athena is slow would turn 503s into connection
    errors. The circuit breakers' states are reported for information.
    """
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        return JSONResponse({"status": "starting"}, 503, headers=NO_STORE)
    try:
        await services.ledger.get("readyz")
    except Exception as exc:  # any store failure means not ready; logged without detail
        log.warning("readyz: the durable store did not answer (%s)", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "store": "error"}, 503, headers=NO_STORE)
    breakers = {
        f"{practice}/{surface}": breaker.state
        for (practice, surface), breaker in sorted(services.athena.breakers.breakers.items())
    }
    return JSONResponse(
        {"status": "ready", "store": "ok", "upstream_breakers": breakers}, headers=NO_STORE
    )


@router.get("/metrics", response_model=None)
async def metrics(request: Request, services: ServicesDep) -> PlainTextResponse | JSONResponse:
    """Prometheus text format: upstream calls, cache, budget and breaker counters, and
    athena contract violations (facade/drift). Guarded: facade/api/metrics_guard.py."""
    refused = metrics_guard.refusal(request, services.settings)
    if refused is not None:
        return refused
    athena = services.athena
    cache = services.cache
    lines = [
        "# TYPE facade_upstream_calls_total counter",
        f"facade_upstream_calls_total {athena.calls}",
        "# TYPE facade_upstream_token_requests_total counter",
        f"facade_upstream_token_requests_total {athena.tokens.requests}",
        "# TYPE facade_singleflight_shared_total counter",
        f"facade_singleflight_shared_total {athena.shared_reads}",
        "# TYPE facade_cache_hits_total counter",
        f"facade_cache_hits_total {cache.hits}",
        "# TYPE facade_cache_misses_total counter",
        f"facade_cache_misses_total {cache.misses}",
    ]
    for (practice, surface), bucket in sorted(athena.budget.buckets.items()):
        labels = f'practice="{practice}",surface="{surface}"'
        lines.append(f"facade_budget_throttled_total{{{labels}}} {bucket.throttled}")
        lines.append(f"facade_budget_rate{{{labels}}} {bucket.rate:.3f}")
    for (practice, surface), breaker in sorted(athena.breakers.breakers.items()):
        labels = f'practice="{practice}",surface="{surface}"'
        lines.append(f"facade_breaker_opens_total{{{labels}}} {breaker.opens}")
    if athena.monitor is not None:
        lines += athena.monitor.metric_lines()
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
