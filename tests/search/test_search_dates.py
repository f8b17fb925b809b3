"""Date parameters: implicit ranges, prefixes and matching (FHIR R4 search.html#date, #prefix)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facade.errors import InvalidRequest
from facade.search import (
    MAX_INSTANT,
    MIN_INSTANT,
    PREFIXES,
    DateParam,
    DateRange,
    date_matches,
    parse_date_param,
    parse_date_value,
    period_range,
    value_range,
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --- implicit ranges at every precision (search.html#date) -------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2010", utc(2010, 1, 1), utc(2011, 1, 1)),
        ("2010-05", utc(2010, 5, 1), utc(2010, 6, 1)),
        ("2010-12", utc(2010, 12, 1), utc(2011, 1, 1)),
        ("2010-05-03", utc(2010, 5, 3), utc(2010, 5, 4)),
        ("2012-02-29", utc(2012, 2, 29), utc(2012, 3, 1)),
        ("2010-05-03T10:00", utc(2010, 5, 3, 10, 0), utc(2010, 5, 3, 10, 1)),
        ("2010-05-03T10:00Z", utc(2010, 5, 3, 10, 0), utc(2010, 5, 3, 10, 1)),
        ("2010-05-03T10:00:30", utc(2010, 5, 3, 10, 0, 30), utc(2010, 5, 3, 10, 0, 31)),
        ("2019-01-01T10:00:00+00:00", utc(2019, 1, 1, 10), utc(2019, 1, 1, 10, 0, 1)),
        ("2019-01-01T10:00:00-00:00", utc(2019, 1, 1, 10), utc(2019, 1, 1, 10, 0, 1)),
        ("2019-01-01T10:00:00+05:00", utc(2019, 1, 1, 5), utc(2019, 1, 1, 5, 0, 1)),
        ("2019-01-01T10:00:00-03:30", utc(2019, 1, 1, 13, 30), utc(2019, 1, 1, 13, 30, 1)),
        ("2019-01-01T10:00:00+14:00", utc(2018, 12, 31, 20), utc(2018, 12, 31, 20, 0, 1)),
        ("2019-01-01T10:00:00Z", utc(2019, 1, 1, 10), utc(2019, 1, 1, 10, 0, 1)),
        (
            "2019-01-01T10:00:00.5Z",
            utc(2019, 1, 1, 10, 0, 0, 500000),
            utc(2019, 1, 1, 10, 0, 0, 600000),
        ),
        (
            "2019-01-01T10:00:00.123Z",
            utc(2019, 1, 1, 10, 0, 0, 123000),
            utc(2019, 1, 1, 10, 0, 0, 124000),
        ),
        (
            "2019-01-01T10:00:00.123456+00:00",
            utc(2019, 1, 1, 10, 0, 0, 123456),
            utc(2019, 1, 1, 10, 0, 0, 123457),
        ),
        (  # beyond microseconds: truncated, the microsecond range contains it
            "2019-01-01T10:00:00.1234567Z",
            utc(2019, 1, 1, 10, 0, 0, 123456),
            utc(2019, 1, 1, 10, 0, 0, 123457),
        ),
        (  # '+' sent unencoded in a query string decodes to a space
            "2019-01-01T10:00:00 05:00",
            utc(2019, 1, 1, 5),
            utc(2019, 1, 1, 5, 0, 1),
        ),
        ("9999", utc(9999, 1, 1), MAX_INSTANT),
        ("9999-12-31", utc(9999, 12, 31), MAX_INSTANT),
        ("0001", utc(1, 1, 1), utc(2, 1, 1)),
    ],
)
def test_implicit_ranges(text: str, start: datetime, end: datetime) -> None:
    rng = parse_date_value(text)
    assert rng == DateRange(start, end)
    assert rng.start.utcoffset() == timedelta(0)


def test_default_time_zone_applies_to_values_without_zone() -> None:
    eastern = ZoneInfo("America/New_York")
    assert parse_date_value("2010-05-03", eastern) == DateRange(
        utc(2010, 5, 3, 4), utc(2010, 5, 4, 4)
    )
    # the zone in the value wins over the default
    assert parse_date_value("2010-05-03T10:00Z", eastern).start == utc(2010, 5, 3, 10)
    # a day spanning the DST change is 23 hours long
    spring = parse_date_value("2021-03-14", eastern)
    assert spring.end - spring.start == timedelta(hours=23)
    fixed = timezone(timedelta(hours=-5))
    assert parse_date_value("2010", fixed).start == utc(2010, 1, 1, 5)


def test_clamps_at_the_ends_of_time() -> None:
    assert parse_date_value("0001-01-01T00:00:00+05:00").start == MIN_INSTANT
    assert parse_date_value("9999-12-31T23:59:59-05:00").end == MAX_INSTANT


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "2010-13-01",
        "2010-00",
        "2010-1-1",
        "2010-01-1",
        "10-01-01",
        "2010-02-30",
        "2011-02-29",
        "0000",
        "2010-01-01T",
        "2010-01-01T10",
        "2010-01-01T24:00",
        "2010-01-01T10:60",
        "2010-01-01T10:00:60",
        "2010-01-01T10:00:00.",
        "2010-01-01T10:00:00+5:00",
        "2010-01-01T10:00:00+15:00",
        "2010-01-01T10:00:00+14:30",
        "2010-01-01T10:00:00+05",
        "2010-01-01Z",
        "2010Z",
        "2010-01-01 10:00",
        "２０１０",  # full-width digits
        " 2010",
        "2010 ",
    ],
)
def test_garbage_rejected(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_date_value(text)
    with pytest.raises(ValueError):
        value_range(text)


# --- prefixes ------------------------------------------------------------------


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_every_prefix_parses(prefix: str) -> None:
    assert parse_date_param(f"{prefix}2010") == DateParam(prefix, parse_date_value("2010"))


def test_default_prefix_is_eq() -> None:
    assert parse_date_param("2010-05").prefix == "eq"


@pytest.mark.parametrize("value", ["xx2010", "GT2010", "eq", "ge", "gtabc", "e2010", "gt 2010"])
def test_bad_prefix_or_value(value: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_date_param(value)


def test_period_range() -> None:
    assert period_range("2010-01-01", "2010-01-31") == DateRange(utc(2010, 1, 1), utc(2010, 2, 1))
    assert period_range(None, "2010") == DateRange(MIN_INSTANT, utc(2011, 1, 1))
    assert period_range("2010", None) == DateRange(utc(2010, 1, 1), MAX_INSTANT)
    assert period_range(None, None) == DateRange(MIN_INSTANT, MAX_INSTANT)
    with pytest.raises(ValueError):
        period_range("yesterday", None)


# --- hand-worked examples from the spec's prefix table (search.html#prefix) --------------


def matches(param: str, target: DateRange | None, now: datetime | None = None) -> bool:
    return date_matches(parse_date_param(param), target, now=now)


def day(text: str) -> DateRange:
    return value_range(text)


def test_spec_examples() -> None:
    # eq2013-01-14 matches 2013-01-14T00:00 and 2013-01-14T10:00 but not 2013-01-15T00:00
    assert matches("eq2013-01-14", day("2013-01-14T00:00"))
    assert matches("eq2013-01-14", day("2013-01-14T10:00"))
    assert not matches("eq2013-01-14", day("2013-01-15T00:00"))
    # ne2013-01-14 matches 2013-01-15T00:00 but not 2013-01-14T00:00 or 2013-01-14T10:00
    assert matches("ne2013-01-14", day("2013-01-15T00:00"))
    assert not matches("ne2013-01-14", day("2013-01-14T00:00"))
    assert not matches("ne2013-01-14", day("2013-01-14T10:00"))
    # lt2013-01-14T10:00 matches 2013-01-14: the day has a part before 10:00
    assert matches("lt2013-01-14T10:00", day("2013-01-14"))
    # gt2013-01-14T10:00 matches 2013-01-14: the day has a part after 10:00
    assert matches("gt2013-01-14T10:00", day("2013-01-14"))
    # ... but the day is not equal to the minute
    assert not matches("eq2013-01-14T10:00", day("2013-01-14"))
    # ge2013-03-14 matches "from 21-Jan 2013 onwards" (an open Period overlapping above)
    assert matches("ge2013-03-14", period_range("2013-01-21", None))
    # le2013-03-14 matches "from 21-Jan 2013 onwards": its start is below
    assert matches("le2013-03-14", period_range("2013-01-21", None))
    # sa2013-03-14 matches "from 15-Mar 2013 onwards" but not "from 14-Mar 2013 onwards"
    assert matches("sa2013-03-14", period_range("2013-03-15", None))
    assert not matches("sa2013-03-14", period_range("2013-03-14", None))
    # eb2013-03-14 matches "21-Jan 2013 to 13-Mar 2013", not one ending on 14-Mar
    assert matches("eb2013-03-14", period_range("2013-01-21", "2013-03-13"))
    assert not matches("eb2013-03-14", period_range("2013-01-21", "2013-03-14"))


def test_year_precision_against_days() -> None:
    assert matches("eq2010", day("2010-07-04"))
    assert not matches("eq2010", day("2011-01-01"))
    assert matches("gt2009", day("2010-01-01"))
    assert not matches("gt2010", day("2010-12-31"))
    assert matches("ge2010", day("2010-12-31"))
    assert matches("ge2010", day("2010-01-01"))
    assert not matches("ge2010", day("2009-12-31"))
    assert matches("lt2010", day("2009-12-31"))
    assert not matches("lt2010", day("2010-01-01"))
    assert matches("le2010", day("2010-12-31"))
    assert not matches("le2010", day("2011-01-01"))
    # a period straddling the search year is neither eq nor sa/eb, but is gt, lt, ge, le
    straddle = period_range("2009-06-01", "2011-06-01")
    for prefix, expected in {
        "eq": False,
        "ne": True,
        "gt": True,
        "lt": True,
        "ge": True,
        "le": True,
        "sa": False,
        "eb": False,
    }.items():
        assert matches(f"{prefix}2010", straddle) is expected, prefix


def test_inferno_encounter_date_checks() -> None:
    """Inferno searches gt/ge start-1day and lt/le start+1day (US-CORE-NOTES §1.5)."""
    encounter = period_range("2019-01-01T10:00:00+00:00", "2019-01-01T11:00:00+00:00")
    assert matches("gt2018-12-31T10:00:00+00:00", encounter)
    assert matches("ge2018-12-31T10:00:00+00:00", encounter)
    assert matches("lt2019-01-02T10:00:00+00:00", encounter)
    assert matches("le2019-01-02T10:00:00+00:00", encounter)
    assert matches("gt2018-12-31", encounter)  # 6.1: a date-only value, minus a day
    assert not matches("gt2019-01-02T10:00:00+00:00", encounter)
    assert not matches("lt2018-12-31T10:00:00+00:00", encounter)
    start_only = period_range("2019-01-01T10:00:00+00:00", None)
    assert matches("gt2018-12-31T10:00:00+00:00", start_only)
    assert matches("lt2019-01-02T10:00:00+00:00", start_only)


def test_missing_target_matches_nothing() -> None:
    for prefix in PREFIXES:
        assert not matches(f"{prefix}2010", None), prefix


def test_empty_target_matches_nothing() -> None:
    backwards = DateRange(utc(2011, 1, 1), utc(2010, 1, 1))
    for prefix in PREFIXES:
        assert not matches(f"{prefix}2010", backwards), prefix


def test_approximately() -> None:
    now = utc(2020, 1, 1)
    # ten years ago: widened by ~1 year each side
    assert matches("ap2010-01-01", day("2010-01-01"), now)
    assert matches("ap2010-01-01", day("2009-03-01"), now)
    assert matches("ap2010-01-01", day("2010-11-01"), now)
    assert not matches("ap2010-01-01", day("2008-06-01"), now)
    assert not matches("ap2010-01-01", day("2011-06-01"), now)
    # close to now: at least a day either side
    assert matches("ap2019-12-31", day("2020-01-01"), now)
    assert matches("ap2019-12-31", day("2019-12-30"), now)
    assert not matches("ap2019-12-31", day("2019-12-29"), now)
    # now inside the range
    assert matches("ap2020", day("2020-06-01"), now)
    # in the future, symmetric
    assert matches("ap2030-01-01", day("2031-01-01"), now)
    assert not matches("ap2030-01-01", day("2032-01-01"), now)
    # default now is the current time
    assert date_matches(parse_date_param("ap2010"), day("2010-06-01"))


# --- oracle property test ---------------------------------------------------------
#
# The oracle restates the spec's set-theoretic definitions literally. Time is
# discretised into the elementary intervals between every boundary that occurs
# (the bounds of the search value, of the target, and the ends of time); every
# range in play is then exactly a set of such intervals, so set operations on
# them are the spec's operations on ranges, at any precision.


def _cells(lo: datetime, hi: datetime, points: list[datetime]) -> frozenset[int]:
    return frozenset(i for i in range(len(points) - 1) if lo <= points[i] and points[i + 1] <= hi)


def oracle(prefix: str, search: DateRange, target: DateRange) -> bool:
    points = sorted({MIN_INSTANT, MAX_INSTANT, search.start, search.end, target.start, target.end})
    s = _cells(search.start, search.end, points)
    t = _cells(target.start, target.end, points)
    above = _cells(search.end, MAX_INSTANT, points)
    below = _cells(MIN_INSTANT, search.start, points)
    contains = t <= s
    if not t:
        return False
    return {
        "eq": contains,
        "ne": not contains,
        "gt": bool(above & t),
        "lt": bool(below & t),
        "ge": bool(above & t) or contains,
        "le": bool(below & t) or contains,
        "sa": not (s & t) and t <= above,
        "eb": not (s & t) and t <= below,
    }[prefix]


_zones = st.sampled_from(["", "Z", "+00:00", "+05:00", "-03:30", "+14:00", "-12:00"])


@st.composite
def date_texts(draw: st.DrawFn) -> str:
    """A FHIR date value at a random precision, clustered in 2009-2011."""
    year = draw(st.integers(2009, 2011))
    precision = draw(st.integers(0, 5))
    text = f"{year:04d}"
    if precision >= 1:
        text += f"-{draw(st.sampled_from([1, 2, 6, 12])):02d}"
    if precision >= 2:
        text += f"-{draw(st.sampled_from([1, 2, 15, 28])):02d}"
    if precision >= 3:
        text += (
            f"T{draw(st.sampled_from([0, 10, 23])):02d}:{draw(st.sampled_from([0, 30, 59])):02d}"
        )
    if precision >= 4:
        text += f":{draw(st.sampled_from([0, 30, 59])):02d}"
    if precision >= 5:
        text += "." + draw(st.sampled_from(["0", "5", "123", "999999"]))
    if precision >= 3:
        text += draw(_zones)
    return text


@st.composite
def targets(draw: st.DrawFn) -> DateRange:
    if draw(st.booleans()):
        return value_range(draw(date_texts()))
    start = draw(st.one_of(st.none(), date_texts()))
    end = draw(st.one_of(st.none(), date_texts()))
    rng = period_range(start, end)
    if rng.start >= rng.end:  # not a valid Period; swap to keep it meaningful
        rng = period_range(end, start)
    return rng


@st.composite
def boundary_targets(draw: st.DrawFn, search: DateRange) -> DateRange:
    """A target whose ends often sit exactly on the search range's boundaries."""
    candidates = [
        search.start,
        search.end,
        value_range(draw(date_texts())).start,
        value_range(draw(date_texts())).end,
    ]
    start = draw(st.sampled_from([MIN_INSTANT, *candidates]))
    end = draw(st.sampled_from([*candidates, MAX_INSTANT]))
    if start >= end:
        start, end = (end, start) if end < start else (start, MAX_INSTANT)
    return DateRange(start, end)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(sorted(PREFIXES - {"ap"})),
    search=date_texts(),
    target=targets(),
)
def test_matches_oracle(prefix: str, search: str, target: DateRange) -> None:
    param = parse_date_param(prefix + search)
    assert date_matches(param, target) is oracle(prefix, param.range, target)


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(sorted(PREFIXES - {"ap"})), search=date_texts(), data=st.data())
def test_matches_oracle_on_boundaries(prefix: str, search: str, data: st.DataObject) -> None:
    param = parse_date_param(prefix + search)
    target = data.draw(boundary_targets(param.range))
    assert date_matches(param, target) is oracle(prefix, param.range, target)


@settings(max_examples=200, deadline=None)
@given(search=date_texts(), target=targets())
def test_prefix_laws(search: str, target: DateRange) -> None:
    """Relations between prefixes that follow from the definitions."""

    def m(prefix: str) -> bool:
        return date_matches(parse_date_param(prefix + search), target, now=utc(2010, 6, 1))

    assert m("ne") is not m("eq")
    assert m("ge") is (m("gt") or m("eq"))
    assert m("le") is (m("lt") or m("eq"))
    if m("sa"):
        assert m("gt") and not m("eq") and not m("lt")
    if m("eb"):
        assert m("lt") and not m("eq") and not m("gt")
    # anything overlapping the search range is approximately equal to it
    overlaps = not (m("sa") or m("eb"))
    if overlaps:
        assert m("ap")
