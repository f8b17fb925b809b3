"""athena's date texts, formatted directly, are exactly ``strftime``'s (emulator/records.py)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.records import parse_us_date, us_date
from emulator.visits import us_stamp


def test_us_date_and_stamp_equal_strftime() -> None:
    rng = random.Random(3)
    days = [date(1, 1, 1), date(999, 12, 31), date(1000, 1, 1), date(9999, 12, 31)]
    days += [date(1900, 1, 1) + timedelta(days=rng.randint(0, 80_000)) for _ in range(5_000)]
    for day in days:
        assert us_date(day) == day.strftime("%m/%d/%Y"), day
    zones = [UTC, timezone(timedelta(hours=-5)), None]
    for day in days:
        moment = datetime(day.year, day.month, day.day, rng.randint(0, 23), rng.randint(0, 59))
        moment = moment.replace(second=rng.randint(0, 59), microsecond=rng.randint(0, 999_999))
        moment = moment.replace(tzinfo=rng.choice(zones))
        assert us_stamp(moment) == moment.strftime("%m/%d/%Y %H:%M:%S"), moment


def _strptime_date(text: str) -> date | None:
    try:
        return datetime.strptime(text.strip(), "%m/%d/%Y").date()
    except ValueError:
        return None


@settings(max_examples=2_000, deadline=None)
@given(
    text=st.one_of(
        st.from_regex(r"\s?[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}\s?", fullmatch=True),
        st.text(alphabet="0123456789/ ²٣", min_size=8, max_size=12),
        st.from_regex(r"[0-9٣²]{2}/[0-9٣]{2}/[0-9٣]{4}", fullmatch=True),  # other digits
        st.builds(us_date, st.dates()),
    )
)
def test_parse_us_date_answers_as_strptime(text: str) -> None:
    assert parse_us_date(text) == _strptime_date(text)
