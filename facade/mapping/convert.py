"""Pure conversions between athena records and FHIR resources, driven by a table.

``to_fhir`` and ``to_athena`` are the only places a record changes shape. They
are deterministic (no clock, no randomness), so golden files are stable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from facade.errors import Unprocessable
from facade.mapping.compiled import MAX_READERS, Reader, reader_of
from facade.mapping.ids import format_id
from facade.mapping.paths import Segment, get_values, parse_path, set_value
from facade.mapping.table import CodeTable, Field_, Source, Table
from facade.mapping.transforms import TRANSFORMS

Json = dict[str, Any]


class Codes:
    """Code tables by name, with reverse lookups built once."""

    def __init__(self, tables: dict[str, CodeTable]) -> None:
        self.tables = tables
        self._reverse: dict[str, dict[str, str]] = {}
        for name, table in tables.items():
            reverse: dict[str, str] = {}
            for athena_code, fhir_code in table.map.items():
                reverse.setdefault(fhir_code, athena_code)
            self._reverse[name] = reverse

    def to_fhir(self, name: str, code: Any) -> str | None:
        """The FHIR code for an athena code; ``system|code`` when it is not the table's system."""
        table = self.tables[name]
        return table.map.get(str(code), table.default)

    def to_athena(self, name: str, code: Any) -> str | None:
        reverse = self._reverse[name]
        text = str(code)
        return (
            reverse.get(text)
            or reverse.get(text.rpartition("|")[2])
            or self.tables[name].write_default
        )

    def coding(self, name: str, value: str) -> Json:
        table = self.tables[name]
        system, _, code = value.rpartition("|")
        coding: Json = {"system": system or table.system, "code": code}
        if value in table.display:
            coding["display"] = table.display[value]
        return coding

    @staticmethod
    def bare(value: str) -> str:
        """The code alone, for ``code``-typed elements (their system is implied)."""
        return value.rpartition("|")[2]


def _template(text: str, practice: str) -> str:
    return text.replace("{practice}", practice)


def _is_empty(value: Any) -> bool:
    return value is None or (not value and isinstance(value, (str, list, dict, tuple)))


def _read_field(record: Json, field: Field_) -> Any:
    if isinstance(field.athena, list):
        values = tuple(record.get(name) for name in field.athena)
        return None if all(_is_empty(v) for v in values) else values
    return record.get(field.athena)


def to_fhir(record: Json, table: Table, source_name: str, practice: str, codes: Codes) -> Json:
    """Map one athena record (rest field set or athena FHIR resource) to our FHIR resource."""
    source = table.sources[source_name]
    resource: Json = {"resourceType": table.resource}
    if source.surface in ("fhir", "store"):  # athena's FHIR resource, or one the facade keeps
        resource["id"] = str(record["id"])
        for element in source.copy_elements:
            if element in record and not _is_empty(record[element]):
                resource[element] = record[element]
    else:
        assert source.record_id is not None, "rest sources declare record_id"
        resource["id"] = format_id(practice, table.id.prefix, str(record[source.record_id]))
    _apply_fields(record, source, resource, practice, codes)
    mapped_meta = resource.pop("meta", None)  # a rest field's meta.lastUpdated
    meta: Json = dict(mapped_meta) if isinstance(mapped_meta, dict) else {}
    upstream_meta = record.get("meta")
    if (
        source.surface in ("fhir", "store")
        and isinstance(upstream_meta, dict)
        and upstream_meta.get("lastUpdated")
    ):
        meta["lastUpdated"] = upstream_meta["lastUpdated"]
    if table.profile:
        meta["profile"] = _profiles(table, upstream_meta if source.surface == "fhir" else None)
    if source.rebase:
        for element in source.rebase:
            if element in resource:
                resource[element] = _rebased(resource[element])
    head: Json = {"resourceType": resource.pop("resourceType"), "id": resource.pop("id")}
    if meta:
        head["meta"] = meta
    resource = {
        **head,
        **resource,
    }
    return resource


