from __future__ import annotations

import doctest
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facade.mapping import benefits, convert, ids, insurance, paths, transforms
from facade.mapping.transforms import TRANSFORMS, date_iso_to_us, date_us_to_iso


@pytest.mark.parametrize("module", [transforms, paths, ids, convert, insurance, benefits])
def test_docstring_examples(module: object) -> None:
    failures, tried = doctest.testmod(module)  # type: ignore[arg-type]
    assert tried > 0
    assert failures == 0


@pytest.mark.parametrize("bad", ["13/01/2000", "02/30/2001", "2000-01-01", "", "1/1/2000"])
def test_invalid_us_dates_become_none(bad: str) -> None:
    assert date_us_to_iso(bad) is None


def test_dates_round_trip() -> None:
    for iso in ["1930-01-01", "2000-02-29", "2024-12-31"]:
        us = date_iso_to_us(iso)
        assert us is not None
        assert date_us_to_iso(us) == iso


def test_race_covers_categories_detailed_and_null_flavors() -> None:
    race = TRANSFORMS["us_core_race"]
    body = race.read((["2106-3", "2028-9", "2029-7"], None))
    urls = [p["url"] for p in body["extension"]]
    assert urls == ["ombCategory", "ombCategory", "detailed", "text"]
    assert body["extension"][-1]["valueString"] == "White, Asian"
    declined = race.read((["ASKU"], "Declined"))
    coding = declined["extension"][0]["valueCoding"]
    assert coding["system"] == transforms.NULL_FLAVOR and coding["code"] == "ASKU"
    assert race.write is not None
    assert race.write(body) == ["2106-3", "2028-9", "2029-7"]


def test_ethnicity_unknown() -> None:
    body = TRANSFORMS["us_core_ethnicity"].read("UNK")
    assert body["extension"][0]["valueCoding"]["code"] == "UNK"
    assert TRANSFORMS["us_core_ethnicity"].read("") is None


@pytest.mark.parametrize(
    ("record", "status"),
    [
        (("7", None, None), "free"),  # an item of the open-slot list
        (("7", "o", False), "free"),
        (("7", "o", True), "busy-unavailable"),  # frozen: athena will not book it
        (("7", "o", "true"), "busy-unavailable"),
        (("7", "f", False), "busy"),
        (("7", "3", False), "busy"),
        (("7", "x", False), None),  # a cancelled appointment's slot is gone
    ],
)
def test_slot_status(record: tuple[str, str | None, object], status: str | None) -> None:
    assert TRANSFORMS["slot_status"].read(record) == status


def test_only_a_booked_appointment_fills_its_slot() -> None:
    filled = TRANSFORMS["filled_slot"].read
    assert [filled(("1002708", s)) for s in ("f", "2", "3", "4")] == ["1002708"] * 4
    assert filled(("1002708", "x")) is None and filled(("1002708", "o")) is None


def test_the_patient_write_transforms_invert_their_reads() -> None:
    ethnicity, status = TRANSFORMS["us_core_ethnicity"], TRANSFORMS["patient_status_active"]
    assert ethnicity.write is not None and status.write is not None
    for code in ("2135-2", "2186-5", "declined"):
        assert ethnicity.write(ethnicity.read(code)) == code
    for athena in ("active", "inactive"):
        assert status.write(status.read(athena)) == athena
    assert status.write(None) is None  # `active` left out: athena's status stays


def test_a_declined_value_reads_as_a_data_absent_reason() -> None:
    declined = TRANSFORMS["declined_unless_given"]
    assert declined.read(("", False)) == "asked-declined"
    assert declined.read(("", "false")) == "asked-declined"
    assert declined.read(("x@example.com", False)) is None  # given after all
    assert declined.read(("", True)) is None and declined.read(("", None)) is None  # unknown
    assert declined.write is None  # read only: athena's emailexists is not written


# The date and time transforms as they were with strptime/fromisoformat: the oracle for
# the slice-and-int parsing that replaced them (same answers, same exceptions).
def _oracle_date(value: object) -> str | None:
    m = re.match(r"^(\d{2})/(\d{2})/(\d{4})$", str(value).strip())
    try:
        return None if m is None else date(int(m[3]), int(m[1]), int(m[2])).isoformat()
    except ValueError:
        return None


