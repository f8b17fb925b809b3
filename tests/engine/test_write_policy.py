"""The write-authorization declaration of the tables, without servers.

The tables must give every id a write sends a role: a new table cannot forget its
patient field or the record in a path.
"""

from __future__ import annotations

from typing import Any

import pytest

from facade.mapping.loader import load_mappings
from facade.mapping.table import Table


def _appointment_table() -> Table:
    return load_mappings().tables["Appointment"]


def _with_writes(table: Table, **changes: Any) -> dict[str, Any]:
    raw = table.model_dump(by_alias=True, exclude_none=True)
    raw["writes"].update(changes)
    return raw


def test_every_path_field_needs_a_role() -> None:
    table = _appointment_table()
    assert table.writes is not None and table.writes.create is not None
    create = table.writes.create.model_dump(by_alias=True, exclude_none=True)
    with pytest.raises(ValueError, match="path field appointmentid"):
        Table.model_validate(_with_writes(table, create={**create, "records": {}}))
    with pytest.raises(ValueError, match="only update steps have a target"):
        Table.model_validate(
            _with_writes(table, create={**create, "records": {"appointmentid": {"role": "target"}}})
        )
    with pytest.raises(ValueError, match="never sent"):
        records = {**create["records"], "nowhere": {"role": "taken"}}
        Table.model_validate(_with_writes(table, create={**create, "records": records}))


def test_a_patient_reference_field_must_be_declared() -> None:
    table = _appointment_table()
    with pytest.raises(ValueError, match="carries a patient id"):
        Table.model_validate(_with_writes(table, patients=[]))


def test_an_update_declares_its_target() -> None:
    table = _appointment_table()
    assert table.writes is not None
    cancel = table.writes.update[0].model_dump(by_alias=True, exclude_none=True)
    with pytest.raises(ValueError, match="path field appointmentid"):
        Table.model_validate(_with_writes(table, update=[{**cancel, "records": {}}]))
