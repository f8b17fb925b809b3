"""Date search parameters: implicit ranges, prefixes and matching.

FHIR R4 search, parameter type "date" (http://hl7.org/fhir/R4/search.html#date):
a date, dateTime or instant written at some precision stands for the whole
interval it covers (``2010`` is all of 2010), and matching compares the range of
the search value with the range of the target value using the prefixes of
"Prefixes" (http://hl7.org/fhir/R4/search.html#prefix):

====  ==============================================================
eq    the search range fully contains the target range
ne    the search range does not fully contain the target range
gt    the range above the search value intersects the target range
lt    the range below the search value intersects the target range
ge    gt, or the search range fully contains the target range
le    lt, or the search range fully contains the target range
sa    no overlap, and the range above the search value contains the target
eb    no overlap, and the range below the search value contains the target
ap    the (widened) search range overlaps the target range
====  ==============================================================

All ranges are half-open ``[start, end)`` in UTC. Open Period ends are the
:data:`MIN_INSTANT` / :data:`MAX_INSTANT` sentinels. A resource without a value
(``target is None``) matches no comparator, not even ``ne``: absence is what
the ``:missing`` modifier (search.html#missing) is for. An empty target range (a
malformed Period whose end precedes its start) likewise matches nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from facade.errors import InvalidRequest

MIN_INSTANT = datetime.min.replace(tzinfo=UTC)
MAX_INSTANT = datetime.max.replace(tzinfo=UTC)

PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})

#: ``ap`` widens the search range by 10% of its distance from now, at least this much.
AP_MINIMUM = timedelta(days=1)

# FHIR R4 dateTime/instant lexical form (http://hl7.org/fhir/R4/datatypes.html#dateTime),
# extended as search allows to minute precision and to a missing time zone.
_DATE = re.compile(
    r"(?P<year>[0-9]{4})"
    r"(?:-(?P<month>[0-9]{2})"
    r"(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?)?"
    r"(?P<tz>Z|[+\- ](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
    r")?)?)?"
)


@dataclass(frozen=True)
class DateRange:
    """The half-open interval ``[start, end)`` a date value covers, UTC-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("DateRange bounds must be timezone-aware")


@dataclass(frozen=True)
class DateParam:
    """One date search value: a prefix (search.html#prefix) and the value's implicit range."""

    prefix: str
    range: DateRange


