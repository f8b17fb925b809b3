"""A warehouse row from a FHIR resource: the common columns and a few typed ones per type.

Every table has ``id`` (primary key), ``practice`` (from the id, by the type's id scheme),
``patient`` (the patient the resource belongs to: its own id for Patient, else the
reference at the table's compartment path), ``last_updated`` (``meta.lastUpdated``, UTC),
``resource`` (the resource as JSON), ``hash`` (of the resource, to tell a change from a
repeat), ``deleted`` / ``deleted_at`` and ``synced_at``. The typed columns below are
extras for joins and filters; a type without an entry (a table added later) gets the
common columns only, and is synced all the same.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson

from facade.errors import FacadeError
from facade.mapping.ids import parse_table_id
from facade.mapping.table import Table

Json = dict[str, Any]
SqlType = Literal["text", "timestamp", "date", "integer", "boolean"]
_SELECTOR = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    value: Callable[[Json], Any]


def walk(value: Any, path: str) -> Iterator[Any]:
    """The values at a dotted path (lists flattened; ``[...]`` selectors ignored)."""
    items = [value]
    for step in _SELECTOR.sub("", path).split("."):
        found = []
        for item in items:
            child = item.get(step) if isinstance(item, dict) else None
            if isinstance(child, list):
                found.extend(child)
            elif child is not None:
                found.append(child)
        items = found
    yield from items


def first(path: str) -> Callable[[Json], Any]:
    return lambda r: next((v for v in walk(r, path) if isinstance(v, str | int | bool)), None)


def reference(path: str, target: str) -> Callable[[Json], str | None]:
    """The first reference at ``path`` to a ``target`` resource, as its id."""

    def pick(resource: Json) -> str | None:
        for ref in walk(resource, path):
            text = ref.get("reference") if isinstance(ref, dict) else None
            if isinstance(text, str) and text.startswith(f"{target}/"):
                return text.removeprefix(f"{target}/")
        return None

    return pick


def instant(value: Any) -> datetime | None:
    """A FHIR dateTime/instant as a naive UTC timestamp; a date is its midnight UTC."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def day(value: Any) -> date | None:
    """A date (or a dateTime's date); a partial date (1980, 1980-05) has no day."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _stamp(path: str) -> Callable[[Json], datetime | None]:
    return lambda r: instant(first(path)(r))


def _date(path: str) -> Callable[[Json], date | None]:
    return lambda r: day(first(path)(r))


def _text(path: str) -> Column:
    return Column(path.replace(".", "_").lower(), "text", first(path))


# A few columns per type, for joins (practitioner, location, patient...) and filters.
TYPED: dict[str, list[Column]] = {
    "Patient": [
        Column("birthdate", "date", _date("birthDate")),
        Column("gender", "text", first("gender")),
        Column("family", "text", first("name.family")),
        Column("active", "boolean", first("active")),
    ],
    "Appointment": [
        Column("start", "timestamp", _stamp("start")),
        Column("end", "timestamp", _stamp("end")),
        _text("status"),
        Column("practitioner", "text", reference("participant.actor", "Practitioner")),
        Column("location", "text", reference("participant.actor", "Location")),
        Column("slot", "text", reference("slot", "Slot")),
    ],
    "Encounter": [
        Column("period_start", "timestamp", _stamp("period.start")),
        Column("period_end", "timestamp", _stamp("period.end")),
        Column("class", "text", first("class.code")),
        _text("status"),
        Column("practitioner", "text", reference("participant.individual", "Practitioner")),
        Column("location", "text", reference("location.location", "Location")),
    ],
    "Condition": [
        Column("code", "text", first("code.coding.code")),
        Column("clinical_status", "text", first("clinicalStatus.coding.code")),
        Column("encounter", "text", reference("encounter", "Encounter")),
        Column("recorded", "timestamp", _stamp("recordedDate")),
    ],
    "Coverage": [
        Column("payor", "text", first("payor.reference")),
        _text("status"),
        Column("period_start", "date", _date("period.start")),
        Column("period_end", "date", _date("period.end")),
    ],
    "Slot": [
        Column("start", "timestamp", _stamp("start")),
        Column("end", "timestamp", _stamp("end")),
        _text("status"),
        Column("schedule", "text", reference("schedule", "Schedule")),
    ],
    "Schedule": [
        Column("practitioner", "text", reference("actor", "Practitioner")),
        Column("location", "text", reference("actor", "Location")),
    ],
    "PractitionerRole": [
        Column("practitioner", "text", reference("practitioner", "Practitioner")),
        Column("location", "text", reference("location", "Location")),
    ],
    "Provenance": [
        Column("recorded", "timestamp", _stamp("recorded")),
        Column("target", "text", first("target.reference")),
    ],
    "Practitioner": [Column("family", "text", first("name.family"))],
    "Location": [_text("name"), _text("status")],
    "Organization": [_text("name")],
}

COMMON: list[tuple[str, SqlType]] = [
    ("practice", "text"),
    ("patient", "text"),
    ("last_updated", "timestamp"),
]


def typed_columns(rtype: str) -> list[Column]:
    return TYPED.get(rtype, [])


def table_name(rtype: str) -> str:
    """``Appointment`` -> ``appointment`` (one table per resource type)."""
    return re.sub(r"[^a-z0-9_]", "_", rtype.lower())


def canonical(resource: Json) -> bytes:
    return orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


@dataclass(frozen=True)
class Row:
    id: str
    body: bytes  # the resource, canonical JSON
    hash: str
    values: dict[str, Any]  # common and typed columns


class RowMaker:
    """Rows of one type, with the practice and patient found by the type's own table."""

    def __init__(self, rtype: str, table: Table | None) -> None:
        self.rtype = rtype
        self.table = table
        self.columns = typed_columns(rtype)

    def _practice(self, rid: str) -> str | None:
        if self.table is not None:
            try:
                return parse_table_id(rid, self.table.id).practice
            except FacadeError:
                pass
        match = re.match(r"^a-([0-9]+)\.", rid)
        return match.group(1) if match else None

    def _patient(self, resource: Json) -> str | None:
        if self.rtype == "Patient":
            return str(resource["id"])
        if self.table is None or self.table.compartment is None:
            return None
        return reference(self.table.compartment.path, "Patient")(resource)

    def row(self, resource: Json) -> Row:
        rid = str(resource["id"])
        body = canonical(resource)
        meta = resource.get("meta")
        values: dict[str, Any] = {
            "practice": self._practice(rid),
            "patient": self._patient(resource),
            "last_updated": instant(meta.get("lastUpdated")) if isinstance(meta, dict) else None,
        }
        for column in self.columns:
            try:
                values[column.name] = column.value(resource)
            except (TypeError, ValueError, AttributeError):
                values[column.name] = None
        return Row(rid, body, digest(body), values)
