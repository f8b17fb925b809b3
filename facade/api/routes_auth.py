"""The facade's token endpoint (RFC 6749 §4.4 client credentials, SMART Backend Services).

This slice serves the embedded ``local-dev`` confidential client: HTTP Basic
(client_secret_basic), ``grant_type=client_credentials``, ``system/*`` scopes.
Errors follow RFC 6749 §5.2; responses are never cached.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from facade.api.deps import ServicesDep
from facade.auth.scopes import ScopeSet
from facade.settings import DEV_CLIENT_ID

router = APIRouter(prefix="/auth")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
DEV_ALLOWED = ScopeSet.parse("system/*.cruds")
DEFAULT_SCOPE = "system/*.rs"


def _error(status: int, error: str, description: str) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    return JSONResponse({"error": error, "error_description": description}, status, headers)


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


@router.post("/token")
async def token(request: Request, services: ServicesDep) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _error(400, "invalid_request", "The body must be application/x-www-form-urlencoded")
    try:
        form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return _error(400, "invalid_request", "The body must be UTF-8")
    credentials = _basic(request.headers.get("authorization", ""))
    if credentials is None:
        return _error(401, "invalid_client", "Client authentication (HTTP Basic) is required")
    client_id, secret = credentials
    expected = services.settings.dev_client_secret.get_secret_value()
    if client_id != DEV_CLIENT_ID or not hmac.compare_digest(secret.encode(), expected.encode()):
        return _error(401, "invalid_client", "Unknown client or wrong secret")
    grant = form.get("grant_type")
    if not grant:
        return _error(400, "invalid_request", "grant_type is required")
    if grant != "client_credentials":
        return _error(400, "unsupported_grant_type", f"grant_type {grant[:40]} is not supported")
    requested = ScopeSet.parse(form.get("scope") or DEFAULT_SCOPE)
    granted = requested.narrow_to(DEV_ALLOWED)
    if not granted.scopes:
        return _error(400, "invalid_scope", "None of the requested scopes can be granted")
    practices = tuple(services.settings.practices)
    access_token = services.issuer.issue(client_id, granted, practices)
    body = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": services.issuer.ttl,
        "scope": str(granted),
    }
    return JSONResponse(body, headers=NO_STORE)
