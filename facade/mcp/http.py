"""MCP Streamable HTTP at ``{base}/mcp``, an OAuth 2.1 resource server of the facade's own
authorization server (MCP 2025-11-25 "Authorization", RFC 9728, RFC 8707, RFC 6750).

- ``/mcp`` (GET, POST, DELETE): a bearer token is required on every request. It is
  verified exactly as on FHIR routes (:meth:`AuthorizationServer.authenticate_bearer`:
  signature, issuer, expiry, revocation) and must carry one of this server's audiences
  (the FHIR base, the MCP endpoint, the base URL: one resource server). Without one:
  ``401`` with ``WWW-Authenticate: Bearer resource_metadata="{base}/.well-known/
  oauth-protected-resource/mcp", scope="…"`` (and ``error="invalid_token"`` for a
  bad token). The token is never sent anywhere: athena is called with the facade's own
  credentials.
- ``/.well-known/oauth-protected-resource/mcp``: the RFC 9728 document of the MCP
  endpoint; ``/.well-known/oauth-protected-resource``: the one of the server as a whole
  (``resource`` is the base URL, RFC 9728 §3.1). Both name the facade as the
  authorization server (its ``/.well-known/openid-configuration``).
- stateless (``stateless_http``): no session lives in one worker's memory, so any worker
  serves any request; tools need no server-to-client requests.
- Host and Origin checks against DNS rebinding (the public base URL, the bind address,
  loopback, and the configured CORS origins).

The facade's app adds :meth:`McpEndpoint.routes` and runs :meth:`McpEndpoint.running`
in its lifespan.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from mcp.server import ServerRequestContext
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from facade.auth.context import AuthContext
from facade.engine.services import Services
from facade.errors import Unauthorized
from facade.mapping.loader import Mappings
from facade.mcp.server import build_server
from facade.settings import Settings

PATH = "/mcp"
METADATA = "/.well-known/oauth-protected-resource"
STATE_KEY = "facade_mcp_auth"
# What a client with no token is told to ask for (MCP clients request the challenge's
# scope): every tool over one patient's record for a user's app (a clinician picks the
# patient, a patient user gets her own), read-only system access for a backend client.
# The authorization server grants only what the client may have: system/ scopes never
# through authorize, patient/ ones never through client_credentials.
CHALLENGE_SCOPE = "launch/patient openid fhirUser patient/*.rs patient/Appointment.cu system/*.rs"


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class BearerGuard:
    """ASGI: the request's bearer token -> :class:`AuthContext`, else a 401 challenge."""

    def __init__(self, app: ASGIApp, services: Callable[[], Services], settings: Settings) -> None:
        self.app = app
        self.services = services
        self.metadata_url = f"{settings.base_url}{METADATA}{PATH}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization", "")
        kind, _, token = header.partition(" ")
        if not header or kind.lower() != "bearer" or not token.strip():
            await self._challenge(scope, receive, send, None)
            return
        try:
            auth = self.services().authz.authenticate_bearer(token.strip())
        except Unauthorized as exc:
            await self._challenge(scope, receive, send, exc.diagnostics)
            return
        scopes = [s.text for s in auth.scopes.scopes] + list(auth.scopes.other)
        scope["user"] = AuthenticatedUser(
            AccessToken(
                token=token.strip(),
                client_id=auth.client_id,
                scopes=scopes,
                expires_at=auth.expires_at,
                subject=auth.subject,
            )
        )
        scope["auth"] = AuthCredentials(scopes)
        scope.setdefault("state", {})[STATE_KEY] = auth
        await self.app(scope, receive, send)

    async def _challenge(
        self, scope: Scope, receive: Receive, send: Send, problem: str | None
    ) -> None:
        parts = [f'resource_metadata="{self.metadata_url}"', f'scope="{CHALLENGE_SCOPE}"']
        if problem is not None:  # RFC 6750 §3.1: no error code when no token was sent
            parts[:0] = ['error="invalid_token"', f'error_description="{_quoted(problem)}"']
        body = {
            "error": "invalid_token" if problem else "invalid_request",
            "error_description": problem or "An access token is required",
        }
        response = JSONResponse(
            body, status_code=401, headers={"WWW-Authenticate": "Bearer " + ", ".join(parts)}
        )
        await response(scope, receive, send)


class HttpIdentity:
    """The caller of an HTTP tool call: the AuthContext :class:`BearerGuard` put on the request."""

    async def auth(self, ctx: ServerRequestContext[Any, Any]) -> AuthContext:
        request = ctx.request
        found = request.scope.get("state", {}).get(STATE_KEY) if request is not None else None
        if not isinstance(found, AuthContext):
            raise Unauthorized("An access token is required")
        if found.expires_at <= time.time():
            raise Unauthorized("The access token has expired")
        return found

    def request(self, ctx: ServerRequestContext[Any, Any]) -> str:
        session = None
        if isinstance(ctx.request, Request):
            session = ctx.request.headers.get("mcp-session-id")
        return f"http:{session or '-'}:{ctx.request_id}"


def protected_resource(settings: Settings, scopes: list[str], *, resource: str) -> dict[str, Any]:
    """An RFC 9728 §2 protected resource metadata document."""
    return {
        "resource": resource,
        "authorization_servers": [settings.base_url],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "athena FHIR facade (FHIR R4 and MCP)",
    }


def transport_security(settings: Settings) -> TransportSecuritySettings:
    public = urlsplit(settings.base_url)
    hosts = {public.netloc, f"{settings.host}:{settings.port}", "127.0.0.1:*", "localhost:*"}
    hosts.add("[::1]:*")
    origins = {f"{public.scheme}://{public.netloc}", "http://127.0.0.1:*", "http://localhost:*"}
    origins.update(o for o in settings.cors_origins if o != "*")
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(hosts),
        allowed_origins=sorted(origins),
    )


class McpEndpoint:
    """The MCP endpoint of one facade app (one per worker process)."""

    def __init__(
        self, settings: Settings, mappings: Mappings, services: Callable[[], Services]
    ) -> None:
        self.settings = settings
        self.services = services
        self.server = build_server(services, mappings, HttpIdentity())
        self.manager = StreamableHTTPSessionManager(
            app=self.server,
            stateless=True,
            security_settings=transport_security(settings),
            max_request_body_size=settings.max_body_bytes,
        )

    def routes(self) -> list[BaseRoute]:
        guarded = BearerGuard(
            AuthContextMiddleware(StreamableHTTPASGIApp(self.manager)),
            self.services,
            self.settings,
        )

        def document(resource: str) -> Callable[[Request], Any]:
            async def endpoint(request: Request) -> JSONResponse:
                listed = self.services().smart_configuration.get("scopes_supported")
                scopes = [str(s) for s in listed] if isinstance(listed, list) else []
                return JSONResponse(
                    protected_resource(self.settings, scopes, resource=resource),
                    headers={"Cache-Control": "public, max-age=300"},
                )

            return endpoint

        return [
            Route(PATH, endpoint=guarded, methods=["GET", "POST", "DELETE"]),
            Route(f"{METADATA}{PATH}", document(self.settings.mcp_url), methods=["GET"]),
            Route(METADATA, document(self.settings.base_url), methods=["GET"]),
        ]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The session manager's task group, for the app's lifespan."""
        async with self.manager.run():
            yield
