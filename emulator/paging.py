"""limit/offset paging of proprietary list responses (API-NOTES section 4.1).

``next``/``previous`` are relative paths ``/v1/{practiceid}/...`` that echo the
request's own parameters in UPPER CASE (sorted by name, values URL-encoded),
followed by lower-case ``limit`` and ``offset``; each appears only when a page
exists in that direction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from emulator.errors import invalid


def lenient_int(name: str, text: str) -> int:
    """Parse an integer parameter leniently (spaces, leading +); 400 otherwise (section 4.2)."""
    try:
        return int(text.strip())
    except ValueError:
        raise invalid(f"Expecting type integer, but value is {text}") from None


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int

    @classmethod
    def from_params(cls, params: Mapping[str, str], default: int, maximum: int) -> PageRequest:
        limit = default
        if params.get("limit", "").strip():
            limit = lenient_int("limit", params["limit"])
        offset = 0
        if params.get("offset", "").strip():
            offset = lenient_int("offset", params["offset"])
        if limit <= 0:
            limit = default
        return cls(limit=min(limit, maximum), offset=max(offset, 0))


def _link(path: str, echoed: list[tuple[str, str]], limit: int, offset: int) -> str:
    query = urlencode([*echoed, ("limit", str(limit)), ("offset", str(offset))])
    return f"{path}?{query}"


def paged(
    items: Sequence[Any],
    key: str,
    path: str,
    params: Mapping[str, str] | Sequence[tuple[str, str]],
    page: PageRequest,
) -> dict[str, Any]:
    """``{key: [...], "totalcount": N, "next"?, "previous"?}`` for one page.

    ``path`` is the full relative path, e.g. ``/v1/195900/patients``. ``params``
    may be (name, value) pairs so repeated parameters are echoed each time.
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    # athena quirk: echoed parameter names are upper-cased; limit/offset stay lower case.
    echoed = sorted(
        ((name.upper(), value) for name, value in pairs if name.lower() not in {"limit", "offset"}),
        key=lambda pair: pair[0],
    )
    total = len(items)
    body: dict[str, Any] = {
        key: list(items[page.offset : page.offset + page.limit]),
        "totalcount": total,
    }
    if page.offset > 0:
        body["previous"] = _link(path, echoed, page.limit, max(0, page.offset - page.limit))
    if page.offset + page.limit < total:
        body["next"] = _link(path, echoed, page.limit, page.offset + page.limit)
    return body
