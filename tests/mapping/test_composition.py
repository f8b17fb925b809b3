"""Unit tests of the engine pieces the clinical tables added: pushes, ids, record shaping,
narrative sanitizing, includes declared per table."""

from __future__ import annotations

import pytest

from facade.engine.composition import explode_rows, join_rows
from facade.engine.includes import supported
from facade.errors import InvalidRequest
from facade.mapping.convert import merge_fhir
from facade.mapping.ids import parse_table_id
from facade.mapping.loader import load_mappings
from facade.mapping.planner import plan_search
from facade.mapping.renderings import summary_narrative
from facade.mapping.table import Explode, IdScheme, Join
from facade.search import parse_query

MAPPINGS = load_mappings()


def _plan(rtype: str, query: list[tuple[str, str]]) -> dict[str, str]:
    plan = plan_search(MAPPINGS.tables[rtype], parse_query(rtype, query), "195900")
    assert not plan.empty
    return dict(plan.params)


def test_identifier_becomes_the_fhir_id() -> None:
    params = _plan("Encounter", [("identifier", "urn:athenahealth:athenanet:encounter:195900|42")])
    assert params["_id"] == "a-195900.encounter-42"
    foreign = plan_search(
        MAPPINGS.tables["Encounter"],
        parse_query("Encounter", [("identifier", "urn:other|42")]),
        "195900",
    )
    assert foreign.empty


def test_or_lists_and_typed_references_push_as_one_value() -> None:
    params = _plan(
        "Provenance",
        [("target", "Encounter/a-195900.encounter-1,Patient/a-195900.E-60178")],
    )
    assert params["target"] == "Encounter/a-195900.encounter-1,Patient/a-195900.E-60178"
    params = _plan("Encounter", [("_id", "a-195900.encounter-1,a-195901.encounter-2")])
    assert params["_id"] == "a-195900.encounter-1"  # the other practice cannot match


def test_patient_reference_forms_plan_the_same() -> None:
    forms = ["a-195900.E-60178", "Patient/a-195900.E-60178"]
    plans = [_plan("Encounter", [("patient", f)]) for f in forms]
    plans.append(_plan("Encounter", [("patient:Patient", forms[0])]))
    assert all(p == plans[0] for p in plans)
    assert plans[0]["patient"] == "a-195900.E-60178"


def test_dates_are_never_pushed_to_athena() -> None:
    params = _plan("Encounter", [("patient", "a-195900.E-60178"), ("date", "gt2026-01-01")])
    assert "date" not in params


def test_practice_organization_ids() -> None:
    scheme = MAPPINGS.tables["Organization"].id
    assert parse_table_id("a-1.Practice-195900", scheme).practice == "195900"
    assert parse_table_id("a-195900.Department-1", scheme).local == "1"
    with pytest.raises(InvalidRequest):
        parse_table_id("a-1.Practice-x", scheme)
    with pytest.raises(InvalidRequest):
        parse_table_id("a-1.Practice-195900", IdScheme(prefix="Department"))


def test_explode_and_join() -> None:
    rows = [
        {"departmentid": "1", "phone": "1", "providerlist": ["23", "71"]},
        {"departmentid": "2"},
    ]
    spec = Explode.model_validate(
        {"list": "providerlist", "as": "providerid", "id": "{providerid}-{departmentid}"}
    )
    exploded = explode_rows(rows, spec)
    assert [r["_id"] for r in exploded] == ["23-1", "71-1"]
    join = Join.model_validate(
        {
            "path": "/providers",
            "list_key": "providers",
            "key": "providerid",
            "on": "providerid",
            "prefix": "p_",
        }
    )
    joined = join_rows(exploded, [{"providerid": 23, "specialty": "IM"}], join)
    assert joined == [{**exploded[0], "p_providerid": 23, "p_specialty": "IM"}]


def test_narrative_is_sanitized_xhtml() -> None:
    text = summary_narrative(
        '<html><head><title>t</title><style>x</style></head><body onload="x()">'
        '<h1 class="a">A &lt;b&gt;</h1><script>alert(1)</script><p>open<br>line'
        '<img src="x"><a href="javascript:x">link</a></body></html>'
    )
    assert text == {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><h1>A &lt;b&gt;</h1>'
        "<p>open<br/>linelink</p></div>",
    }
    assert summary_narrative("") is None and summary_narrative("<script>x</script>") is None


def test_merge_only_fills_gaps() -> None:
    table = MAPPINGS.tables["Encounter"]
    base = {"resourceType": "Encounter", "id": "x", "text": {"status": "empty", "div": "<div/>"}}
    record = {"summaryhtml": "<p>x</p>"}
    assert merge_fhir(base, record, table, "summary", "195900", MAPPINGS.codes) == base
    merged = merge_fhir({"id": "x"}, record, table, "summary", "195900", MAPPINGS.codes)
    assert merged["text"]["div"].endswith("<p>x</p></div>")


def test_includes_are_the_declared_ones() -> None:
    table = MAPPINGS.tables["Encounter"]
    req = parse_query(
        "Encounter",
        [
            ("patient", "x"),
            ("_include", "Encounter:patient"),
            ("_include", "Encounter:bogus"),
            ("_revinclude", "Provenance:target"),
        ],
    )
    rest, (include, revinclude) = supported(table, req, strict=False)
    assert include == ("Encounter:patient",) and revinclude == ("Provenance:target",)
    assert rest.include == () and rest.revinclude == ()
    with pytest.raises(InvalidRequest):
        supported(table, req, strict=True)
    assert MAPPINGS.tables["Condition"].includes == {}
