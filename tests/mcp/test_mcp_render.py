"""Pure parts of facade/mcp: bounded views, cursors, idempotency keys, tool descriptions."""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any, cast

import facade.mcp.render
from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.mcp.query import next_cursor
from facade.mcp.render import appointment_row, condition_row, encounter_row, patient_row
from facade.mcp.tool import TOOLS, ToolCall
from facade.mcp.tools.scheduling import BookAppointment

CASES = Path(__file__).resolve().parents[2] / "mappings/cases"


def _case(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CASES / f"{name}.fhir.json").read_text())
    return data


def test_docstring_examples() -> None:
    assert doctest.testmod(facade.mcp.render).failed == 0


def test_views_keep_ids_references_and_the_few_fields_a_model_needs() -> None:
    patient = patient_row(_case("patient.fhir.sandbox-60178"))
    assert patient == {
        "id": "a-195900.E-60178",
        "reference": "Patient/a-195900.E-60178",
        "name": "Donna Marie Sandboxtest",
        "birthDate": "1972-10-24",
        "gender": "female",
        "identifiers": [{"system": "urn:athenahealth:athenanet:patient:195900", "value": "60178"}],
        "phone": "6175550100",
        "city": "Watertown, MA",
    }
    appointment = appointment_row(_case("appointment.rest.booked"))
    assert appointment["patient"] == "Patient/a-195900.E-1686"
    assert appointment["practitioner"] == "Practitioner/a-195900.Provider-1"
    assert appointment["visit_type"] == {
        "text": "Established Patient",
        "code": "82",
        "system": "urn:athenahealth:athenanet:appointmenttype:195900",
    }
    encounter = encounter_row(_case("encounter.fhir.finished-discharged"))
    assert encounter["practitioner_name"] == "Jane Doe, MD"
    assert encounter["type"]["code"] == "99212"
    condition = condition_row(_case("condition.fhir.encounter-diagnosis"))
    assert condition["code"]["code"] == "I10"
    assert condition["encounter"] == "Encounter/a-195900.encounter-40277"
    for row in (patient, appointment, encounter, condition):
        assert len(json.dumps(row)) < 1200  # bounded: no narrative, no extensions


def test_next_cursor_is_the_engines_paging_cursor() -> None:
    bundle = {"link": [{"relation": "next", "url": "http://x/fhir/r4/Patient?name=a&_cursor=abc"}]}
    assert next_cursor(bundle) == "abc"
    assert next_cursor({"link": [{"relation": "self", "url": "http://x"}]}) is None


def test_the_idempotency_key_is_per_request_user_and_arguments() -> None:
    auth = AuthContext("app", ScopeSet.parse("system/*.cruds"), ("195900",), subject="u1")
    services = cast(Any, None)
    args = BookAppointment(appointment_id="a-195900.Appointment-1", patient_id="a-195900.E-1")
    key = ToolCall(services, auth, "book_appointment", "http:-:7").idempotency_key(args)
    same = ToolCall(services, auth, "book_appointment", "http:-:7").idempotency_key(args)
    assert key == same
    other_request = ToolCall(services, auth, "book_appointment", "http:-:8")
    assert other_request.idempotency_key(args) != key
    other_slot = BookAppointment(appointment_id="a-195900.Appointment-2", patient_id="a-195900.E-1")
    assert (
        ToolCall(services, auth, "book_appointment", "http:-:7").idempotency_key(other_slot) != key
    )


def test_every_tool_has_a_one_paragraph_description() -> None:
    assert len(TOOLS) >= 9
    for tool in TOOLS.values():
        assert "\n\n" not in tool.description and len(tool.description) > 150
