"""Who may read ``/metrics`` (README "Operations").

- ``FACADE_METRICS_TOKEN`` set: ``Authorization: Bearer <token>`` is required everywhere
  (compared in constant time); anything else is 401 with ``WWW-Authenticate``.
- unset: open in embedded mode (local development on loopback: ``make run``, the tests,
  ``make bench``), and 403 in preview and production, naming the setting, so a
  deployment never serves its counters to whoever reaches the port.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

from facade.settings import Settings

_NO_STORE = {"Cache-Control": "no-store"}


def refusal(request: Request, settings: Settings) -> JSONResponse | None:
    """None when the caller may read the metrics, else the answer to send."""
    token = settings.metrics_token
    if token is None:
        if settings.environment == "embedded":
            return None
        return JSONResponse(
            {"error": "metrics are off: set FACADE_METRICS_TOKEN to read them"},
            403,
            headers=_NO_STORE,
        )
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected):
        return None
    return JSONResponse(
        {"error": "a bearer token (FACADE_METRICS_TOKEN) is required"},
        401,
        headers={**_NO_STORE, "WWW-Authenticate": 'Bearer realm="metrics"'},
    )
