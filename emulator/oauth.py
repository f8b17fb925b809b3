"""OAuth 2.0 token endpoint and token store (API-NOTES sections 2.1-2.4, 4.3).

``POST /oauth2/v1/token`` issues 2-legged (client_credentials) Bearer tokens.
Tokens live in memory; :class:`TokenStore` also lets tests and fault
injection revoke or expire them.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response

from emulator.errors import json_response
from emulator.form import request_params

if TYPE_CHECKING:
    from emulator.world import World

MDP_SCOPE = "athena/service/Athenanet.MDP.*"


@dataclass(frozen=True)
class AccessToken:
    """One issued token: who holds it, what it may do, when it dies."""

    value: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float


class TokenStore:
    """In-memory Bearer tokens with revoke/expire hooks."""

    def __init__(self, ttl_seconds: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def issue(self, client_id: str, scope: str) -> AccessToken:
        token = AccessToken(
            value=secrets.token_urlsafe(32),
            client_id=client_id,
            scopes=tuple(scope.split()),
            expires_at=self._clock() + self._ttl,
        )
        with self._lock:
            self._tokens[token.value] = token
        return token

    def lookup(self, value: str) -> AccessToken | None:
        """The live token with this value, or None when unknown, revoked or expired."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.expires_at <= self._clock():
            return None
        return token

    def revoke(self, value: str) -> bool:
        """Forget a token; True when it existed."""
        with self._lock:
            return self._tokens.pop(value, None) is not None

    def expire(self, value: str | None = None) -> int:
        """Make one token (or every token when ``value`` is None) expired now."""
        now = self._clock()
        with self._lock:
            targets = [value] if value is not None else list(self._tokens)
            count = 0
            for key in targets:
                token = self._tokens.get(key)
                if token is not None:
                    self._tokens[key] = replace(token, expires_at=now)
                    count += 1
            return count

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()


@dataclass(frozen=True)
class MinuteDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class MinuteLimiter:
    """Per-client token-request cap reset at the top of each minute (section 2.3)."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> MinuteDecision:
        now = self._clock()
        minute = int(now // 60)
        retry_after = max(1, math.ceil(60 - (now % 60)))
        with self._lock:
            window, used = self._counts.get(key, (minute, 0))
            if window != minute:
                used = 0
            if used >= self.limit:
                self._counts[key] = (minute, used)
                return MinuteDecision(False, self.limit, 0, retry_after)
            used += 1
            self._counts[key] = (minute, used)
            return MinuteDecision(True, self.limit, self.limit - used, retry_after)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


def _client_credentials(request: Request, params: dict[str, str]) -> tuple[str, str] | None:
    """client_secret_basic first, then client_secret_post (section 2.1)."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            return None
        return unquote_plus(client_id), unquote_plus(secret)
    if "client_id" in params:
        return params["client_id"], params.get("client_secret", "")
    return None


async def token_endpoint(request: Request) -> Response:
    """``POST /oauth2/v1/token`` (sections 2.1, 2.4, 4.3).

    Order: rate limit per presented client id, client authentication,
    grant type, then issue. Every response carries the per-minute quota headers.
    """
    world: World = request.app.state.emulator
    config = world.config
    params = await request_params(request)
    credentials = _client_credentials(request, params)
    decision = world.token_limiter.take(credentials[0] if credentials else "")
    headers = {
        config.quota_limit_header: str(decision.limit),
        config.quota_remaining_header: str(decision.remaining),
    }
    response: Response
    if not decision.allowed:
        # athena quirk: 429 for the rest of the minute (section 2.3); body is a [G].
        response = json_response(
            {"error": "too_many_requests", "error_description": "Token request limit reached."},
            429,
        )
        headers["Retry-After"] = str(decision.retry_after)
    elif credentials is None or config.clients.get(credentials[0]) != credentials[1]:
        response = json_response({"error": "invalid_client"}, 401)
    elif not params.get("grant_type"):
        response = json_response({"error": "invalid_request"}, 400)
    elif params["grant_type"] != "client_credentials":
        response = json_response({"error": "unsupported_grant_type"}, 400)
    else:
        scope = " ".join(params.get("scope", "").split()) or MDP_SCOPE
        token = world.tokens.issue(credentials[0], scope)
        response = json_response(
            {
                "access_token": token.value,
                "token_type": "Bearer",
                "expires_in": world.tokens.ttl_seconds,
                "scope": scope,
            }
        )
        headers["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response.headers[name] = value
    return response
