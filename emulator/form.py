"""Request parameters: query string plus form body (API-NOTES sections 3.0, 7.5).

athena takes ``application/x-www-form-urlencoded`` bodies for POST/PUT/DELETE
and also accepts the same parameters on the query string.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request


async def request_pairs(request: Request) -> list[tuple[str, str]]:
    """All (name, value) pairs: query string first, then a form body if any."""
    pairs = list(request.query_params.multi_items())
    if request.method in {"POST", "PUT", "DELETE", "PATCH"}:
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        if body and ("urlencoded" in content_type or not content_type):
            pairs.extend(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return pairs


async def request_params(request: Request) -> dict[str, str]:
    """Single-valued view of :func:`request_pairs`; a later value wins (body over query)."""
    return dict(await request_pairs(request))
