"""Request dependencies as named ``Annotated`` aliases, so route signatures read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from facade.api.negotiation import Negotiated, negotiate
from facade.auth.context import AuthContext
from facade.engine.services import Services
from facade.errors import Unauthorized


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# Dependencies are coroutines: FastAPI runs plain ``def`` dependencies in a
# thread pool, which measured at several times the cost of the whole cached read.
async def get_services(request: Request) -> Services:
    return services_of(request)


async def get_negotiated(request: Request) -> Negotiated:
    q = request.query_params
    return negotiate(request.headers.get("accept"), q.get("_format"), q.get("_pretty"))


async def get_auth(request: Request) -> AuthContext:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("An access token is required", error="invalid_request")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "The Authorization header must be 'Bearer <token>'", error="invalid_request"
        )
    auth = services_of(request).authz.authenticate_bearer(token.strip())
    request.state.client_id = auth.client_id
    return auth


ServicesDep = Annotated[Services, Depends(get_services)]
Negotiation = Annotated[Negotiated, Depends(get_negotiated)]
Auth = Annotated[AuthContext, Depends(get_auth)]
