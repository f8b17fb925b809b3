"""An appointment's /v1 row is rendered once per version of the record (emulator/visits.py)."""

from __future__ import annotations

import itertools
from dataclasses import fields
from datetime import date, datetime, timedelta

import orjson

from emulator.app import create_app
from emulator.catalog import CANCEL_REASONS
from emulator.config import EmulatorConfig
from emulator.visits import AppointmentRecord

PRACTICE = "195900"


def _changed(record: AppointmentRecord, name: str) -> object:
    """A value for field ``name`` that differs from the record's and renders differently."""
    value = getattr(record, name)
    if name == "cancel":
        return next(r for r in CANCEL_REASONS.values() if r != value)
    if name == "status":
        return "x" if value != "x" else "f"
    if isinstance(value, bool):
        return not value
    if isinstance(value, datetime):
        return value + timedelta(minutes=7)
    if isinstance(value, date):
        return value + timedelta(days=1)
    if isinstance(value, int):
        return value + 1
    if name == "starttime":
        return "23:55"
    if value is None:
        kind = record.__dataclass_fields__[name].type
        if "datetime" in str(kind):
            return record.lastmodified - timedelta(hours=1)
        return "CHANGED" if "str" in str(kind) else 42
    return f"{value}-changed"


def test_every_field_change_renders_again_and_rows_are_copies() -> None:
    world = create_app(EmulatorConfig()).state.emulator
    record = next(
        r
        for r in world.schedule.all_appointments(PRACTICE)
        if r.patientid is not None and r.status != "o"
    )
    names = [f.name for f in fields(record)]
    assert len(names) > 25
    rendered = []
    for name in names:
        mine = record.v1()
        mine["appointmentstatus"] = "tampered"  # a caller's own dict to change
        del mine["lastmodified"]
        assert record.v1()["appointmentstatus"] == record.status
        if name == "appointmenttypeid":
            continue  # a catalog key: only the catalog's ids render
        setattr(record, name, _changed(record, name))
        # the same as rendering this version from scratch, and never a caller's edits
        assert record.v1() == record._render(), name
        assert orjson.loads(orjson.dumps([record.v1_json()])) == [record._render()], name
        assert record.v1() is not record.v1()
        rendered.append(record.v1())
    # the fields that reach the row changed it (a stale row would repeat the previous one)
    shown = [r for r, s in itertools.pairwise(rendered) if r != s]
    assert len(shown) >= 20


def test_a_cancel_is_in_the_next_booked_page() -> None:
    world = create_app(EmulatorConfig()).state.emulator
    record = next(r for r in world.schedule.all_appointments(PRACTICE) if r.status == "f")
    assert record.v1()["appointmentstatus"] == "f"
    assert orjson.loads(orjson.dumps(record.v1_json()))["appointmentstatus"] == "f"
    reason = next(iter(CANCEL_REASONS.values()))
    record.status, record.cancel = "x", reason
    record.cancelled = record.lastmodified
    row = record.v1()
    assert row == orjson.loads(orjson.dumps(record.v1_json()))
    assert row["appointmentstatus"] == "x"
    assert row["cancelreasonid"] == str(reason.appointmentcancelreasonid)
