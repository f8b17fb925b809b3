"""The fixed vocabulary of named conversions that mapping tables may use.

A table field names one of these (``transform: date_us_to_iso``); nothing else
can run inside a mapping. Each transform is a pair of pure functions: ``read``
turns athena's value into FHIR, ``write`` turns FHIR back into athena's (or is
``None`` for read-only conversions). No clock, no randomness, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from facade.mapping import benefits, claims, insurance, renderings

Fn = Callable[[Any], Any]

OMB_RACE = "urn:oid:2.16.840.1.113883.6.238"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
RACE_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
ETHNICITY_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"

# OMB race categories (ValueSet omb-race-category) and ethnicity categories.
OMB_RACE_CATEGORIES = {
    "1002-5": "American Indian or Alaska Native",
    "2028-9": "Asian",
    "2054-5": "Black or African American",
    "2076-8": "Native Hawaiian or Other Pacific Islander",
    "2106-3": "White",
}
OMB_ETHNICITY_CATEGORIES = {
    "2135-2": "Hispanic or Latino",
    "2186-5": "Not Hispanic or Latino",
}
# athena quirk: "declined" and "unknown" arrive as null-flavor style codes in the
# race/ethnicity fields; US Core allows exactly ASKU and UNK from v3-NullFlavor.
NULL_FLAVORS = {"ASKU": "asked but unknown", "UNK": "unknown"}
_NULL_TEXT = {"ASKU": "Declined to answer", "UNK": "Unknown"}
ATHENA_DECLINED = "declined"  # athena quirk: the patient declined to answer
_NULL_ALIASES = {"ASKU": "ASKU", "DECLINED": "ASKU", "UNK": "UNK", "UNKNOWN": "UNK"}


@dataclass(frozen=True)
class Transform:
    read: Fn
    write: Fn | None


_US_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def date_us_to_iso(value: Any) -> str | None:
    """athena ``MM/DD/YYYY`` -> FHIR ``YYYY-MM-DD``; invalid dates become None.

    >>> date_us_to_iso("10/04/1981")
    '1981-10-04'
    """
    text = str(value).strip()
    if len(text) == 10 and _us_date_shape(text):  # the common case, without the regex
        try:
            date(int(text[6:]), int(text[:2]), int(text[3:5]))
        except ValueError:
            return None
        return f"{text[6:]}-{text[:2]}-{text[3:5]}"
    m = _US_DATE.match(text)
    if not m:
        return None
    month, day, year = (int(g) for g in m.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _us_date_shape(text: str) -> bool:
    """``text`` (10 characters) is ``NN/NN/NNNN`` in ASCII digits."""
    return (
        text[2] == "/"
        and text[5] == "/"
        and text.isascii()
        and text[:2].isdigit()
        and text[3:5].isdigit()
        and text[6:].isdigit()
    )


def _us_stamp(text: str) -> datetime | None:
    """``MM/DD/YYYY HH:MM:SS`` in ASCII digits -> the datetime (None: not that shape or
    not a valid moment, as ``strptime`` with that format would refuse it), without
    ``strptime``. Callers use it only for 19 characters of exactly this shape."""
    if not (
        _us_date_shape(text[:10])
        and text[10] == " "
        and text[13] == ":"
        and text[16] == ":"
        and text[11:13].isdigit()
        and text[14:16].isdigit()
        and text[17:].isdigit()
    ):
        return None
    try:
        return datetime(
            int(text[6:10]),
            int(text[:2]),
            int(text[3:5]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:]),
        )
    except ValueError:
        return None


def date_iso_to_us(value: Any) -> str | None:
    """FHIR ``YYYY-MM-DD`` -> athena ``MM/DD/YYYY``.

    >>> date_iso_to_us("1981-10-04")
    '10/04/1981'
    """
    m = _ISO_DATE.match(str(value)[:10])
    if not m:
        return None
    year, month, day = m.groups()
    return f"{month}/{day}/{year}"


def datetime_us_to_iso(value: Any) -> str | None:
    """athena ``MM/DD/YYYY`` or ``MM/DD/YYYY HH:MM[:SS]`` -> FHIR date or dateTime (no zone).

    >>> datetime_us_to_iso("03/15/2021 09:30:00")
    '2021-03-15T09:30:00'
    """
    text = str(value).strip()
    if len(text) == 19 and text.isascii():  # MM/DD/YYYY HH:MM:SS, without strptime
        moment = _us_stamp(text)
        if moment is not None:
            return moment.isoformat()
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"):
        try:
            return datetime.strptime(text, fmt).isoformat()
        except ValueError:
            continue
    return date_us_to_iso(text)


def phone_digits(value: Any) -> str | None:
    """athena stores phones as digits; FHIR gets them as written, writes strip punctuation.

    >>> phone_digits("(617) 555-0100")
    '6175550100'
    """
    digits = re.sub(r"\D", "", str(value))
    return digits or None


def _identity(value: Any) -> Any:
    return value


def _strip(value: Any) -> Any:
    text = str(value).strip()
    return text or None


def us_core_race(value: Any) -> dict[str, Any] | None:
    """athena ``(race: [codes], racename)`` -> the us-core-race extension body.

    OMB category codes become ``ombCategory``; other CDC race codes become
    ``detailed``; declined/unknown become the v3-NullFlavor ombCategory that
    US Core allows. ``text`` is required by the profile.

    >>> us_core_race((["2106-3"], "White"))["extension"][0]["valueCoding"]["code"]
    '2106-3'
    """
    codes, name = value
    if isinstance(codes, str):
        codes = [c for c in re.split(r"[,\s]+", codes) if c]
    if not codes:
        return None
    parts: list[dict[str, Any]] = []
    texts: list[str] = []
    for code in codes:
        code = str(code).strip()
        null = _NULL_ALIASES.get(code.upper())
        if null:
            coding = {"system": NULL_FLAVOR, "code": null, "display": NULL_FLAVORS[null]}
            parts.append({"url": "ombCategory", "valueCoding": coding})
            texts.append(_NULL_TEXT[null])
        elif code in OMB_RACE_CATEGORIES:
            coding = {"system": OMB_RACE, "code": code, "display": OMB_RACE_CATEGORIES[code]}
            parts.append({"url": "ombCategory", "valueCoding": coding})
            texts.append(OMB_RACE_CATEGORIES[code])
        else:
            parts.append({"url": "detailed", "valueCoding": {"system": OMB_RACE, "code": code}})
    text = str(name).strip() if name else ", ".join(texts) or "Unknown"
    parts.append({"url": "text", "valueString": text})
    return {"extension": parts}


def us_core_ethnicity(value: Any) -> dict[str, Any] | None:
    """athena ``ethnicitycode`` -> the us-core-ethnicity extension body.

    >>> us_core_ethnicity("2186-5")["extension"][1]["valueString"]
    'Not Hispanic or Latino'
    """
    code = str(value).strip() if value else ""
    if not code:
        return None
    null = _NULL_ALIASES.get(code.upper())
    if null:
        coding = {"system": NULL_FLAVOR, "code": null, "display": NULL_FLAVORS[null]}
        part = {"url": "ombCategory", "valueCoding": coding}
        return {"extension": [part, {"url": "text", "valueString": _NULL_TEXT[null]}]}
    if code in OMB_ETHNICITY_CATEGORIES:
        display = OMB_ETHNICITY_CATEGORIES[code]
        coding = {"system": OMB_RACE, "code": code, "display": display}
        part = {"url": "ombCategory", "valueCoding": coding}
    else:
        display = "Detailed ethnicity"
        part = {"url": "detailed", "valueCoding": {"system": OMB_RACE, "code": code}}
    return {"extension": [part, {"url": "text", "valueString": display}]}


def race_codes_from_extension(value: Any) -> list[str] | None:
    """Write direction of ``us_core_race``: the extension back to athena codes
    (``ASKU`` is athena's ``declined``; ``UNK`` is no race recorded).

    >>> race_codes_from_extension({"extension": [
    ...     {"url": "ombCategory", "valueCoding": {"code": "2106-3"}},
    ...     {"url": "ombCategory", "valueCoding": {"code": "ASKU"}},
    ...     {"url": "text", "valueString": "White"}]})
    ['2106-3', 'declined']
    """
    if not isinstance(value, dict):
        return None
    codes: list[str] = []
    for part in value.get("extension", []):
        if part.get("url") not in ("ombCategory", "detailed") or "valueCoding" not in part:
            continue
        code = str(part["valueCoding"].get("code", ""))
        if code == "ASKU":
            codes.append(ATHENA_DECLINED)
        elif code and code != "UNK":  # unknown is "not recorded" in athena
            codes.append(code)
    return codes or None


def ethnicity_code_from_extension(value: Any) -> str | None:
    """Write direction of ``us_core_ethnicity``: athena's one ``ethnicitycode``.

    >>> ethnicity_code_from_extension(us_core_ethnicity("2135-2"))
    '2135-2'
    """
    codes = race_codes_from_extension(value)
    return codes[0] if codes else None


def declined_unless_given(value: Any) -> str | None:
    """``(value, exists)`` -> the data-absent-reason code ``asked-declined`` when athena has
    no value and says it was declined (``emailexists`` false), else None (read only).

    US Core's missing data: the element is there with a DataAbsentReason extension
    saying why its value is not (``telecom[email]._value``).

    >>> declined_unless_given(("", False)), declined_unless_given((None, "false"))
    ('asked-declined', 'asked-declined')
    >>> declined_unless_given(("a@b.c", False)), declined_unless_given((None, None))
    (None, None)
    """
    given, exists = value
    if given not in (None, "") or str(exists).strip().lower() != "false":
        return None
    return "asked-declined"


def patient_status_active(value: Any) -> bool | None:
    """athena patient ``status`` -> ``Patient.active`` (deleted records are never served).

    >>> patient_status_active("inactive")
    False
    """
    status = str(value).strip().lower()
    if status in ("active", "a", "prospective", "p"):
        return True
    if status in ("inactive", "i"):
        return False
    return None


def active_to_patient_status(value: Any) -> str | None:
    """Write direction of ``patient_status_active`` (athena deactivates, never deletes).

    >>> active_to_patient_status(False), active_to_patient_status(True)
    ('inactive', 'active')
    """
    if value is True:
        return "active"
    if value is False:
        return "inactive"
    return None


def _offset(hours: Any) -> timezone | None:
    if type(hours) is int and hours in _ZONES:
        return _ZONES[hours]
    try:
        return timezone(timedelta(hours=int(hours)))
    except (TypeError, ValueError):
        return None


_ZONES = {h: timezone(timedelta(hours=h)) for h in range(-23, 24)}
# the ISO offset of each whole-hour zone, as datetime.isoformat writes it
_OFFSET_TEXT = {h: datetime(2000, 1, 1, tzinfo=z).isoformat()[19:] for h, z in _ZONES.items()}


def _hhmm(text: Any) -> tuple[int, int] | None:
    """``HH:MM`` in ASCII digits, a valid time of day -> (hour, minute); else None."""
    if (
        type(text) is str
        and len(text) == 5
        and text[2] == ":"
        and text.isascii()
        and text[:2].isdigit()
        and text[3:].isdigit()
    ):
        hour, minute = int(text[:2]), int(text[3:])
        if hour < 24 and minute < 60:
            return hour, minute
    return None


def local_start(value: Any) -> str | None:
    """athena ``(date, starttime, departmenttimezone)`` -> FHIR instant with the offset.

    athena quirk: appointment times are department-local with no zone; the facade
    adds the department's offset (``departmenttimezone``, hours) before mapping.

    >>> local_start(("07/01/2025", "09:15", -5))
    '2025-07-01T09:15:00-05:00'
    """
    day, hhmm, tz = value
    offset = _OFFSET_TEXT.get(tz) if type(tz) is int else None
    if offset is not None and _hhmm(hhmm) is not None:  # the common case, without parsing
        iso = date_us_to_iso(day)
        return None if iso is None else f"{iso}T{hhmm}:00{offset}"
    return _local_start(day, hhmm, tz)


def _local_start(day: Any, hhmm: Any, tz: Any) -> str | None:
    iso, zone = date_us_to_iso(day), _offset(tz)
    if iso is None or zone is None or not re.fullmatch(r"\d{2}:\d{2}", str(hhmm)):
        return None
    moment = datetime.fromisoformat(f"{iso}T{hhmm}:00").replace(tzinfo=zone)
    return moment.isoformat()


def local_end(value: Any) -> str | None:
    """``(date, starttime, duration, departmenttimezone)`` -> the end instant.

    >>> local_end(("07/01/2025", "09:15", "15", -5))
    '2025-07-01T09:30:00-05:00'
    """
    day, hhmm, duration, tz = value
    start = local_start((day, hhmm, tz))
    minutes = to_int(duration)
    if start is None or minutes is None:
        return None
    clock = _hhmm(hhmm)
    if clock is not None and len(start) == 25:  # the same day: no datetime arithmetic
        total = clock[0] * 60 + clock[1] + minutes
        if 0 <= total < 24 * 60:
            return f"{start[:11]}{total // 60:02d}:{total % 60:02d}:00{start[19:]}"
    return (datetime.fromisoformat(start) + timedelta(minutes=minutes)).isoformat()


def local_stamp(value: Any) -> str | None:
    """``(MM/DD/YYYY HH:MM:SS, departmenttimezone)`` -> dateTime with the department offset.

    >>> local_stamp(("06/30/2025 09:00:00", -5))
    '2025-06-30T09:00:00-05:00'
    """
    stamp, tz = value
    zone = _offset(tz)
    text = str(stamp).strip()
    if len(text) == 19 and text.isascii():  # the exact shape, without strptime
        moment = _us_stamp(text)
        if moment is not None:
            if zone is None:
                return None
            offset = _OFFSET_TEXT.get(tz) if type(tz) is int else None
            if offset is not None:  # what isoformat writes, without formatting it
                return f"{text[6:10]}-{text[:2]}-{text[3:5]}T{text[11:]}{offset}"
            return moment.replace(tzinfo=zone).isoformat()
    try:
        moment = datetime.strptime(text, "%m/%d/%Y %H:%M:%S")
    except ValueError:
        return None
    return None if zone is None else moment.replace(tzinfo=zone).isoformat()


# Searches map the same appointments again and again (every page reading a day maps its
# times): the local-time transforms remember their answers. Only for values of exactly
# these types (so equal values of other types, 1 and True, never share an answer);
# bounded, forgotten all at once past the bound.
MEMO_MAX = 65_536


_UNKNOWN = object()


def _remembered(fn: Fn, *shapes: tuple[type, ...]) -> Fn:
    """``fn`` with its answers kept, for tuples whose items have exactly ``shapes``' types.

    The type test is generated for the arity (``type(value[i]) in allowed_i``): a search
    calls these four times per appointment it maps or prefilters, and building
    ``tuple(map(type, value))`` to look it up cost 320 ns a call against 130 ns.
    """
    memo: dict[tuple[Any, ...], Any] = {}
    namespace: dict[str, Any] = {"fn": fn, "memo": memo, "_UNKNOWN": _UNKNOWN, "_limit": MEMO_MAX}
    tests = [f"len(value) == {len(shapes)}"]
    for index, allowed in enumerate(shapes):
        namespace[f"_allowed{index}"] = frozenset(allowed)
        tests.append(f"type(value[{index}]) in _allowed{index}")
    source = f"""
def read(value):
    if type(value) is tuple and {" and ".join(tests)}:
        answer = memo.get(value, _UNKNOWN)  # one lookup: another thread may clear it
        if answer is not _UNKNOWN:
            return answer
        answer = fn(value)
        if len(memo) >= _limit:
            memo.clear()
        memo[value] = answer
        return answer
    return fn(value)
"""
    exec(compile(source, f"<remembered {fn.__name__}>", "exec"), namespace)
    read: Fn = namespace["read"]
    read.__doc__ = fn.__doc__
    return read


def to_int(value: Any) -> int | None:
    """athena quirk: numbers arrive as strings or integers. ``"15"`` -> ``15``."""
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def appointment_status_key(value: Any) -> str | None:
    """``(appointmentstatus, cancelreasonnoshow)`` -> the key of the ``appointment-status`` codes.

    A cancelled appointment whose cancel reason is a no-show reads ``x-noshow``.

    >>> appointment_status_key(("x", True))
    'x-noshow'
    """
    status, noshow = value
    if status == "x" and str(noshow).lower() == "true":
        return "x-noshow"
    return None if status is None else str(status)


BOOKED_STATUSES = ("f", "2", "3", "4")  # athena statuses of an appointment filling its slot


def slot_status(value: Any) -> str | None:
    """``(appointmentid, appointmentstatus, frozenyn)`` -> FHIR ``Slot.status``.

    An open slot (``o``, or no status: items of the open-slot list) is ``free``
    unless it is frozen (athena will not book it: ``busy-unavailable``); a slot an
    appointment fills is ``busy``; a cancelled appointment's slot no longer exists
    (athena reopens the time under a new id), so it has no status.

    >>> slot_status(("7", "o", True)), slot_status(("7", None, None)), slot_status(("7", "f", False))
    ('busy-unavailable', 'free', 'busy')
    """
    _, status, frozen = value
    if status in (None, "", "o"):
        return "busy-unavailable" if str(frozen).strip().lower() in ("true", "1", "y") else "free"
    return "busy" if str(status) in BOOKED_STATUSES else None


def filled_slot(value: Any) -> str | None:
    """``(appointmentid, appointmentstatus)`` -> the id of the Slot the appointment fills.

    A booked or checked-in appointment fills the slot with its own id (booking keeps
    the id); a cancelled one fills none (athena reopens the time under a new id).

    >>> filled_slot(("1002708", "2")), filled_slot(("1002708", "x"))
    ('1002708', None)
    """
    appointmentid, status = value
    return str(appointmentid) if str(status) in BOOKED_STATUSES and appointmentid else None


def first_present(value: Any) -> Any:
    """The first of several athena fields that has a value (read only).

    >>> first_present(("", "CANCELLED FROM API"))
    'CANCELLED FROM API'
    >>> first_present(("Patient called", "CANCELLED FROM API"))
    'Patient called'
    """
    return next((v for v in value if v not in (None, "")), None)


def _true(value: Any) -> bool:
    return True


class Constant:
    """A read transform answering ``text`` whatever the value (a compiled mapping writes the
    text itself: facade/mapping/compiled.py)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, value: Any) -> str:
        return self.text


