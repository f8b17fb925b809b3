"""FHIR R4 date search semantics (search.html#date), for judging a server's answers.

Written from the spec alone: a value and a target each stand for an implicit range at
their own precision, and a prefix compares the two ranges.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

_FORM = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
NEG = datetime(1, 1, 2, tzinfo=UTC)
POS = datetime(9999, 12, 30, tzinfo=UTC)


def implicit_range(text: str) -> tuple[datetime, datetime]:
    """[low, high) of a FHIR date/dateTime at its own precision (no zone = UTC)."""
    m = _FORM.match(text)
    if m is None:
        raise ValueError(f"not a FHIR date or dateTime: {text!r}")
    year, month, day, hour, minute, second, zone = m.groups()
    tz = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    if month is None:
        return datetime(int(year), 1, 1, tzinfo=tz), datetime(int(year) + 1, 1, 1, tzinfo=tz)
    if day is None:
        low = datetime(int(year), int(month), 1, tzinfo=tz)
        nxt = datetime(int(year) + int(month) // 12, int(month) % 12 + 1, 1, tzinfo=tz)
        return low, nxt
    low = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
        tzinfo=tz,
    )  # fmt: skip
    if hour is None:
        step = timedelta(days=1)
    elif second is None:
        step = timedelta(minutes=1)
    else:
        step = timedelta(seconds=1)
    return low, low + step


def period_bounds(period: dict[str, Any]) -> tuple[datetime, datetime]:
    low = implicit_range(period["start"])[0] if period.get("start") else NEG
    high = implicit_range(period["end"])[1] if period.get("end") else POS
    return low, high


def satisfies(prefix: str, value: str, period: dict[str, Any]) -> bool:
    """FHIR R4 search.html#prefix for a Period target."""
    pl, ph = implicit_range(value)
    tl, th = period_bounds(period)
    contained = pl <= tl and th <= ph
    return {
        "eq": contained,
        "ne": not contained,
        "gt": th > ph,
        "lt": tl < pl,
        "ge": th > ph or contained,
        "le": tl < pl or contained,
        "sa": tl >= ph,
        "eb": th <= pl,
    }[prefix]
