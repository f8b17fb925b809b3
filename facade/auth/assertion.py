"""``private_key_jwt`` client authentication (RFC 7523 §2.2, SMART Backend Services 2.0).

The client signs a JWT (RS384 or ES384) with iss = sub = client_id, aud = the
token URL, ``exp`` at most five minutes ahead and a unique ``jti``. Its public
keys come from the registered JWKS, or from the registered JWKS URL (fetched by
:class:`facade.auth.remote_jwks.JwksFetcher`: vetted URL and address, bounded in
time and size, one error for every failure) and a ``jku`` header is honoured
only when it equals that registered URL.
A seen ``jti`` is refused until the assertion expires (the store remembers it).
"""

from __future__ import annotations

import json
import time
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from facade.auth.clients import Client, ClientRegistry
from facade.auth.remote_jwks import JwksFetcher, JwksUnavailable
from facade.store import AuthStore

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS384", "ES384"]
MAX_LIFETIME = 300  # seconds: exp at most five minutes ahead
LEEWAY = 30  # clock skew tolerated on exp/nbf/iat


class AssertionError_(Exception):
    """The assertion does not authenticate a client; the message is safe to return."""


class AssertionVerifier:
    def __init__(
        self,
        clients: ClientRegistry,
        store: AuthStore,
        fetcher: JwksFetcher,
        *,
        token_url: str,
    ) -> None:
        self._clients = clients
        self._store = store
        self._fetcher = fetcher
        self._token_url = token_url

    async def _keys(self, client: Client, header: dict[str, Any]) -> KeySet:
        jku = header.get("jku")
        if jku is not None and jku != client.jwks_uri:
            raise AssertionError_("jku is not the client's registered JWKS URL")
        if client.jwks is not None:
            try:
                return KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise AssertionError_("The client has no usable JWKS") from exc
        if not client.jwks_uri:
            raise AssertionError_("The client has no usable JWKS")
        try:
            return await self._fetcher.fetch(
                client.jwks_uri, client_id=client.client_id, trusted=client.trusted
            )
        except JwksUnavailable as exc:
            raise AssertionError_(str(exc)) from None

    async def verify(self, assertion: str, assertion_type: str | None) -> Client:
        if assertion_type != ASSERTION_TYPE:
            raise AssertionError_(f"client_assertion_type must be {ASSERTION_TYPE}")
        try:
            unverified = jws.extract_compact(assertion.encode())
            header = dict(unverified.protected)
            payload = json.loads(unverified.payload)
        except (JoseError, ValueError) as exc:
            raise AssertionError_("client_assertion is not a JWT") from exc
        if header.get("alg") not in ALGORITHMS:
            raise AssertionError_("client_assertion must be signed with RS384 or ES384")
        client_id = payload.get("iss") if isinstance(payload, dict) else None
        client = self._clients.get(client_id) if isinstance(client_id, str) else None
        if client is None or client.kind != "confidential-asymmetric":
            raise AssertionError_("Unknown client")
        keys = await self._keys(client, header)
        try:
            claims = jwt.decode(assertion, keys, algorithms=ALGORITHMS).claims
        except (JoseError, ValueError) as exc:
            raise AssertionError_("client_assertion signature does not verify") from exc
        now = int(time.time())
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise AssertionError_("iss and sub must both be the client_id")
        aud = claims.get("aud")
        if aud != self._token_url and not (isinstance(aud, list) and self._token_url in aud):
            raise AssertionError_("aud must be the token endpoint URL")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp + LEEWAY < now:
            raise AssertionError_("client_assertion has expired")
        if exp > now + MAX_LIFETIME + LEEWAY:
            raise AssertionError_("client_assertion exp is more than five minutes ahead")
        nbf = claims.get("nbf")
        if isinstance(nbf, int) and nbf > now + LEEWAY:
            raise AssertionError_("client_assertion is not valid yet")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise AssertionError_("client_assertion needs a jti")
        if not self._store.remember_assertion(client.client_id, jti, exp + LEEWAY, now):
            raise AssertionError_("client_assertion jti was already used")
        return client