# A search maps the same athena records again and again: every search over a week maps
# that week's appointments, whatever its exact bounds. A /v1 record's resource is kept per
# record id and given back while the record (with its context) serialises to the same JSON
# as the one it was mapped from: the same values of the same types (1, 1.0 and True are
# equal in Python, not in JSON, and transforms answer them differently). Mapping is
# deterministic (no clock, no randomness: same record, same resource), so this changes no
# answer, and athena is still asked every time. The resource is shared, never changed
# after (as the entity cache's are). Bounded; forgotten all at once past the bound.
# bench P6's one-week Appointment search, two workers, alternating 8-s rounds against the
# same code without it: 2.65 -> 2.17 ms of facade CPU per search, 472 -> 503 searches/s
# (serialising and comparing a 30-field record is ~0.5 µs against ~7 µs for mapping it,
# and fewer new objects means less freeing and garbage collection). A search over
# records never seen before pays the full mapping.
MAPPED_MAX = 4096  # ~4 KB each (the record's JSON and its resource, which the entity cache shares)
_MAPPED: dict[tuple[int, str, int, Any], tuple[Source, Codes, bytes, Json]] = {}


def to_fhir_remembered(
    record: Json, table: Table, source_name: str, practice: str, codes: Codes
) -> Json:
    """``to_fhir``, given back from the last mapping of the same record of a /v1 source."""
    source = table.sources[source_name]
    if source.surface != "rest" or source.record_id is None:
        return to_fhir(record, table, source_name, practice, codes)
    key = (id(source), practice, id(codes), record.get(source.record_id))
    try:
        entry = _MAPPED.get(key)
        text = orjson.dumps(record)
    except TypeError:  # an unhashable id, a value JSON has no form for: no memo
        return to_fhir(record, table, source_name, practice, codes)
    if entry is not None and entry[0] is source and entry[1] is codes and entry[2] == text:
        return entry[3]
    resource = to_fhir(record, table, source_name, practice, codes)
    if len(_MAPPED) >= MAPPED_MAX:
        _MAPPED.clear()
    _MAPPED[key] = (source, codes, text, resource)
    return resource


def _profiles(table: Table, upstream_meta: Any) -> list[str]:
    """athena's own profiles among the table's (in athena's order), else the table's first."""
    assert table.profile is not None
    declared = upstream_meta.get("profile") if isinstance(upstream_meta, dict) else None
    if not isinstance(declared, list):  # a /v1 record (every search result there): no set
        return [table.profile]
    supported = {table.profile, *table.profiles}
    chosen = [str(p).split("|", 1)[0] for p in declared if str(p).split("|", 1)[0] in supported]
    return list(dict.fromkeys(chosen)) or [table.profile]


_ATHENA_FHIR_URL = re.compile(r"^https?://[^\s]+/fhir/r4/([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})$")


def _rebased(value: Any) -> Any:
    """``value`` with every ``url`` into athena's FHIR base made relative (``Binary/{id}``)."""
    if isinstance(value, list):
        return [_rebased(v) for v in value]
    if isinstance(value, dict):
        out = {k: _rebased(v) for k, v in value.items()}
        url = out.get("url")
        if isinstance(url, str) and (m := _ATHENA_FHIR_URL.match(url)):
            out["url"] = m.group(1)
        return out
    return value


def _apply_fields(
    record: Json, source: Source, resource: Json, practice: str, codes: Codes
) -> None:
    key = (id(source), practice, id(codes))
    entry = _SOURCE_READERS.get(key)
    if entry is None or entry[0] is not source or entry[1] is not codes:
        if len(_SOURCE_READERS) >= MAX_READERS:
            _SOURCE_READERS.clear()
        entry = (source, codes, reader_of(source.fields, practice, codes))
        _SOURCE_READERS[key] = entry
    entry[2](record, resource)