def _oracle_offset(hours: object) -> timezone | None:
    try:
        return timezone(timedelta(hours=int(hours)))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _oracle_start(value: tuple[object, object, object]) -> str | None:
    day, hhmm, tz = value
    iso, zone = _oracle_date(day), _oracle_offset(tz)
    if iso is None or zone is None or not re.fullmatch(r"\d{2}:\d{2}", str(hhmm)):
        return None
    return datetime.fromisoformat(f"{iso}T{hhmm}:00").replace(tzinfo=zone).isoformat()


def _oracle_end(value: tuple[object, object, object, object]) -> str | None:
    day, hhmm, duration, tz = value
    start = _oracle_start((day, hhmm, tz))
    try:
        minutes: int | None = int(str(duration).strip())
    except ValueError:
        minutes = None
    if start is None or minutes is None:
        return None
    return (datetime.fromisoformat(start) + timedelta(minutes=minutes)).isoformat()


def _oracle_stamp(value: tuple[object, object]) -> str | None:
    stamp, tz = value
    zone = _oracle_offset(tz)
    try:
        moment = datetime.strptime(str(stamp).strip(), "%m/%d/%Y %H:%M:%S")
    except ValueError:
        return None
    return None if zone is None else moment.replace(tzinfo=zone).isoformat()


def _oracle_datetime(value: object) -> str | None:
    text = str(value).strip()
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"):
        try:
            return datetime.strptime(text, fmt).isoformat()
        except ValueError:
            continue
    return _oracle_date(text)


