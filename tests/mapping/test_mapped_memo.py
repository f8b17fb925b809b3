"""``to_fhir_remembered`` (facade/mapping/convert.py) answers what ``to_fhir`` answers.

A kept mapping is given back only for an equal record of the same source, practice and
code tables: every real record of every /v1 source maps as ``to_fhir`` maps it, the
first time and after; a record differing in any one value (athena changed it) is
mapped again.
"""

from __future__ import annotations

from typing import Any

import pytest

from facade.mapping import convert
from facade.mapping.convert import to_fhir, to_fhir_remembered
from tests.mapping.test_compiled import MAPPINGS, PRACTICE, RECORDS

REST = [
    (table, name, source.record_id)
    for table in MAPPINGS.tables.values()
    for name, source in table.sources.items()
    if source.surface == "rest" and source.record_id is not None
]


def _outcome(
    record: dict[str, Any], table: Any, name: str, fn: Any, practice: str = PRACTICE
) -> Any:
    try:
        return fn(record, table, name, practice, MAPPINGS.codes)
    except Exception as exc:  # the same exception both ways
        return (type(exc).__name__, str(exc))


def _other(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "9"
    return "changed"


@pytest.mark.parametrize(
    ("table", "name", "key"), REST, ids=[f"{t.resource}-{n}" for t, n, _ in REST]
)
def test_kept_mappings_answer_as_to_fhir(table: Any, name: str, key: str) -> None:
    convert._MAPPED.clear()
    records = [r for r in RECORDS if key in r]
    for record in records:
        expected = _outcome(record, table, name, to_fhir)
        first = _outcome(record, table, name, to_fhir_remembered)
        assert repr(first) == repr(expected)
        second = _outcome(dict(record), table, name, to_fhir_remembered)
        assert repr(second) == repr(expected)
        if isinstance(expected, dict):
            assert second is first  # kept
            # another practice's record of the same id is its own
            elsewhere = _outcome(record, table, name, to_fhir_remembered, "195901")
            assert repr(elsewhere) == repr(_outcome(record, table, name, to_fhir, "195901"))
    for record in records[:40]:
        for field in record:
            if field == key:
                continue
            changed = {**record, field: _other(record[field])}
            assert repr(_outcome(changed, table, name, to_fhir_remembered)) == repr(
                _outcome(changed, table, name, to_fhir)
            ), field
            # and back: the original record again, as mapped from scratch
            assert repr(_outcome(record, table, name, to_fhir_remembered)) == repr(
                _outcome(record, table, name, to_fhir)
            ), field


def test_the_kept_record_is_a_copy_and_unhashable_ids_map_without_the_memo() -> None:
    table = MAPPINGS.tables["Appointment"]
    record = next(r for r in RECORDS if "appointmentstatus" in r and "appointmentid" in r)
    mine = dict(record)
    resource = to_fhir_remembered(mine, table, "rest", PRACTICE, MAPPINGS.codes)
    mine["duration"] = 999  # the caller changes its own dict afterwards
    again = to_fhir_remembered(mine, table, "rest", PRACTICE, MAPPINGS.codes)
    assert again is not resource and again["minutesDuration"] == 999
    listed = {**record, "appointmentid": [record["appointmentid"]]}
    assert _outcome(listed, table, "rest", to_fhir_remembered) == _outcome(
        listed, table, "rest", to_fhir
    )


def test_equal_values_of_other_types_are_mapped_apart() -> None:
    """1 and True are equal in Python: a record whose value changed type (athena sent true,
    then 1) is mapped again, as the transforms answer them differently."""
    convert._MAPPED.clear()
    table = MAPPINGS.tables["Appointment"]
    record = next(r for r in RECORDS if "appointmentstatus" in r and "appointmentid" in r)
    noshow = {**record, "appointmentstatus": "x", "cancelreasonnoshow": True}
    numbered = {**noshow, "cancelreasonnoshow": 1}
    assert noshow == numbered
    first = to_fhir_remembered(noshow, table, "rest", PRACTICE, MAPPINGS.codes)
    second = to_fhir_remembered(numbered, table, "rest", PRACTICE, MAPPINGS.codes)
    assert first == to_fhir(noshow, table, "rest", PRACTICE, MAPPINGS.codes)
    assert second == to_fhir(numbered, table, "rest", PRACTICE, MAPPINGS.codes)
    assert first["status"] != second["status"]
