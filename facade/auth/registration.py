"""RFC 7591 dynamic client registration (``POST /auth/register``), on when
``FACADE_DYNAMIC_REGISTRATION`` is true.

Open registration may create public clients and ``private_key_jwt`` clients for
the authorization-code flow with patient/user/launch scopes. It never grants
``system/`` scopes or ``client_credentials``: backend clients are added by an
operator with ``athena-facade clients add``. Registered clients live in the auth
store (every worker sees them at once) and are not trusted.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from pydantic import ValidationError

from facade.auth.clients import Client, ClientRegistry
from facade.auth.remote_jwks import JwksUrlRefused, check_jwks_url
from facade.auth.scopes import ScopeSet
from facade.settings import Settings

DEFAULT_SCOPE = (
    "launch launch/patient launch/encounter openid fhirUser offline_access patient/*.rs user/*.rs"
)


class RegistrationError(Exception):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


def register_client(clients: ClientRegistry, metadata: Any, settings: Settings) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise RegistrationError("invalid_client_metadata", "The body must be a JSON object")
    redirect_uris = metadata.get("redirect_uris")
    if (
        not isinstance(redirect_uris, list)
        or not redirect_uris
        or not all(
            isinstance(u, str) and u.startswith(("https://", "http://")) for u in redirect_uris
        )
    ):
        raise RegistrationError("invalid_redirect_uri", "redirect_uris must list http(s) URLs")
    method = metadata.get("token_endpoint_auth_method", "none")
    kinds = {"none": "public", "private_key_jwt": "confidential-asymmetric"}
    if method not in kinds:
        raise RegistrationError(
            "invalid_client_metadata", "token_endpoint_auth_method must be none or private_key_jwt"
        )
    scope = ScopeSet.parse(str(metadata.get("scope") or DEFAULT_SCOPE))
    kept = ScopeSet(tuple(s for s in scope.scopes if s.context != "system"), scope.other)
    jwks = metadata.get("jwks")
    jwks_uri = metadata.get("jwks_uri")
    if method == "private_key_jwt" and not (jwks or jwks_uri):
        raise RegistrationError("invalid_client_metadata", "private_key_jwt needs jwks or jwks_uri")
    if jwks_uri is not None:
        try:
            check_jwks_url(
                jwks_uri,
                allow_loopback=settings.jwks_loopback_allowed,
                prefixes=settings.jwks_url_allow,
            )
        except JwksUrlRefused as exc:
            raise RegistrationError("invalid_client_metadata", str(exc)) from None
    try:
        client = Client(
            client_id=f"dyn-{secrets.token_urlsafe(12)}",
            client_name=str(metadata.get("client_name", ""))[:100],
            kind=kinds[method],  # type: ignore[arg-type]
            redirect_uris=redirect_uris,
            jwks=jwks,
            jwks_uri=jwks_uri,
            scope=str(kept),
            grant_types=["authorization_code", "refresh_token"],
            dynamic=True,
        )
    except ValidationError as exc:
        raise RegistrationError("invalid_client_metadata", "Invalid client metadata") from exc
    clients.register(client)
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(time.time()),
        "client_name": client.client_name,
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": method,
        "grant_types": client.grant_types,
        "response_types": ["code"],
        "scope": client.scope,
    }
    if jwks is not None:
        body["jwks"] = jwks
    if jwks_uri is not None:
        body["jwks_uri"] = jwks_uri
    return body
