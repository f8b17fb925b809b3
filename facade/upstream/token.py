"""athena OAuth 2.0 client credentials (API-NOTES §2): one token, refreshed once under concurrency.

athena caps token requests (5/min preview, 50/min production), so a burst of
concurrent requests must share one token request: the first caller fetches,
the others wait on the lock and reuse its result. A 401 from athena calls
``invalidate(token)``; only the token that failed is dropped, so N concurrent
401s lead to one refresh, not N.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx

from facade.errors import Throttled, UpstreamError, UpstreamTimeout, UpstreamUnavailable

log = logging.getLogger("facade.upstream")


@dataclass
class _Token:
    value: str
    expires_at: float


class TokenProvider:
    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        *,
        refresh_margin: float = 60.0,
    ) -> None:
        self._http = http
        self._url = token_url
        self._auth = (client_id, client_secret)
        self._scope = scope
        self._margin = refresh_margin
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.requests = 0  # token requests made (observability, tests)

    async def get(self) -> str:
        token = self._token
        if token is not None and token.expires_at - self._margin > time.monotonic():
            return token.value
        async with self._lock:
            token = self._token
            if token is not None and token.expires_at - self._margin > time.monotonic():
                return token.value
            self._token = await self._fetch()
            return self._token.value

    def invalidate(self, value: str) -> None:
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch(self) -> _Token:
        self.requests += 1
        started = time.monotonic()
        try:
            response = await self._http.post(
                self._url,
                data={"grant_type": "client_credentials", "scope": self._scope},
                auth=self._auth,
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("athena token endpoint timed out") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable("athena token endpoint is unreachable") from exc
        log.info(
            "upstream token status=%s latency_ms=%.1f",
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code == 429:
            retry = _retry_after(response.headers.get("Retry-After"))
            raise Throttled("athena token requests are throttled", retry_after=retry)
        if response.status_code != 200:
            raise UpstreamError(f"athena refused the facade's credentials ({response.status_code})")
        try:
            body = response.json()
            value = str(body["access_token"])
            ttl = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError("athena token endpoint returned a malformed answer") from exc
        return _Token(value=value, expires_at=started + ttl)


def _retry_after(value: str | None) -> int:
    try:
        return max(1, int(float(value or "1")))
    except ValueError:
        return 1
