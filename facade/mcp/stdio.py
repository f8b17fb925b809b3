"""``athena-facade mcp``: the MCP server over stdio, for desktop agents (MCP 2025-11-25
"Transports", stdio: credentials come from the environment, not from an OAuth flow).

The process runs the engine itself (``open_services``, like a worker of ``serve``) and
calls it with the AuthContext of a facade access token, verified on every tool call
exactly as the HTTP face verifies one (signature, issuer, audience, expiry, revocation):

- :class:`StaticToken`: a SMART access token the facade issued (``--token`` /
  ``FACADE_MCP_TOKEN``); the process must share the issuing facade's signing key and
  base URL (``FACADE_DATA_DIR`` or ``FACADE_SIGNING_SECRET``, ``FACADE_PUBLIC_BASE_URL``);
- :class:`ClientCredentials`: a confidential client's ``client_credentials`` grant, at the
  token endpoint of a running facade (``--token-url``) or in this process (``local-dev``
  in embedded mode), renewed before it expires.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from mcp.server import ServerRequestContext
from mcp.server.stdio import stdio_server

from facade.auth.context import AuthContext
from facade.auth.server import OAuthError
from facade.engine.runtime import open_services
from facade.engine.services import Services
from facade.errors import Unauthorized
from facade.mcp.server import build_server
from facade.settings import Settings

RENEW_MARGIN = 30  # seconds before expiry a client_credentials token is replaced


class Credential(Protocol):
    async def token(self, services: Services) -> str: ...


@dataclass
class StaticToken:
    value: str

    async def token(self, services: Services) -> str:
        return self.value


@dataclass
class ClientCredentials:
    """client_credentials at ``token_url`` (a running facade), or in-process when None."""

    client_id: str
    secret: str
    scope: str
    token_url: str | None = None
    _token: str | None = None
    _expires: float = 0.0

    async def token(self, services: Services) -> str:
        if self._token is not None and self._expires - RENEW_MARGIN > time.time():
            return self._token
        form = {"grant_type": "client_credentials", "scope": self.scope}
        if self.token_url is None:
            form["resource"] = services.settings.mcp_url
            try:
                body: dict[str, Any] = await services.authz.token(
                    form, (self.client_id, self.secret)
                )
            except OAuthError as exc:
                raise Unauthorized(f"The token request failed: {exc.description}") from exc
        else:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(
                    self.token_url, data=form, auth=(self.client_id, self.secret)
                )
            if response.status_code != 200:
                raise Unauthorized(f"The token endpoint answered {response.status_code}")
            body = response.json()
        self._token = str(body["access_token"])
        self._expires = time.time() + float(body.get("expires_in", 300))
        return self._token


class StdioIdentity:
    """Every tool call of this process runs as the credential's token, checked again each time."""

    def __init__(self, services: Callable[[], Services], credential: Credential) -> None:
        self.services = services
        self.credential = credential
        self.connection = secrets.token_hex(8)  # one stdio connection per process

    async def auth(self, ctx: ServerRequestContext[Any, Any] | None = None) -> AuthContext:
        services = self.services()
        return services.authz.authenticate_bearer(await self.credential.token(services))

    def request(self, ctx: ServerRequestContext[Any, Any]) -> str:
        return f"stdio:{self.connection}:{ctx.request_id}"


async def serve(settings: Settings, credential: Credential) -> None:
    """Serve MCP on stdin/stdout until the client closes them.

    The credential is checked once before serving, so a wrong token fails at start
    (``Unauthorized``) rather than on the first tool call.
    """
    # httpx logs every request URL at INFO; athena paths carry patient ids (no PHI in logs)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    async with open_services(settings) as services:
        identity = StdioIdentity(lambda: services, credential)
        await identity.auth()
        server = build_server(lambda: services, services.mappings, identity)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
