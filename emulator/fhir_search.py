"""Patient search on the emulated athena FHIR API (API-NOTES sections 5.2, 5.4, 5.5).

Parameters: ``ah-practice`` (required), ``_id``, ``identifier``, ``name``,
``family``, ``given`` (case-insensitive starts-with; ``name`` matches any name
part, whitespace-separated words must all match), ``birthdate`` and
``_lastUpdated`` (prefixes eq/ne/gt/ge/lt/le, partial dates), ``gender``,
``ah-department``, ``_count``, ``cursor``. Commas mean OR; repeated parameters AND.
Required any: ``_id`` / ``identifier`` / ``name`` / ``family+birthdate`` /
``family+gender`` / ``family+given``; anything else is athena's 400
"Invalid FHIR request". Unknown parameters are refused the same way [G].

The cursor is opaque: base64url("{offset}.{fingerprint}") where the
fingerprint hashes the other parameters, so a cursor only works with the
query that produced it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from emulator.errors import invalid_fhir_request
from emulator.fhir_patient import PATIENT_ID, identifier_system
from emulator.records import PatientRecord, parse_us_date

GENDERS = {"male": "M", "female": "F", "unknown": "U", "other": "N"}
_PRACTICE = re.compile(r"^(?:Organization/)?a-1\.Practice-(?P<practice>\d+)$")
_DEPARTMENT = re.compile(
    r"^(?:Organization/)?(?:a-(?P<practice>\d+)\.Department-)?(?P<department>\d+)$"
)
_PREFIXED = re.compile(
    r"^(?P<prefix>eq|ne|gt|ge|lt|le)?(?P<value>\d{4}(?:-\d{2}(?:-\d{2}(?:T.*)?)?)?)$"
)
KNOWN = {
    "ah-practice", "_id", "identifier", "name", "family", "given", "birthdate", "gender",
    "ah-department", "_count", "cursor", "_lastUpdated", "_format", "_pretty", "_security",
}  # fmt: skip

Matcher = Callable[[PatientRecord], bool]


@dataclass(frozen=True)
class PatientSearch:
    """A parsed, validated Patient search."""

    practiceid: str
    matchers: tuple[Matcher, ...]
    count: int
    offset: int
    fingerprint: str
    echo: tuple[tuple[str, str], ...]  # the parameters to repeat in paging links

    def matches(self, record: PatientRecord) -> bool:
        return all(matcher(record) for matcher in self.matchers)

    def cursor_for(self, offset: int) -> str:
        raw = f"{offset}.{self.fingerprint}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def fingerprint(pairs: list[tuple[str, str]]) -> str:
    kept = sorted((k, v) for k, v in pairs if k not in {"cursor", "_count"})
    return hashlib.sha256(repr(kept).encode()).hexdigest()[:16]


def decode_cursor(text: str, fingerprint: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        offset_text, _, print_ = raw.partition(".")
        offset = int(offset_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_fhir_request() from None
    if print_ != fingerprint or offset < 0:
        raise invalid_fhir_request()
    return offset


def date_interval(text: str) -> tuple[str, datetime, datetime]:
    """(prefix, start, end) of a FHIR date/dateTime search value."""
    match = _PREFIXED.match(text.strip())
    if match is None:
        raise invalid_fhir_request()
    prefix, value = match["prefix"] or "eq", match["value"]
    try:
        if "T" in value:
            start = datetime.fromisoformat(value)
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
            return prefix, start, start + timedelta(seconds=1)
        parts = [int(p) for p in value.split("-")]
        first = date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        raise invalid_fhir_request() from None
    if len(parts) == 3:
        last = first + timedelta(days=1)
    elif len(parts) == 2:
        last = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    else:
        last = date(first.year + 1, 1, 1)
    return (
        prefix,
        datetime(first.year, first.month, first.day, tzinfo=UTC),
        datetime(last.year, last.month, last.day, tzinfo=UTC),
    )


def compare_instant(prefix: str, start: datetime, end: datetime, at: datetime) -> bool:
    return {
        "eq": start <= at < end,
        "ne": not start <= at < end,
        "gt": at >= end,
        "ge": at >= start,
        "lt": at < start,
        "le": at < end,
    }[prefix]


def _date_matcher(text: str, field: Callable[[PatientRecord], datetime | None]) -> Matcher:
    prefix, start, end = date_interval(text)

    def match(record: PatientRecord) -> bool:
        at = field(record)
        return at is not None and compare_instant(prefix, start, end, at)

    return match


def _birth(record: PatientRecord) -> datetime | None:
    born = parse_us_date(record.text("dob"))
    return datetime(born.year, born.month, born.day, tzinfo=UTC) if born else None


def _updated(record: PatientRecord) -> datetime | None:
    return datetime.fromisoformat(record.last_updated)


def _name_parts(record: PatientRecord, kind: str) -> list[str]:
    family = [record.text("lastname")] + [p.lastname for p in record.previous_names]
    given = [record.text(k) for k in ("firstname", "middlename", "preferredname")]
    given += [p.firstname for p in record.previous_names]
    parts = (
        family
        if kind == "family"
        else given
        if kind == "given"
        else family + given + [record.text("suffix")]
    )
    return [p.lower() for p in parts if p]


def _name_matcher(kind: str, text: str) -> Matcher:
    alternatives = [alt.lower().split() for alt in text.split(",") if alt.strip()]

    def match(record: PatientRecord) -> bool:
        parts = _name_parts(record, kind)
        return any(
            all(any(p.startswith(word) for p in parts) for word in words) for words in alternatives
        )

    return match


def _ids_matcher(practiceid: str, text: str) -> Matcher:
    wanted: set[int] = set()
    for item in text.split(","):
        match = PATIENT_ID.match(item.strip().removeprefix("Patient/"))
        if match is None:
            raise invalid_fhir_request()
        if match["practice"] == practiceid:
            wanted.add(int(match["patient"]))
    return lambda record: record.patientid in wanted


def _identifier_matcher(practiceid: str, text: str) -> Matcher:
    wanted: set[str] = set()
    for item in text.split(","):
        system, bar, value = item.strip().rpartition("|")
        if bar and system and system != identifier_system(practiceid):
            continue
        wanted.add(value.strip())
    return lambda record: str(record.patientid) in wanted


def _gender_matcher(text: str) -> Matcher:
    codes: set[str] = set()
    for item in text.split(","):
        code = GENDERS.get(item.strip().lower())
        if code is None:
            raise invalid_fhir_request()
        codes.add(code)
    return lambda record: (record.text("sex") or "U") in codes


def _department_matcher(practiceid: str, text: str) -> Matcher:
    wanted = set()
    for item in text.split(","):
        match = _DEPARTMENT.match(item.strip())
        if match is None:
            raise invalid_fhir_request()
        if match["practice"] in {None, practiceid}:
            wanted.add(match["department"])
    return lambda record: bool(
        {record.text("departmentid"), record.text("primarydepartmentid")} & wanted
    )


def parse_search(
    pairs: list[tuple[str, str]], known_practices: set[str], default_count: int, max_count: int
) -> PatientSearch:
    """Validate athena's rules and build the matchers; raises FhirError 400."""
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in KNOWN:
            raise invalid_fhir_request()
        params.setdefault(name, []).append(value)
    practice_match = _PRACTICE.match(params.get("ah-practice", [""])[-1].strip())
    if practice_match is None or practice_match["practice"] not in known_practices:
        raise invalid_fhir_request()
    practiceid = practice_match["practice"]
    present = {name for name, values in params.items() if any(v.strip() for v in values)}
    family_combo = "family" in present and bool(present & {"birthdate", "gender", "given"})
    if not (present & {"_id", "identifier", "name"} or family_combo):
        raise invalid_fhir_request()
    matchers: list[Matcher] = []
    builders: dict[str, Callable[[str], Matcher]] = {
        "_id": lambda v: _ids_matcher(practiceid, v),
        "identifier": lambda v: _identifier_matcher(practiceid, v),
        "name": lambda v: _name_matcher("name", v),
        "family": lambda v: _name_matcher("family", v),
        "given": lambda v: _name_matcher("given", v),
        "birthdate": lambda v: _date_matcher(v, _birth),
        "_lastUpdated": lambda v: _date_matcher(v, _updated),
        "gender": _gender_matcher,
        "ah-department": lambda v: _department_matcher(practiceid, v),
    }
    for name, build in builders.items():
        for value in params.get(name, []):
            if value.strip():
                matchers.append(build(value))
    count = default_count
    if params.get("_count"):
        try:
            count = int(params["_count"][-1])
        except ValueError:
            raise invalid_fhir_request() from None
        count = default_count if count < 1 else min(count, max_count)
    query_print = fingerprint(pairs)
    offset = decode_cursor(params["cursor"][-1], query_print) if params.get("cursor") else 0
    echo = tuple((k, v) for k, v in pairs if k != "cursor")
    return PatientSearch(practiceid, tuple(matchers), count, offset, query_print, echo)
