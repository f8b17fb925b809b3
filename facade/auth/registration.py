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
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import ValidationError

from facade.audit import context as audit
from facade.auth.clients import Client, ClientRegistry
from facade.auth.remote_jwks import JwksUrlRefused, check_jwks_url
from facade.auth.scopes import ScopeSet
from facade.settings import Settings

DEFAULT_SCOPE = (
    "launch launch/patient launch/encounter openid fhirUser offline_access patient/*.rs user/*.rs"
)


MAX_URIS = 10
MAX_URI_LENGTH = 2000
MAX_KEYS = 10
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _redirect_uri_ok(uri: object) -> bool:
    """RFC 6749 §3.1.2: absolute, no fragment; and no user information (a phishing aid)."""
    if not isinstance(uri, str) or len(uri) > MAX_URI_LENGTH:
        return False
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    return (
        parts.scheme in ("https", "http")
        and bool(parts.hostname)
        and "#" not in uri
        and "@" not in parts.netloc
        and not any(c.isspace() or ord(c) < 32 for c in uri)
    )


def _check_jwks(jwks: object) -> None:
    """A usable set of public RS384/ES384-capable keys (never private or symmetric ones)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not 0 < len(keys) <= MAX_KEYS:
        raise RegistrationError("invalid_client_metadata", f"jwks must hold 1 to {MAX_KEYS} keys")
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise RegistrationError("invalid_client_metadata", "jwks keys must be RSA or EC keys")
        if _PRIVATE_MEMBERS & set(key):
            raise RegistrationError(
                "invalid_client_metadata",
                "jwks must hold public keys only (a private key was sent)",
            )
    try:
        KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise RegistrationError("invalid_client_metadata", "jwks holds an invalid key") from exc


class RegistrationError(Exception):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


def register_client(clients: ClientRegistry, metadata: Any, settings: Settings) -> dict[str, Any]:
    """RFC 7591 registration; each answer is a security event (``register``)."""
    try:
        body = _register(clients, metadata, settings)
    except RegistrationError as exc:
        audit.security("register", False, detail=exc.error)
        raise
    audit.security("register", True, client_id=body["client_id"])
    return body


def _register(clients: ClientRegistry, metadata: Any, settings: Settings) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise RegistrationError("invalid_client_metadata", "The body must be a JSON object")
    redirect_uris = metadata.get("redirect_uris")
    if (
        not isinstance(redirect_uris, list)
        or not 0 < len(redirect_uris) <= MAX_URIS
        or not all(_redirect_uri_ok(u) for u in redirect_uris)
    ):
        raise RegistrationError(
            "invalid_redirect_uri",
            "redirect_uris must list absolute http(s) URLs without user information or fragment",
        )
    method = metadata.get("token_endpoint_auth_method", "none")
    kinds = {"none": "public", "private_key_jwt": "confidential-asymmetric"}
    if not isinstance(method, str) or method not in kinds:
        raise RegistrationError(
            "invalid_client_metadata", "token_endpoint_auth_method must be none or private_key_jwt"
        )
    for name in ("scope", "client_name"):
        if metadata.get(name) is not None and not isinstance(metadata[name], str):
            raise RegistrationError("invalid_client_metadata", f"{name} must be a string")
    scope = ScopeSet.parse(str(metadata.get("scope") or DEFAULT_SCOPE))
    kept = ScopeSet(tuple(s for s in scope.scopes if s.context != "system"), scope.other)
    jwks = metadata.get("jwks")
    jwks_uri = metadata.get("jwks_uri")
    if method == "private_key_jwt" and not (jwks or jwks_uri):
        raise RegistrationError("invalid_client_metadata", "private_key_jwt needs jwks or jwks_uri")
    if jwks is not None and jwks_uri is not None:
        # RFC 7591 §2: the two MUST NOT both be present
        raise RegistrationError("invalid_client_metadata", "send jwks or jwks_uri, not both")
    if jwks is not None:
        _check_jwks(jwks)
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
