"""Operational endpoints outside the FHIR base: counters only, never PHI."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse

from facade.api.deps import ServicesDep

router = APIRouter()


@router.get("/metrics")
async def metrics(services: ServicesDep) -> PlainTextResponse:
    """Prometheus text format: upstream calls, cache, budget and breaker counters."""
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
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
