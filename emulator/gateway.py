"""The API gateway in front of every emulated endpoint (API-NOTES sections 4.2, 4.3, 7.4).

:func:`endpoint` wraps a handler with what athena's gateway does before and
after athenaNet: call counting (for tests), request id, Bearer token, API
budget with quota headers, scope checks, and rendering of typed errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from starlette.requests import Request
from starlette.responses import Response

from emulator.access import bearer_token, require_fhir, require_v1
from emulator.errors import EmulatorError, ThrottledError, render

if TYPE_CHECKING:
    from emulator.world import World

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Need:
    """What a route requires: ``v1``, ``fhir`` (with resource + interaction) or ``public``."""

    surface: Literal["v1", "fhir", "public"]
    resource: str = ""
    interaction: str = ""


V1 = Need("v1")
PUBLIC = Need("public")


def fhir(resource: str, interaction: str) -> Need:
    return Need("fhir", resource, interaction)


def _throttled(
    world: World, reason: str, retry_after: int, headers: dict[str, str]
) -> ThrottledError:
    # [G] Apigee's stock fault bodies for spike arrest / quota violations.
    if reason == "second":
        fault = {
            "faultstring": f"Spike arrest violation. Allowed rate : {world.config.api_requests_per_second}ps",
            "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
        }
    else:
        fault = {
            "faultstring": "Rate limit quota violation. Quota limit exceeded.",
            "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
        }
    return ThrottledError(retry_after, {"fault": fault}, headers)


def endpoint(template: str, need: Need, handler: Handler) -> Handler:
    """Wrap ``handler``; ``template`` (e.g. ``/v1/{practiceid}/patients``) keys the call log."""

    async def guarded(request: Request) -> Response:
        world: World = request.app.state.emulator
        config = world.config
        world.record_call(request.method, template)
        headers = {
            config.request_id_header: request.headers.get(config.request_id_header)
            or uuid.uuid4().hex
        }
        try:
            if need.surface != "public":
                token = bearer_token(world, request)
                decision = world.budget.charge(token.client_id)
                headers[config.quota_limit_header] = str(decision.daily_limit)
                headers[config.quota_remaining_header] = str(decision.daily_remaining)
                if not decision.allowed:
                    raise _throttled(world, decision.reason, decision.retry_after, {})
                if need.surface == "v1":
                    require_v1(token)
                else:
                    require_fhir(token, need.resource, need.interaction)
            response = await handler(request)
        except EmulatorError as error:
            response = render(error)
        for name, value in headers.items():
            response.headers[name] = value
        return response

    guarded.__name__ = getattr(handler, "__name__", "endpoint")
    return guarded
