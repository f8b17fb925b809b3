from __future__ import annotations

import pytest

from facade.errors import InvalidRequest
from facade.mapping.loader import load_mappings
from facade.mapping.planner import plan_search
from facade.mapping.table import Table
from facade.search import parse_query

PRACTICE = "195900"


@pytest.fixture(scope="module")
def patient() -> Table:
    table = load_mappings().table("Patient")
    assert table is not None
    return table


def plan(table: Table, query: list[tuple[str, str]], allow_scan: bool = True):  # type: ignore[no-untyped-def]
    return plan_search(table, parse_query("Patient", query), PRACTICE, allow_scan=allow_scan)


def test_id_goes_to_athena_fhir_with_practice(patient: Table) -> None:
    p = plan(patient, [("_id", "a-195900.E-60178")])
    assert p.route.name == "fhir-by-id"
    assert p.route.surface == "fhir"
    assert ("ah-practice", "Organization/a-1.Practice-195900") in p.params
    assert ("_id", "a-195900.E-60178") in p.params
    assert p.exact_total and not p.empty


def test_id_of_another_practice_matches_nothing_without_a_call(patient: Table) -> None:
    assert plan(patient, [("_id", "a-195901.E-5")]).empty
    assert plan(patient, [("_id", "not-an-id")]).empty


def test_identifier_system_must_be_athenas(patient: Table) -> None:
    p = plan(patient, [("identifier", "urn:athenahealth:athenanet:patient:195900|60178")])
    assert p.route.name == "fhir-by-identifier" and ("identifier", "60178") in p.params
    assert plan(patient, [("identifier", "http://other|60178")]).empty
    bare = plan(patient, [("identifier", "60178")])
    assert ("identifier", "60178") in bare.params


def test_birthdate_eq_goes_to_rest_dob(patient: Table) -> None:
    p = plan(patient, [("birthdate", "1970-01-02"), ("name", "san")])
    assert p.route.name == "rest-by-birthdate"
    assert ("dob", "01/02/1970") in p.params
    assert not p.exact_total  # name is filtered locally


def test_birthdate_range_cannot_push_so_name_route_wins(patient: Table) -> None:
    p = plan(patient, [("birthdate", "ge1970"), ("family", "Sandboxtest")])
    assert p.route.name == "fhir-by-name"
    assert ("name", "Sandboxtest") in p.params
    assert all(name != "birthdate" for name, _ in p.params)


def test_name_and_gender_push_to_fhir(patient: Table) -> None:
    p = plan(
        patient,
        [("name", "sandbox"), ("gender", "http://hl7.org/fhir/administrative-gender|female")],
    )
    assert p.route.name == "fhir-by-name"
    assert ("gender", "female") in p.params and ("name", "sandbox") in p.params


def test_department_uses_rest(patient: Table) -> None:
    p = plan(patient, [("ah-department", "Organization/a-195900.Department-1")])
    assert p.route.name == "rest-by-department"
    assert ("departmentid", "1") in p.params
    assert plan(patient, [("ah-department", "a-195901.Department-1")]).empty


def test_or_values_are_not_pushed(patient: Table) -> None:
    p = plan(patient, [("name", "a,b")])
    assert p.route.name == "rest-scan"


def test_gender_alone_scans_or_is_refused(patient: Table) -> None:
    assert plan(patient, [("gender", "male")]).route.name == "rest-scan"
    with pytest.raises(InvalidRequest) as err:
        plan(patient, [("gender", "male")], allow_scan=False)
    assert "supported combinations" in err.value.diagnostics


def test_appointment_id_goes_to_the_appointment_by_its_athena_id() -> None:
    table = load_mappings().tables["Appointment"]

    def of(value: str):  # type: ignore[no-untyped-def]
        return plan_search(table, parse_query("Appointment", [("_id", value)]), PRACTICE)

    p = of("a-195900.Appointment-1002436")
    assert p.route.name == "rest-by-id" and p.params == (("appointmentid", "1002436"),)
    assert not p.empty
    assert of("a-195901.Appointment-1002436").empty  # another practice: no call
    with pytest.raises(InvalidRequest):  # several ids: athena reads one appointment
        of("a-195900.Appointment-1,a-195900.Appointment-2")
