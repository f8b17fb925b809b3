"""The compiled read mapping (facade/mapping/compiled.py) against the interpreter.

``interpret_read_fields`` is the reference. For every source of every table, real
records (the emulator's seeded patients, appointments, open slots, departments and
providers, and every golden input) and generated ones (hypothesis: each field's athena
names with empty, falsy, scalar, list and dict values) go through both; the results
must be the same objects with the same key order (``repr``), or both must raise the
same exception. A checker that could not fail would prove nothing: a deliberately
broken compiler (a wrong emptiness test, a dropped dict merge) must be caught by the
same comparison over the same records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.config import EmulatorConfig
from emulator.world import World
from facade.mapping import compiled, convert
from facade.mapping.compiled import compile_fields, reader_of
from facade.mapping.convert import interpret_read_fields, merge_fhir, to_fhir
from facade.mapping.loader import load_mappings
from facade.mapping.table import Field_

MAPPINGS = load_mappings()
PRACTICE = "195900"
CASES = Path(__file__).resolve().parents[2] / "mappings" / "cases"
SOURCES = [
    (table.resource, name, source.fields)
    for table in MAPPINGS.tables.values()
    for name, source in table.sources.items()
    if any(f.direction != "write" for f in source.fields)
]


def _records() -> list[dict[str, Any]]:
    world = World(EmulatorConfig(generated_patients=60))
    zones = [-5, -6, -7, -8, 0, None]
    out: list[dict[str, Any]] = [r.v1() for r in world.live_patients(PRACTICE)[:60]]
    for i, appointment in enumerate(world.schedule.all_appointments(PRACTICE)[:3000:10]):
        row = appointment.v1_slot([1]) if appointment.status == "o" else appointment.v1()
        out.append({**row, "departmenttimezone": zones[i % len(zones)]})
    out += world.departments[PRACTICE] + world.providers[PRACTICE]
    for path in sorted(CASES.glob("*.athena.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        out.append(case["record"])
        out += list(case.get("merge", {}).values())
    return out


RECORDS = _records()
Outcome = tuple[str, str]


def _run(read: Callable[[dict[str, Any], dict[str, Any]], None], record: dict[str, Any]) -> Outcome:
    """What a reader made of ``record`` (``repr`` keeps key order and types), or raised."""
    resource: dict[str, Any] = {}
    try:
        read(record, resource)
    except Exception as exc:  # both must fail alike: type, message, what was set before
        return f"{type(exc).__name__}: {exc}", repr(resource)
    return "ok", repr(resource)


def _interpreter(fields: list[Field_]) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def read(record: dict[str, Any], resource: dict[str, Any]) -> None:
        interpret_read_fields(record, fields, resource, PRACTICE, MAPPINGS.codes)

    return read


def _disagreements(
    compile_: Callable[..., Any], records: list[dict[str, Any]]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for resource_type, source, fields in SOURCES:
        fast = compile_(fields, PRACTICE, MAPPINGS.codes)
        slow = _interpreter(fields)
        for record in records:
            if _run(fast, record) != _run(slow, record):
                yield resource_type, source, record


def test_every_source_maps_every_real_record_as_the_interpreter_does() -> None:
    assert len(RECORDS) > 300 and len(SOURCES) > 12
    mapped = sum(_run(_interpreter(f), r)[1] != "{}" for _, _, f in SOURCES for r in RECORDS)
    assert mapped > 1000  # the records really exercise the fields
    assert next(_disagreements(compile_fields, RECORDS), None) is None


@pytest.mark.parametrize(
    "broken",
    [
        # emptiness by truthiness: 0 and False would be dropped (Patient.active false)
        ("_not_empty", lambda name: f"({name})"),
        # a selector that never finds its item: code and display in two codings
        ("_picker", lambda seg: lambda items: items.append(dict(seg.keys)) or items[-1]),
    ],
    ids=["emptiness", "selector"],
)
def test_the_comparison_catches_a_broken_compiled_step(
    broken: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, replacement = broken
    monkeypatch.setattr(compiled, name, replacement)
    records = [*RECORDS, {"status": "inactive", "sex": "F", "patientid": "1"}]
    assert next(_disagreements(compile_fields, records), None) is not None


values = st.one_of(
    st.none(),
    st.sampled_from(["", 0, False, True, [], {}, (), "x", "o", "3", "-5", 7, -5, 15]),
    st.sampled_from(["07/01/2025", "02/30/2025", "07/01/2025 09:15:00", "09:15", "25:00"]),
    st.text(max_size=6),
    st.integers(min_value=-30, max_value=30),
    st.lists(st.sampled_from(["563", "", None, "2106-3", 4]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "url", "code"]), st.sampled_from(["1", ""]), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(pick=st.integers(min_value=0, max_value=10_000), data=st.data())
def test_generated_records_map_as_the_interpreter_does(pick: int, data: st.DataObject) -> None:
    resource_type, source, fields = SOURCES[pick % len(SOURCES)]
    names = sorted(
        {n for f in fields for n in (f.athena if isinstance(f.athena, list) else [f.athena])}
    )
    record = {n: data.draw(values, label=n) for n in names if data.draw(st.booleans())}
    fast = compile_fields(fields, PRACTICE, MAPPINGS.codes)
    assert _run(fast, record) == _run(_interpreter(fields), record), (resource_type, source)


def _golden(case: dict[str, Any]) -> bytes:
    table = MAPPINGS.tables[case["table"]]
    resource = to_fhir(case["record"], table, case["source"], case["practice"], MAPPINGS.codes)
    for source, record in case.get("merge", {}).items():
        resource = merge_fhir(resource, record, table, source, case["practice"], MAPPINGS.codes)
    return orjson.dumps(resource)


def test_to_fhir_renders_every_golden_case_byte_for_byte_as_the_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Key order included (the golden test compares parsed JSON, which ignores it)."""
    cases = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(CASES.glob("*.athena.json"))]
    fast = [_golden(case) for case in cases]

    def interpreted(record: Any, source: Any, resource: Any, practice: str, codes: Any) -> None:
        interpret_read_fields(record, source.fields, resource, practice, codes)

    monkeypatch.setattr(convert, "_apply_fields", interpreted)
    assert fast == [_golden(case) for case in cases]