# A source's compiled reader per practice: keyed by ids, each entry holding the source and
# code tables it was made for (so the ids stay theirs while it lives; checked on lookup).
_SOURCE_READERS: dict[tuple[int, str, int], tuple[Source, Codes, Reader]] = {}


def apply_read_fields(
    record: Json, fields: Sequence[Field_], resource: Json, practice: str, codes: Codes
) -> None:
    """The read-direction ``fields`` of a record, set on ``resource`` (also a search
    prefilter's partial rendering: facade/mapping/filter.py), by the fields' compiled
    function (facade/mapping/compiled.py; ``interpret_read_fields`` is the reference)."""
    reader_of(fields, practice, codes)(record, resource)


def interpret_read_fields(
    record: Json, fields: Sequence[Field_], resource: Json, practice: str, codes: Codes
) -> None:
    """``apply_read_fields`` by walking the fields: the reference the compiled function
    must agree with (tests/mapping/test_compiled.py)."""
    for field in fields:
        step = _STEPS.get((id(field), practice))
        if step is None or step.field is not field:
            step = _compile(field, practice)
        if step.write_only:
            continue
        names, read, segments, coding = step.names, step.read, step.segments, step.coding
        if isinstance(names, tuple):
            raw: Any = tuple(record.get(name) for name in names)
            if all(_is_empty(v) for v in raw):
                continue
        else:
            raw = record.get(names)
            if _is_empty(raw):
                continue
        value = raw if read is None else read(raw)
        if _is_empty(value):
            continue
        if field.each and isinstance(value, list):
            for item in value:
                item = _read_value(field, item, coding, practice, codes)
                if not _is_empty(item):
                    set_value(resource, segments, item)
            continue
        if field.codes or field.template:
            value = _read_value(field, value, coding, practice, codes)
            if _is_empty(value):
                continue
        set_value(resource, segments, value)


@dataclass(frozen=True)
class _Step:
    """One read field, compiled for a practice: its athena names, transform, FHIR path."""

    field: Field_  # held so the id keying _STEPS stays this field's
    names: str | tuple[str, ...]
    read: Callable[[Any], Any] | None  # None: identity
    segments: tuple[Segment, ...]
    coding: bool
    write_only: bool = False


# Keyed by id(field): every step holds its field, so the id cannot be reused by another
# field while the entry lives (tables loaded again, e.g. in tests, make new fields); the
# lookup also checks identity.
_STEPS: dict[tuple[int, str], _Step] = {}


def _compile(field: Field_, practice: str) -> _Step:
    """A field's read step (cached per field object and practice: tables are loaded once)."""
    if field.direction == "write":
        step = _Step(field, "", None, (), False, write_only=True)
    else:
        segments = parse_path(_template(field.fhir, practice))
        names = tuple(field.athena) if isinstance(field.athena, list) else field.athena
        read = None if field.transform == "identity" else TRANSFORMS[field.transform].read
        step = _Step(field, names, read, segments, segments[-1].name == "coding")
    if len(_STEPS) > 50_000:  # bounded (practices x fields); rebuilt on demand
        _STEPS.clear()
    _STEPS[(id(field), practice)] = step
    return step


def _read_value(field: Field_, value: Any, coding: bool, practice: str, codes: Codes) -> Any:
    if field.codes:
        code = codes.to_fhir(field.codes, value)
        if code is None:
            return None
        return codes.coding(field.codes, code) if coding else codes.bare(code)
    if field.template:
        parts = value if isinstance(value, tuple) else (value,)
        return fill_template(field.template, practice, parts)
    return value


def fill_template(template: str, practice: str, parts: tuple[Any, ...]) -> str:
    """``Patient/a-{practice}.E-{value}`` -> ``Patient/a-195900.E-60178``.

    >>> fill_template("Schedule/a-{practice}.Schedule-{0}-{1}", "1", ("23", "2"))
    'Schedule/a-1.Schedule-23-2'
    """
    text = _template(template, practice).replace("{value}", "{0}")
    return text.format(*("" if p is None else str(p) for p in parts))