def _outcome(fn: Callable[[Any], Any], value: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(value)
    except Exception as exc:  # the same failures too (an hour 25 is a ValueError)
        return type(exc).__name__, str(exc)


noise = st.one_of(
    st.integers(min_value=0, max_value=99).map(lambda n: f"{n:02d}"),
    st.sampled_from(["1", "", " 1", "٠٣", "²3", "0"]),
)


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    """Mostly two ASCII digits in (and just past) a field's range, sometimes anything."""
    return st.integers(min_value=low, max_value=high).map(lambda n: f"{n:02d}") | noise


us_days = st.builds(
    lambda m, d, y, sep, pad: f"{pad}{m}{sep}{d}{sep}{y}{pad}",
    _two(0, 13),
    _two(0, 32),
    st.sampled_from(["2025", "2024", "2100", "0000", "0999", "9999", "20245", "25"]),
    st.sampled_from(["/"] * 6 + ["-"]),
    st.sampled_from([""] * 6 + [" ", "\n"]),
)
clocks = st.builds(lambda h, m: f"{h}:{m}", _two(0, 24), _two(0, 60)) | st.sampled_from(
    ["9:15", "0915", ""]
)
stamps = st.builds(
    lambda day, clock, s, gap: f"{day}{gap}{clock}:{s}",
    us_days,
    clocks,
    _two(0, 61),
    st.sampled_from([" "] * 6 + ["  ", "T"]),
) | st.builds(lambda day, clock: f"{day} {clock}", us_days, clocks)
zones = st.one_of(
    st.integers(min_value=-25, max_value=25),
    st.sampled_from([None, True, False, "-5", " -6", "x", -5.5, 0.0, "", []]),
)
durations = st.one_of(
    st.integers(min_value=-2000, max_value=3000),
    st.sampled_from(["15", " 20", "x", "", None, 15.0, 10**12]),
)


@settings(max_examples=400, deadline=None)
@given(day=us_days, clock=clocks, tz=zones, duration=durations, stamp=stamps)
def test_date_and_time_transforms_answer_as_strptime_did(
    day: str, clock: str, tz: Any, duration: Any, stamp: str
) -> None:
    assert _outcome(date_us_to_iso, day) == _outcome(_oracle_date, day)
    assert _outcome(transforms.local_start, (day, clock, tz)) == _outcome(
        _oracle_start, (day, clock, tz)
    )
    end = (day, clock, duration, tz)
    assert _outcome(transforms.local_end, end) == _outcome(_oracle_end, end)
    assert _outcome(transforms.local_stamp, (stamp, tz)) == _outcome(_oracle_stamp, (stamp, tz))
    assert _outcome(transforms.datetime_us_to_iso, stamp) == _outcome(_oracle_datetime, stamp)


@pytest.mark.parametrize(
    "value",
    [
        ("07/01/2025", "23:50", 30, -5),  # past midnight: the next day
        ("07/01/2025", "23:45", 15, -5),  # midnight exactly: the next day at 00:00
        ("07/01/2025", "24:00", 15, -5),  # hour 24: ValueError as before
        ("12/31/9999", "23:50", 30, -5),  # past the last day: OverflowError as before
        ("07/01/2025", "00:10", -30, 0),  # before midnight
        ("07/01/2025", "25:00", 15, -5),  # not a time: ValueError as before
    ],
)
def test_local_end_edges(value: tuple[Any, Any, Any, Any]) -> None:
    assert _outcome(transforms.local_end, value) == _outcome(_oracle_end, value)


def _one_off(text: str) -> list[str]:
    """``text`` with each character in turn replaced, dropped or doubled."""
    out = []
    for i in range(len(text)):
        out += [text[:i] + c + text[i + 1 :] for c in " x/:٣²-0123456789"]
        out += [text[:i] + text[i + 1 :], text[:i] + text[i] + text[i:]]
    return out


def test_every_one_character_fault_answers_as_strptime_did() -> None:
    for stamp in _one_off("07/31/2025 23:59:59"):
        for tz in (-5, 0, "-5"):
            assert _outcome(transforms.local_stamp, (stamp, tz)) == _outcome(
                _oracle_stamp, (stamp, tz)
            ), stamp
        assert _outcome(transforms.datetime_us_to_iso, stamp) == _outcome(
            _oracle_datetime, stamp
        ), stamp
    for day in _one_off("07/31/2025"):
        assert _outcome(date_us_to_iso, day) == _outcome(_oracle_date, day), day
        for clock in _one_off("23:45"):
            start = (day, clock, -5)
            assert _outcome(transforms.local_start, start) == _outcome(_oracle_start, start)
            end = (day, clock, 15, -5)
            assert _outcome(transforms.local_end, end) == _outcome(_oracle_end, end), end


@settings(max_examples=300, deadline=None)
@given(day=us_days, clock=clocks, tz=zones, duration=durations, stamp=stamps)
def test_remembered_transforms_answer_as_the_functions(
    day: str, clock: str, tz: Any, duration: Any, stamp: str
) -> None:
    """The tables' local-time transforms keep answers: the same answer, the first time and
    after, as the plain functions (exceptions are not kept)."""
    cases = [
        ("local_start", transforms.local_start, (day, clock, tz)),
        ("local_end", transforms.local_end, (day, clock, duration, tz)),
        ("local_stamp", transforms.local_stamp, (stamp, tz)),
    ]
    for name, plain, value in cases:
        remembered = TRANSFORMS[name].read
        expected = _outcome(plain, value)
        assert _outcome(remembered, value) == expected
        assert _outcome(remembered, value) == expected


def test_equal_values_of_other_types_do_not_share_a_remembered_answer() -> None:
    start = TRANSFORMS["local_start"].read
    assert start(("07/01/2025", "09:15", 1)) == "2025-07-01T09:15:00+01:00"
    assert start(("07/01/2025", "09:15", True)) == transforms.local_start(
        ("07/01/2025", "09:15", True)
    )
    assert start(("07/01/2025", "09:15", 1.9)) == transforms.local_start(
        ("07/01/2025", "09:15", 1.9)
    )  # 1.9 is not 1 (int() truncates it to 1: the same answer, not the same entry)
    end = TRANSFORMS["local_end"].read
    assert end(("07/01/2025", "09:15", "15", -5)) == end(("07/01/2025", "09:15", 15, -5))


def test_remembered_keeps_answers_only_for_the_declared_shapes() -> None:
    calls: list[Any] = []

    def plain(value: Any) -> str:
        calls.append(value)
        return repr(value)

    read = transforms._remembered(plain, (str,), (int, str))
    for _ in range(3):
        assert read(("a", 1)) == "('a', 1)"
        assert read(("a", "1")) == "('a', '1')"
    assert len(calls) == 2  # kept after the first call of each
    for value in [("a", True), ("a", 1.0), ("a",), ("a", 1, 2), ["a", 1], (1, 1)]:
        before = len(calls)
        assert read(value) == repr(value)
        assert read(value) == repr(value)
        assert len(calls) == before + 2, value  # never kept: another shape
