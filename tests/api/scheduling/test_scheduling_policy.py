"""SMART on scheduling: the Appointment compartment and the write letters (pure, no servers)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from facade.auth import policy
from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.engine.writes import WriteContext, check_compartment
from facade.errors import Forbidden
from facade.mapping.loader import load_mappings
from facade.mapping.planner import plan_search
from facade.search import parse_query

DONNA = "a-195900.E-60178"
OTHER = "a-195900.E-1686"


def _booking(patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
    }


def test_patient_tokens_search_only_their_appointments() -> None:
    table = load_mappings().tables["Appointment"]
    auth = AuthContext("app", ScopeSet.parse("patient/*.rs"), ("195900",), patient=DONNA)
    for query in ([], [("patient", f"Patient/{OTHER}")], [("date", "2025-07-01")]):
        req = policy.restrict_search(table, auth, parse_query("Appointment", query))
        assert req.params[0].values == (f"Patient/{DONNA}",)
        plan = plan_search(table, req, "195900")
        assert ("patientid", "60178") in plan.params
    assert not policy.visible(table, auth, {"resourceType": "Appointment", **_booking(OTHER)}, "r")
    assert policy.visible(table, auth, {"resourceType": "Appointment", **_booking(DONNA)}, "r")


def test_patient_tokens_book_only_for_their_patient() -> None:
    table = load_mappings().tables["Appointment"]
    assert table.writes is not None and table.writes.create is not None
    auth = AuthContext(
        "app", ScopeSet.parse("patient/Appointment.cruds"), ("195900",), patient=DONNA
    )

    def ctx(patient: str) -> WriteContext:
        services = cast(Any, None)  # check_compartment needs no services
        assert table.writes is not None and table.writes.create is not None
        return WriteContext(
            services, auth, table, table.writes.create, "195900", _booking(patient), {}
        )

    check_compartment(ctx(DONNA), _booking(DONNA))
    with pytest.raises(Forbidden):
        check_compartment(ctx(OTHER), _booking(OTHER))


@pytest.mark.parametrize(
    ("scope", "letter", "allowed"),
    [
        ("system/Appointment.rs", "c", False),
        ("system/Appointment.cu", "c", True),
        ("system/Appointment.cu", "u", True),
        ("user/Appointment.write", "c", True),
        ("user/Appointment.read", "u", False),
        ("patient/*.*", "u", True),
    ],
)
def test_write_letters(scope: str, letter: str, allowed: bool) -> None:
    auth = AuthContext("app", ScopeSet.parse(scope), ("195900",))
    if allowed:
        auth.require("Appointment", letter)
    else:
        with pytest.raises(Forbidden):
            auth.require("Appointment", letter)
