"""Signed, stateless paging cursors for ``Bundle.link[next]``.

FHIR R4 search "Page Count" (http://hl7.org/fhir/R4/search.html#count) and
RESTful API "Paging" (http://hl7.org/fhir/R4/http.html#paging) leave the form of paging links to the server. The facade
keeps no paging state: the position is carried in a ``_cursor`` parameter that
the client returns verbatim. The token is

    base64url(orjson(payload + {"iat": issued_at})) "." base64url(HMAC-SHA256(secret, body))

without padding, where ``body`` is the first (encoded) part. A token that was
altered, forged with another secret, malformed or older than the TTL is
rejected with :class:`~facade.errors.InvalidCursor`. The payload (query
fingerprint, upstream route, position) is opaque here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson

from facade.errors import InvalidCursor
from facade.search.model import SearchRequest
from facade.search.parse import format_query

INVALID_CURSOR = "The paging link is invalid or has expired; repeat the search."

#: Tokens issued up to this many seconds "in the future" are accepted (clock skew
#: between workers).
CLOCK_SKEW_SECONDS = 60

_ISSUED_AT = "iat"
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Encode and verify paging cursors signed with ``secret``."""

    def __init__(self, secret: bytes, ttl_seconds: int = 3600) -> None:
        # Use at least 32 random bytes in production; only emptiness is refused here.
        if not secret:
            raise ValueError("cursor secret must not be empty")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._secret = secret
        self._ttl = ttl_seconds

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._secret, body.encode("ascii"), hashlib.sha256).digest()
        return _b64encode(mac)

    def encode(self, payload: Mapping[str, Any], *, now: float) -> str:
        """Sign ``payload`` (JSON-serialisable, no ``iat`` key) issued at ``now``."""
        if _ISSUED_AT in payload:
            raise ValueError(f"payload may not contain the reserved key {_ISSUED_AT!r}")
        data = {**payload, _ISSUED_AT: int(now)}
        body = _b64encode(orjson.dumps(data))
        return f"{body}.{self._sign(body)}"

    def decode(self, token: str, *, now: float) -> dict[str, Any]:
        """Verify ``token`` and return its payload (without ``iat``).

        Raises :class:`~facade.errors.InvalidCursor` when the token is malformed,
        its signature does not verify, or it is expired.
        """
        if not _TOKEN.fullmatch(token):
            raise InvalidCursor(INVALID_CURSOR)
        body, signature = token.split(".")
        if not hmac.compare_digest(self._sign(body), signature):
            raise InvalidCursor(INVALID_CURSOR)
        try:
            data = orjson.loads(_b64decode(body))
        except (binascii.Error, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise InvalidCursor(INVALID_CURSOR) from exc
        if not isinstance(data, dict):
            raise InvalidCursor(INVALID_CURSOR)
        issued = data.pop(_ISSUED_AT, None)
        if not isinstance(issued, int) or isinstance(issued, bool):
            raise InvalidCursor(INVALID_CURSOR)
        if now - issued > self._ttl or issued - now > CLOCK_SKEW_SECONDS:
            raise InvalidCursor(INVALID_CURSOR)
        return data


def query_fingerprint(req: SearchRequest) -> str:
    """A short stable hash of ``req`` without its ``_cursor``.

    Stored in the cursor payload so a cursor cannot be replayed against a
    different query. The resource type, every parameter (in order) and all
    result parameters including ``_count`` take part.
    """
    items = format_query(replace(req, cursor=None))
    canonical = orjson.dumps([req.resource_type, items])
    return hashlib.sha256(canonical).hexdigest()[:24]