def test_readers_are_cached_per_field_objects_and_practice() -> None:
    fields = MAPPINGS.tables["Appointment"].sources["rest"].fields
    first = reader_of(fields, PRACTICE, MAPPINGS.codes)
    assert reader_of(list(fields), PRACTICE, MAPPINGS.codes) is first  # the same objects
    assert reader_of(fields, "1", MAPPINGS.codes) is not first
    copied = [f.model_copy() for f in fields]  # equal fields, other objects: compiled anew
    assert reader_of(copied, PRACTICE, MAPPINGS.codes) is not first
    record = RECORDS[100]
    one: dict[str, Any] = {}
    first(record, one)
    assert orjson.dumps(one) == orjson.dumps(_run_dict(copied, record))


def _run_dict(fields: list[Field_], record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    reader_of(fields, PRACTICE, MAPPINGS.codes)(record, out)
    return out


def test_a_source_compiled_once_never_answers_for_another_source() -> None:
    """Sources' compiled readers are keyed by ids: each entry holds its source, so a freed
    source's address taken by a new one (CPython reuses it at once) is never served the old
    reader (the bug tests/mapping/test_write_direction.py recalls for field steps)."""
    from facade.mapping.convert import Codes, _apply_fields
    from facade.mapping.table import Source

    codes = Codes({})
    for i in range(200):
        source = Source(
            surface="rest", record_id="id", fields=[Field_(fhir="gender", athena="sex")]
        )
        _apply_fields({"sex": "F"}, source, {}, PRACTICE, codes)
        fields = [Field_(fhir="name", athena="sex")]  # before the source is freed
        del source
        other = Source(surface="rest", record_id="id", fields=fields)
        out: dict[str, Any] = {}
        _apply_fields({"sex": str(i)}, other, out, PRACTICE, codes)
        assert out == {"name": str(i)}