def _constant(text: str) -> Fn:
    return Constant(text)


TRANSFORMS: dict[str, Transform] = {
    "patient_status_active": Transform(patient_status_active, active_to_patient_status),
    "identity": Transform(_identity, _identity),
    "strip": Transform(_strip, _strip),
    "date_us_to_iso": Transform(date_us_to_iso, date_iso_to_us),
    "datetime_us_to_iso": Transform(datetime_us_to_iso, date_iso_to_us),
    "phone_digits": Transform(phone_digits, phone_digits),
    "us_core_race": Transform(us_core_race, race_codes_from_extension),
    "us_core_ethnicity": Transform(us_core_ethnicity, ethnicity_code_from_extension),
    "declined_unless_given": Transform(declined_unless_given, None),
    "summary_narrative": Transform(renderings.summary_narrative, None),
    "text": Transform(renderings.text, None),
    "nucc_specialty": Transform(renderings.nucc_specialty, None),
    "local_start": Transform(_remembered(local_start, (str,), (str,), (int,)), None),
    "local_end": Transform(_remembered(local_end, (str,), (str,), (int, str), (int,)), None),
    "local_stamp": Transform(_remembered(local_stamp, (str,), (int,)), None),
    "integer": Transform(to_int, to_int),
    "appointment_status_key": Transform(appointment_status_key, None),
    "slot_status": Transform(slot_status, None),
    "filled_slot": Transform(filled_slot, None),
    "first_present": Transform(first_present, None),
    # participant.status and participant.required of athena's actors (constants)
    "accepted": Transform(_constant("accepted"), None),
    "required": Transform(_constant("required"), None),
    # Coverage (facade/mapping/insurance.py)
    "member_identifier": Transform(insurance.member_identifier, None),
    "coverage_status": Transform(insurance.coverage_status, None),
    "group_class": Transform(insurance.group_class, None),
    "plan_class": Transform(insurance.plan_class, None),
    "copay_costs": Transform(insurance.copay_costs, None),
    "self_only": Transform(insurance.self_only, None),
    "unless_self": Transform(insurance.unless_self, None),
    "holder_date": Transform(insurance.holder_date, None),
    "holder_kind": Transform(insurance.holder_kind, None),
    "holder_ref": Transform(insurance.holder_ref, None),
    # eligibility (facade/mapping/benefits.py)
    "active": Transform(_constant("active"), None),
    "true": Transform(_true, None),
    "athena_purposes": Transform(benefits.athena_purposes, None),
    "eastern_instant": Transform(benefits.eastern_instant, None),
    "service_type": Transform(benefits.service_type, None),
    "inforce": Transform(benefits.inforce, None),
    "benefit_items": Transform(benefits.benefit_items, None),
    "rejection_errors": Transform(benefits.rejection_errors, None),
    "disposition": Transform(benefits.disposition, None),
    "preview_disposition": Transform(benefits.preview_disposition, None),
    "last_inforce": Transform(benefits.last_inforce, None),
    "copay_items": Transform(benefits.copay_items, None),
    # claims (facade/mapping/claims.py)
    "claim_use": Transform(_constant("claim"), None),
    "claim_narrative": Transform(claims.narrative, None),
    "professional": Transform(claims.professional, None),
    "normal_priority": Transform(claims.normal_priority, None),
    "money": Transform(claims.money, None),
    "payer_insuranceid": Transform(claims.payer_insuranceid, None),
    "claim_diagnoses": Transform(claims.diagnoses, None),
    "claim_items": Transform(claims.items, None),
    "claim_outcome": Transform(claims.outcome, None),
    "claim_disposition": Transform(claims.disposition, None),
    "adjudicated_items": Transform(claims.adjudicated_items, None),
    "claim_totals": Transform(claims.totals, None),
    "claim_payment": Transform(claims.payment, None),
    "claim_errors": Transform(claims.errors, None),
    "process_notes": Transform(claims.process_notes, None),
    "sequence": Transform(claims.sequence, None),
    "focal": Transform(claims.focal, None),
    "one": Transform(claims.one, None),
    "two": Transform(claims.two, None),
    "false": Transform(claims.false, None),
}
