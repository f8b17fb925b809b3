"""The write-authorization declaration (tables) and the engine's guards, without servers.

The tables must give every id a write sends a role (a new table cannot forget its
patient field or the record in a path), and the engine sends only the request it
authorized. The HTTP behaviour is in tests/api/test_write_authorization.py.
"""

from __future__ import annotations

import doctest
from typing import Any, cast

import pytest

from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.engine import write_policy
from facade.engine.writes import WriteContext, check_compartment, send
from facade.errors import FacadeError, Forbidden, InvalidRequest, Unprocessable
from facade.mapping.loader import load_mappings
from facade.mapping.table import Table

PID = "195900"
DONNA = f"a-{PID}.E-60178"
OTHER = f"a-{PID}.E-60179"
SYSTEM = f"urn:athenahealth:athenanet:appointment:{PID}"


def _appointment_table() -> Table:
    return load_mappings().tables["Appointment"]


def _with_writes(table: Table, **changes: Any) -> dict[str, Any]:
    raw = table.model_dump(by_alias=True, exclude_none=True)
    raw["writes"].update(changes)
    return raw


def test_the_doc_examples_hold() -> None:
    assert doctest.testmod(write_policy).failed == 0


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


class _Services:
    mappings = load_mappings()


def _ctx(
    resource: dict[str, Any],
    scope: str = "patient/Appointment.cruds",
    *,
    current: dict[str, Any] | None = None,
) -> WriteContext:
    table = _appointment_table()
    assert table.writes is not None and table.writes.create is not None
    step = table.writes.update[0] if current is not None else table.writes.create
    auth = AuthContext("app", ScopeSet.parse(scope), (PID,), patient=DONNA)
    services = cast(Any, _Services())
    target = "1001" if current is not None else None
    return WriteContext(
        services, auth, table, step, PID, resource, {}, current=current, target=target
    )


def _appointment(*patients: str, **elements: Any) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [{"actor": {"reference": f"Patient/{p}"}} for p in patients],
        **elements,
    }


def test_the_body_names_one_patient_of_the_compartment() -> None:
    check_compartment(_ctx(_appointment(DONNA, DONNA)), _appointment(DONNA, DONNA))
    with pytest.raises(Unprocessable) as many:
        body = _appointment(OTHER, DONNA)
        check_compartment(_ctx(body), body)
    assert many.value.expression == ("Appointment.participant",)
    with pytest.raises(Unprocessable):  # for a clinician too: athena books one patient
        check_compartment(_ctx(body, "user/Appointment.cruds"), body)
    with pytest.raises(Forbidden) as outside:
        body = _appointment(OTHER)
        check_compartment(_ctx(body), body)
    assert outside.value.expression == ("Appointment.participant[0].actor.reference",)
    check_compartment(_ctx(body, "system/Appointment.cruds"), body)  # no compartment


def test_the_body_names_one_record() -> None:
    body = _appointment(
        DONNA,
        slot=[{"reference": f"Slot/a-{PID}.Slot-1001"}],
        identifier=[{"system": SYSTEM, "value": "1002"}],
    )
    with pytest.raises(InvalidRequest) as disagree:
        check_compartment(_ctx(body), body)
    assert disagree.value.expression == ("Appointment.identifier[0].value",)
    shaped = _appointment(DONNA, slot=[{"reference": f"Slot/a-{PID}.Slot-../x"}])
    with pytest.raises(InvalidRequest):
        check_compartment(_ctx(shaped), shaped)


def test_an_update_names_only_the_url_record_and_its_patient() -> None:
    current = _appointment(
        DONNA, id=f"a-{PID}.Appointment-1001", identifier=[{"system": SYSTEM, "value": "1001"}]
    )
    same = {**current, "status": "cancelled"}
    check_compartment(_ctx(same, current=current), same)
    other = {**same, "identifier": [{"system": SYSTEM, "value": "1002"}]}
    with pytest.raises(InvalidRequest) as named:
        check_compartment(_ctx(other, current=current), other)
    assert named.value.expression == ("Appointment.identifier[0].value",)
    moved = {**same, "participant": [{"actor": {"reference": f"Patient/{OTHER}"}}]}
    with pytest.raises(InvalidRequest):
        check_compartment(_ctx(moved, "user/Appointment.cruds", current=current), moved)


async def test_send_refuses_a_request_it_did_not_authorize() -> None:
    ctx = _ctx(_appointment(DONNA))
    ctx.fields.update({"appointmentid": "1001", "patientid": "60178"})
    with pytest.raises(FacadeError, match="not the request that was authorized"):
        await send(ctx)
    ctx.authorized = ("PUT", PID, "/appointments/1001", (("patientid", "60178"),))
    ctx.fields["patientid"] = "60179"  # changed after it was authorized
    with pytest.raises(FacadeError, match="not the request that was authorized"):
        await send(ctx)
