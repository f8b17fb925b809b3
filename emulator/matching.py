"""Scoring for ``GET /patients/enhancedbestmatch`` (API-NOTES section 3.3).

athena does not publish its scoring; this is the emulator's documented [G] rule.
Points per input that matches (case-insensitive, phones by digits):

============================  ======
first name equal                   9
first name = preferred name        7
only the first initial equal       2
last name equal                    9
last name = a previous last name   6
dob equal                          8
dob with day and month swapped     4
each phone equal (home/mobile)     3
email equal                        3
============================  ======

An exact first + last + dob match scores 26, the default ``minscore``.
``returnbestmatches=true`` returns the top five scoring at least 16.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from emulator.records import PatientRecord, parse_us_date

DEFAULT_MINSCORE = 26
BEST_MATCHES_MINSCORE = 16
BEST_MATCHES_COUNT = 5


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())[-10:]


def score(record: PatientRecord, query: Mapping[str, str], dob: date) -> int:
    """Points for how well ``record`` matches the best-match ``query``."""
    points = 0
    first = query.get("firstname", "").strip().lower()
    last = query.get("lastname", "").strip().lower()
    record_first = record.text("firstname").lower()
    if first and first == record_first:
        points += 9
    elif first and first == record.text("preferredname").lower():
        points += 7
    elif first and record_first and first[0] == record_first[0]:
        points += 2
    if last and last == record.text("lastname").lower():
        points += 9
    elif last and any(last == p.lastname.lower() for p in record.previous_names):
        points += 6
    record_dob = parse_us_date(record.text("dob"))
    if record_dob == dob:
        points += 8
    elif (
        record_dob is not None
        and dob.day <= 12
        and record_dob == date(dob.year, dob.day, dob.month)
    ):
        points += 4
    record_phones = {_digits(record.text(k)) for k in ("homephone", "mobilephone", "workphone")} - {
        ""
    }
    for key in ("homephone", "mobilephone"):
        if query.get(key) and _digits(query[key]) in record_phones:
            points += 3
    email = query.get("email", "").strip().lower()
    if email and email == record.text("email").lower():
        points += 3
    return points
