"""FHIR R4 search, pure: parse, format, typed values, matching and paging cursors.

FHIR R4 search (http://hl7.org/fhir/R4/search.html); the right-hand column
names the section anchors each module implements. No I/O, and no FastAPI,
Starlette or httpx imports: the API layer hands decoded query pairs in and gets
a frozen :class:`SearchRequest` back.

    model.py       SearchParam, SearchRequest                       #ptypes
    escaping.py    escape, unescape, split_unescaped                #escaping
    parse.py       parse_query, format_query, to_query_string       #ptypes, #return
    dates.py       DateRange, DateParam, parse/match                #prefix, #date
    tokens.py      TokenParam, parse_token, token_matches           #token
    references.py  ReferenceParam, parse_reference, ...             #reference
    strings.py     string_matches, fold                             #string
    cursor.py      CursorCodec, query_fingerprint                   #count, http.html#paging
"""

from __future__ import annotations

from facade.search.cursor import INVALID_CURSOR, CursorCodec, query_fingerprint
from facade.search.dates import (
    MAX_INSTANT,
    MIN_INSTANT,
    PREFIXES,
    DateParam,
    DateRange,
    approximate_range,
    date_matches,
    parse_date_param,
    parse_date_value,
    period_range,
    range_or_none,
    value_range,
)
from facade.search.escaping import escape, split_unescaped, unescape
from facade.search.model import SearchParam, SearchRequest
from facade.search.parse import (
    CONTROL_PARAMS,
    NEGOTIATION_PARAMS,
    format_query,
    parse_query,
    to_query_string,
)
from facade.search.references import ReferenceParam, parse_reference, reference_matches
from facade.search.strings import fold, string_matches
from facade.search.tokens import TokenParam, parse_token, token_matches

__all__ = [
    "CONTROL_PARAMS",
    "INVALID_CURSOR",
    "MAX_INSTANT",
    "MIN_INSTANT",
    "NEGOTIATION_PARAMS",
    "PREFIXES",
    "CursorCodec",
    "DateParam",
    "DateRange",
    "ReferenceParam",
    "SearchParam",
    "SearchRequest",
    "TokenParam",
    "approximate_range",
    "date_matches",
    "escape",
    "fold",
    "format_query",
    "parse_date_param",
    "parse_date_value",
    "parse_query",
    "parse_reference",
    "parse_token",
    "period_range",
    "query_fingerprint",
    "range_or_none",
    "reference_matches",
    "split_unescaped",
    "string_matches",
    "to_query_string",
    "token_matches",
    "unescape",
    "value_range",
]