def match_template(template: str, practice: str, value: Any) -> str | None:
    """The ``{value}`` inside ``value`` when it has the template's shape, else None.

    >>> match_template("Patient/a-{practice}.E-{value}", "1", "Patient/a-1.E-7")
    '7'
    """
    if not isinstance(value, str):
        return None
    pattern = re.escape(_template(template, practice)).replace(r"\{value\}", "([^/]+)")
    m = re.fullmatch(pattern, value)
    return m.group(1) if m else None


def element_of(table: Table, field: Field_) -> str:
    """The FHIR element a field maps, without selectors (an OperationOutcome expression).

    >>> from facade.mapping.loader import load_mappings
    >>> patient = load_mappings().tables["Patient"]
    >>> element_of(patient, patient.sources["rest"].fields[0])
    'Patient.extension'
    """
    return ".".join([table.resource, *(seg.name for seg in parse_path(field.fhir))])


def to_athena(
    resource: Json,
    table: Table,
    source_name: str,
    practice: str,
    codes: Codes,
    *,
    strict: bool = False,
    current: Json | None = None,
) -> Json:
    """Map a FHIR resource to athena fields (write direction) for a rest source.

    ``strict``: a coded element athena has no code for is a 422 at the element (a
    client's body), instead of being left out (a rendering of athena's own record) —
    unless ``current`` (the record before an update) has the same value there: the
    client only sent back what it read.
    """
    source = table.sources[source_name]
    record: Json = {}
    seen: dict[str, int] = {}  # fields sharing an append path ([+]) take successive values
    for field in source.fields:
        occurrence = seen.get(field.fhir, 0)
        seen[field.fhir] = occurrence + 1
        if field.direction == "read":
            continue
        found = get_values(resource, parse_path(_template(field.fhir, practice)))
        if field.template:  # a reference: only values of this shape, unwrapped
            found = [
                v
                for v in (match_template(field.template, practice, f) for f in found)
                if v is not None
            ]
        position = occurrence if "[+]" in field.fhir else 0
        if len(found) <= position:
            continue
        value: Any = found[position]
        if field.codes:
            given = value
            if isinstance(value, dict):
                value = f"{value.get('system', '')}|{value.get('code', '')}"
            value = codes.to_athena(field.codes, value)
            if value is None and strict and given not in _at(current, field, practice):
                where = element_of(table, field)
                raise Unprocessable(
                    f"athena has no code for {value_text(given)} in {where}",
                    expression=(where,),
                )
        write = TRANSFORMS[field.transform].write
        if write is None or _is_empty(value):
            continue
        value = write(value)
        if _is_empty(value):
            continue
        target = field.athena[0] if isinstance(field.athena, list) else field.athena
        record[target] = value
    return record


def _at(resource: Json | None, field: Field_, practice: str) -> list[Any]:
    return (
        []
        if resource is None
        else get_values(resource, parse_path(_template(field.fhir, practice)))
    )


def value_text(value: Any) -> str:
    """A coded value as a client wrote it, for messages.

    >>> value_text({"system": "urn:ietf:bcp:47", "code": "xx"})
    'urn:ietf:bcp:47|xx'
    """
    if isinstance(value, dict):
        return f"{value.get('system', '')}|{value.get('code', '')}".lstrip("|")[:120]
    return str(value)[:120]


def merge_fhir(
    resource: Json, record: Json, table: Table, source_name: str, practice: str, codes: Codes
) -> Json:
    """``resource`` plus the elements a second source maps that it lacks (a new dict).

    The second source (e.g. the /v1 chart summary behind ``Encounter.text``)
    only fills gaps: what the primary rendering already has wins.
    """
    extra: Json = {}
    _apply_fields(record, table.sources[source_name], extra, practice, codes)
    merged = dict(resource)
    for element, value in extra.items():
        if _is_empty(merged.get(element)):
            merged[element] = value
    return merged