def _to_utc(moment: datetime) -> datetime:
    """Convert to UTC, clamping to the sentinels at the ends of representable time."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return MIN_INSTANT if moment.year == 1 else MAX_INSTANT


def _add(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment + delta
    except OverflowError:
        return MAX_INSTANT if delta > timedelta(0) else MIN_INSTANT


# Pure and immutable (DateRange is frozen): cached, as the same instants recur across the
# records of a search (a day's appointment times) and its prefilter (facade/mapping/filter.py).
@lru_cache(maxsize=8192)
def _range_of(text: str, default_tz: tzinfo) -> DateRange | None:
    """The implicit range of ``text``, or ``None`` when it is not a FHIR date value."""
    m = _DATE.fullmatch(text)
    if m is None:
        return None
    g = m.groupdict()
    tz: tzinfo = default_tz
    if g["tz"] == "Z":
        tz = UTC
    elif g["tz"] is not None:
        # A '+' sent unencoded in a query string arrives as a space.
        sign = -1 if g["tz"][0] == "-" else 1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    year = int(g["year"])
    try:
        if g["month"] is None:
            start = datetime(year, 1, 1)
            end: datetime | None = datetime(year + 1, 1, 1) if year < 9999 else None
        elif g["day"] is None:
            month = int(g["month"])
            start = datetime(year, month, 1)
            if month == 12:
                end = datetime(year + 1, 1, 1) if year < 9999 else None
            else:
                end = datetime(year, month + 1, 1)
        else:
            start = datetime(year, int(g["month"]), int(g["day"]))
            if g["hour"] is None:
                step = timedelta(days=1)
            else:
                start = start.replace(hour=int(g["hour"]), minute=int(g["minute"]))
                step = timedelta(minutes=1)
                if g["second"] is not None:
                    start = start.replace(second=int(g["second"]))
                    step = timedelta(seconds=1)
                    fraction = g["fraction"]
                    if fraction is not None:
                        # Beyond microseconds, truncate: the microsecond range contains it.
                        digits = fraction[:6]
                        start = start.replace(microsecond=int(digits.ljust(6, "0")))
                        step = timedelta(microseconds=10 ** (6 - len(digits)))
            try:
                end = start + step
            except OverflowError:
                end = None
    except ValueError:  # month 13, day 31 in April, hour 24, year 0 ...
        return None
    start_utc = _to_utc(start.replace(tzinfo=tz))
    end_utc = MAX_INSTANT if end is None else _to_utc(end.replace(tzinfo=tz))
    return DateRange(start_utc, end_utc)


def parse_date_value(text: str, default_tz: tzinfo = UTC) -> DateRange:
    """The implicit range of a search date value (search.html#date), at its precision.

    ``2010`` -> [2010-01-01, 2011-01-01); likewise month, day, minute, second and
    fractional-second precision. Values without a zone use ``default_tz``.
    Raises :class:`~facade.errors.InvalidRequest` for anything else.
    """
    rng = _range_of(text, default_tz)
    if rng is None:
        raise InvalidRequest(
            f"Invalid date {text!r}: expected YYYY, YYYY-MM, YYYY-MM-DD or "
            "YYYY-MM-DDThh:mm[:ss[.fff]][Z|(+|-)hh:mm]"
        )
    return rng


def value_range(text: str, default_tz: tzinfo = UTC) -> DateRange:
    """The implicit range of a date/dateTime/instant found in a resource.

    Like :func:`parse_date_value` but raises ``ValueError``: malformed resource
    data is a server-side fault, not a bad request.
    """
    rng = _range_of(text, default_tz)
    if rng is None:
        raise ValueError(f"not a FHIR date/dateTime/instant: {text!r}")
    return rng


def range_or_none(text: str) -> DateRange | None:
    """:func:`value_range` (UTC default) or None instead of raising: for matching many values."""
    return _range_of(text, UTC)


def period_range(start: str | None, end: str | None, default_tz: tzinfo = UTC) -> DateRange:
    """The range of a FHIR Period (http://hl7.org/fhir/R4/datatypes.html#Period).

    From the start of ``start``'s implicit range to the end of ``end``'s; a
    missing start is open towards the past, a missing end towards the future.
    Raises ``ValueError`` for malformed values.
    """
    lo = MIN_INSTANT if start is None else value_range(start, default_tz).start
    hi = MAX_INSTANT if end is None else value_range(end, default_tz).end
    return DateRange(lo, hi)


def parse_date_param(value: str, default_tz: tzinfo = UTC) -> DateParam:
    """Parse ``[prefix]date`` (search.html#prefix); the prefix defaults to ``eq``."""
    prefix = "eq"
    if len(value) >= 2 and value[:2].isascii() and value[:2].isalpha():
        prefix = value[:2]
        if prefix not in PREFIXES:
            allowed = ", ".join(sorted(PREFIXES))
            raise InvalidRequest(
                f"Invalid date prefix {prefix!r} in {value!r}: expected one of {allowed}"
            )
        value = value[2:]
    return DateParam(prefix, parse_date_value(value, default_tz))


def approximate_range(search: DateRange, now: datetime) -> DateRange:
    """The search range widened for ``ap`` (search.html#prefix): by 10% of its distance from now.

    The spec leaves the width to the server and recommends 10% of the gap
    between now and the value; we widen by at least :data:`AP_MINIMUM`.
    """
    if now < search.start:
        gap = search.start - now
    elif now >= search.end:
        gap = now - search.end
    else:
        gap = timedelta(0)
    widen = max(gap / 10, AP_MINIMUM)
    return DateRange(_add(search.start, -widen), _add(search.end, widen))


def date_matches(
    param: DateParam, target: DateRange | None, *, now: datetime | None = None
) -> bool:
    """Whether a resource value with range ``target`` satisfies ``param`` (search.html#prefix).

    ``now`` (UTC-aware) only matters for ``ap``; it defaults to the current time.
    A missing target matches nothing.
    """
    if target is None or target.start >= target.end:
        return False
    s = param.range
    contained = s.start <= target.start and target.end <= s.end
    prefix = param.prefix
    if prefix == "eq":
        return contained
    if prefix == "ne":
        return not contained
    if prefix == "gt":
        return target.end > s.end
    if prefix == "lt":
        return target.start < s.start
    if prefix == "ge":
        return target.end > s.end or contained
    if prefix == "le":
        return target.start < s.start or contained
    if prefix == "sa":
        return target.start >= s.end
    if prefix == "eb":
        return target.end <= s.start
    if prefix == "ap":
        wide = approximate_range(s, datetime.now(UTC) if now is None else now)
        return target.start < wide.end and wide.start < target.end
    raise ValueError(f"unknown date prefix {prefix!r}")
