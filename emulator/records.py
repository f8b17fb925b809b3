"""The emulator's stored records (API-NOTES sections 1.2, 3.1-3.3).

A :class:`PatientRecord` holds exactly the proprietary /v1 patient fields in
``fields`` (one type per field: strings, except ``race`` which is a list of
codes) plus the facts athena keeps but /v1 does not expose (previous names,
address start date, tribal affiliation, precise last-update instant). Both the
/v1 and the FHIR surfaces render from the same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

V1Value = str | list[str]

# Fields a client may set through POST/PUT /patients (section 3.3).
WRITABLE_FIELDS: Final[tuple[str, ...]] = (
    "firstname",
    "middlename",
    "lastname",
    "suffix",
    "preferredname",
    "dob",
    "sex",
    "assignedsexatbirth",
    "genderidentity",
    "ssn",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "countrycode",
    "countrycode3166",
    "homephone",
    "mobilephone",
    "workphone",
    "email",
    "contactpreference",
    "departmentid",
    "primarydepartmentid",
    "primaryproviderid",
    "status",
    "race",
    "ethnicitycode",
    "language6392code",
    "maritalstatus",
    "deceaseddate",
)

# Fields /v1 answers as JSON booleans (2019 and later fixtures); stored as "true"/"false".
BOOLEAN_FIELDS: Final[tuple[str, ...]] = ("emailexists",)

STATUS_CODES: Final[dict[str, str]] = {
    "a": "active",
    "i": "inactive",
    "p": "prospective",
    "d": "deleted",
    "active": "active",
    "inactive": "inactive",
    "prospective": "prospective",
    "deleted": "deleted",
}


@dataclass
class PreviousName:
    """A former name (e.g. maiden name); ``end`` is an ISO date (FHIR name.period.end)."""

    firstname: str
    lastname: str
    end: str


@dataclass
class PatientRecord:
    """One patient in one practice."""

    practiceid: str
    patientid: int
    fields: dict[str, V1Value]
    previous_names: list[PreviousName] = field(default_factory=list)
    address_since: str | None = None  # ISO date: FHIR address.period.start
    tribal_affiliation: str | None = None  # v3-TribalEntityUS code
    last_updated: str = "2025-01-01T00:00:00Z"  # ISO instant: FHIR meta.lastUpdated

    @property
    def deleted(self) -> bool:
        return self.fields.get("status") == "deleted"

    def text(self, name: str) -> str:
        """A string field, or "" when absent."""
        value = self.fields.get(name, "")
        return value if isinstance(value, str) else ""

    def v1(self) -> dict[str, Any]:
        """The /v1 JSON object (section 3.3); empty fields are left out."""
        out: dict[str, Any] = {"patientid": str(self.patientid)}
        for name, value in self.fields.items():
            if value in ("", []):
                continue
            if name in BOOLEAN_FIELDS:
                out[name] = value == "true"
            else:
                out[name] = list(value) if isinstance(value, list) else value
        return out

    @property
    def declined_email(self) -> bool:
        """athena's ``emailexists`` false: the patient declined to give an email [G]."""
        return not self.text("email") and self.text("emailexists") == "false"


def us_date(value: date) -> str:
    """MM/DD/YYYY (section 3.0); ``strftime("%m/%d/%Y")``'s text, formatted directly.

    A booked-list page renders this for every record (py-spy of the emulator under bench
    P6: ``strftime`` was most of a page's rendering). ``%Y`` is not zero-padded (glibc).
    """
    return f"{value.month:02d}/{value.day:02d}/{value.year}"


def parse_us_date(text: str) -> date | None:
    """Lenient MM/DD/YYYY parser (also M/D/YYYY); None when malformed.

    The full form is read by slicing, anything else by ``strptime`` (the same answers:
    tests/emulator/test_emu_formats.py); ``strptime`` was a third of the emulator's CPU
    for a FHIR Patient read (its birth date), bench P2.
    """
    text = text.strip()
    if len(text) == 10 and text[2] == "/" and text[5] == "/" and text.isascii():
        month, day, year = text[:2], text[3:5], text[6:]
        if month.isdigit() and day.isdigit() and year.isdigit():
            try:
                return date(int(year), int(month), int(day))
            except ValueError:
                return None
    try:
        return datetime.strptime(text, "%m/%d/%Y").date()
    except ValueError:
        return None


def iso_from_us(text: str) -> str | None:
    parsed = parse_us_date(text)
    return parsed.isoformat() if parsed else None
