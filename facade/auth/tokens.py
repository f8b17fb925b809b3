"""Access tokens issued by the facade's own token endpoint.

Tokens are JWTs signed with HS256 (joserfc) by a key only the facade holds, so
any worker can verify them without shared state. Claims: ``iss`` (facade base
URL), ``aud`` (FHIR base), ``sub``/``client_id``, ``scope``, ``practices``,
``iat``, ``exp``, ``jti``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.errors import Unauthorized


class TokenIssuer:
    def __init__(self, key: bytes, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._key = OctKey.import_key(key)
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl_seconds

    def issue(self, client_id: str, scopes: ScopeSet, practices: tuple[str, ...]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": client_id,
            "client_id": client_id,
            "scope": str(scopes),
            "practices": list(practices),
            "iat": now,
            "exp": now + self.ttl,
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode({"alg": "HS256", "typ": "at+jwt"}, claims, self._key)

    def verify(self, token: str) -> AuthContext:
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"]).claims
        except (JoseError, ValueError) as exc:
            raise Unauthorized("The access token is invalid") from exc
        if claims.get("iss") != self.issuer or claims.get("aud") != self.audience:
            raise Unauthorized("The access token was not issued for this server")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= time.time():
            raise Unauthorized("The access token has expired")
        return AuthContext(
            client_id=str(claims.get("client_id", "")),
            scopes=ScopeSet.parse(str(claims.get("scope", ""))),
            practices=tuple(str(p) for p in claims.get("practices", [])),
        )
