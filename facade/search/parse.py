"""Parse a query string or ``_search`` form into a :class:`SearchRequest`, and back.

FHIR R4 search (http://hl7.org/fhir/R4/search.html): GET
``[base]/[type]?params`` and POST ``[base]/[type]/_search`` with an
``application/x-www-form-urlencoded`` body carry the same parameters
(search.html, "Introduction"), so both arrive here as decoded ``(name, value)`` pairs.

- Empty values are ignored, as servers SHOULD (search.html#errors, "Handling Errors").
- ``name:modifier`` splits at the first colon (search.html#modifiers);
  everything after it is the modifier (``_has:Observation:patient:code``
  keeps ``Observation:patient:code``).
- ``_format`` and ``_pretty`` belong to content negotiation
  (http://hl7.org/fhir/R4/http.html#parameters) and are dropped.
- The result parameters of search.html#return (``_include``, ``_revinclude``, ``_sort``,
  ``_total``, ``_summary``, ``_elements``, ``_count``) and the facade's own
  ``_cursor`` become fields; every other parameter, including ``_id``,
  ``_lastUpdated``, ``_tag``, ``_has`` ..., stays in ``params``.

:func:`format_query` is the exact inverse:
``parse_query(t, format_query(parse_query(t, q))) == parse_query(t, q)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import quote

from facade.errors import InvalidRequest
from facade.search.escaping import split_unescaped
from facade.search.model import SearchParam, SearchRequest

#: Dropped: handled by content negotiation, never part of the search.
NEGOTIATION_PARAMS = frozenset({"_format", "_pretty"})

#: Result parameters lifted into SearchRequest fields, in format_query order.
CONTROL_PARAMS = (
    "_include",
    "_revinclude",
    "_sort",
    "_total",
    "_summary",
    "_elements",
    "_count",
    "_cursor",
)

TOTAL_VALUES = frozenset({"none", "estimate", "accurate"})
SUMMARY_VALUES = frozenset({"true", "text", "data", "count", "false"})

_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")
_DIGITS = re.compile(r"[0-9]{1,18}")
_REPEATABLE = frozenset({"_include", "_revinclude"})

#: Characters left readable by to_query_string.
QUERY_SAFE = ":|,/"


def parse_query(resource_type: str, items: Iterable[tuple[str, str]]) -> SearchRequest:
    """Parse decoded ``(name, value)`` pairs into a :class:`SearchRequest`.

    Raises :class:`~facade.errors.InvalidRequest` for an empty parameter name or
    modifier, a bad or repeated result parameter, or an unsupported modifier on
    a result parameter.
    """
    if not _RESOURCE_TYPE.fullmatch(resource_type):
        raise InvalidRequest(f"Invalid resource type {resource_type!r}")
    params: list[SearchParam] = []
    seen: set[str] = set()
    req = SearchRequest(resource_type=resource_type, params=())
    for raw_name, value in items:
        name, _, modifier = raw_name.partition(":")
        if not name:
            raise InvalidRequest(f"Invalid search parameter {raw_name!r}: empty parameter name")
        if ":" in raw_name and not modifier:
            raise InvalidRequest(f"Invalid search parameter {raw_name!r}: empty modifier")
        if value == "" or name in NEGOTIATION_PARAMS:
            continue
        if name in CONTROL_PARAMS:
            if ":" in raw_name:
                raise InvalidRequest(
                    f"The modifier ':{modifier}' is not supported on parameter {name}"
                )
            if name not in _REPEATABLE:
                if name in seen:
                    raise InvalidRequest(f"Parameter {name} may appear only once")
                seen.add(name)
            req = _apply_control(req, name, value)
            continue
        values = tuple(v for v in split_unescaped(value, ",") if v)
        if values:
            params.append(SearchParam(name, modifier if ":" in raw_name else None, values))
    return replace(req, params=tuple(params))


def _apply_control(req: SearchRequest, name: str, value: str) -> SearchRequest:
    """Fold one result parameter (search.html#return) into ``req``."""
    if name == "_include":
        return replace(req, include=(*req.include, value))
    if name == "_revinclude":
        return replace(req, revinclude=(*req.revinclude, value))
    if name == "_sort":
        return replace(req, sort=_split_list(value))
    if name == "_elements":
        return replace(req, elements=_split_list(value))
    if name == "_total":
        if value not in TOTAL_VALUES:
            allowed = ", ".join(sorted(TOTAL_VALUES))
            raise InvalidRequest(f"Invalid _total {value!r}: expected one of {allowed}")
        return replace(req, total=value)
    if name == "_summary":
        if value not in SUMMARY_VALUES:
            allowed = ", ".join(sorted(SUMMARY_VALUES))
            raise InvalidRequest(f"Invalid _summary {value!r}: expected one of {allowed}")
        return replace(req, summary=value)
    if name == "_count":
        if not _DIGITS.fullmatch(value):
            raise InvalidRequest(f"Invalid _count {value!r}: expected a non-negative integer")
        return replace(req, count=int(value))
    # _cursor: opaque here; verified by CursorCodec.
    return replace(req, cursor=value)


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item for item in value.split(",") if item)


def format_query(req: SearchRequest) -> list[tuple[str, str]]:
    """Turn ``req`` back into ``(name, value)`` pairs, the inverse of :func:`parse_query`.

    Order: search parameters as parsed, then result parameters in
    :data:`CONTROL_PARAMS` order. Empty lists and ``None`` fields are omitted.
    """
    items: list[tuple[str, str]] = [(p.key, ",".join(p.values)) for p in req.params]
    items.extend(("_include", v) for v in req.include)
    items.extend(("_revinclude", v) for v in req.revinclude)
    if req.sort:
        items.append(("_sort", ",".join(req.sort)))
    if req.total is not None:
        items.append(("_total", req.total))
    if req.summary is not None:
        items.append(("_summary", req.summary))
    if req.elements:
        items.append(("_elements", ",".join(req.elements)))
    if req.count is not None:
        items.append(("_count", str(req.count)))
    if req.cursor is not None:
        items.append(("_cursor", req.cursor))
    return items


def to_query_string(items: Iterable[tuple[str, str]]) -> str:
    """Percent-encode pairs as ``a=b&c=d``, leaving ``: | , /`` readable.

    Spaces become ``%20`` and ``+`` becomes ``%2B``, so the result decodes
    unchanged with either ``parse_qsl`` or a strict RFC 3986 decoder.
    """
    return "&".join(
        f"{quote(name, safe=QUERY_SAFE)}={quote(value, safe=QUERY_SAFE)}" for name, value in items
    )
