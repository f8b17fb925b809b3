"""Local evaluation of search parameters (facade.mapping.filter) on FHIR resources."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facade.errors import InvalidRequest
from facade.mapping.filter import _checks, matches, validate_request
from facade.mapping.loader import load_mappings
from facade.mapping.table import Table
from facade.search import parse_query

TABLE = Table.model_validate(
    {
        "resource": "Encounter",
        "profile": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter",
        "id": {"prefix": "encounter"},
        "sources": {"fhir": {"surface": "fhir", "copy": ["status"]}},
        "routes": {
            "read": {
                "name": "read",
                "surface": "fhir",
                "path": "/Encounter/{id}",
                "source": "fhir",
            },
            "search": [],
        },
        "search_params": {
            "patient": {"type": "reference", "paths": ["subject"], "target": ["Patient"]},
            "subject": {"type": "reference", "paths": ["subject"], "target": ["Patient", "Group"]},
            "date": {
                "type": "date",
                "paths": ["period"],
                "comparators": ["eq", "gt", "ge", "lt", "le", "sa", "eb", "ne", "ap"],
            },
            "type": {"type": "token", "paths": ["type"]},
            "class": {"type": "token", "paths": ["class"]},
            "status": {
                "type": "token",
                "paths": ["status"],
                "system": "http://hl7.org/fhir/encounter-status",
            },
            "identifier": {"type": "token", "paths": ["identifier"]},
        },
    }
)

ENCOUNTER: dict[str, Any] = {
    "resourceType": "Encounter",
    "id": "a-1.encounter-7",
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
    "type": [
        {"coding": [{"system": "http://snomed.info/sct", "code": "185349003"}], "text": "Check up"}
    ],
    "subject": {"reference": "Patient/a-1.E-5"},
    "identifier": [{"system": "urn:athenahealth:athenanet:encounter:1", "value": "7"}],
    "period": {"start": "2024-03-10T09:00:00-05:00", "end": "2024-03-10T09:30:00-05:00"},
}


def ok(query: str) -> bool:
    items = [tuple(p.split("=", 1)) for p in query.split("&")]
    req = validate_request(TABLE, parse_query("Encounter", items), strict=True)  # type: ignore[arg-type]
    return matches(ENCOUNTER, TABLE, req)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("patient=a-1.E-5", True),
        ("patient=Patient/a-1.E-5", True),
        ("patient=http://example.org/fhir/r4/Patient/a-1.E-5", True),
        ("patient=a-1.E-6", False),
        ("subject:Patient=a-1.E-5", True),
        ("type=185349003", True),
        ("type=http://snomed.info/sct|185349003", True),
        ("type=http://loinc.org|185349003", False),
        ("class=AMB", True),
        ("class=http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB", True),
        ("status=finished", True),
        ("status=in-progress,finished", True),
        ("status=http://hl7.org/fhir/encounter-status|finished", True),
        ("identifier=urn:athenahealth:athenanet:encounter:1|7", True),
        ("date=2024-03-10", True),
        ("date=gt2024-03-09T00:00:00+00:00", True),
        ("date=ge2024-03-10T14:00:00+00:00", True),
        ("date=lt2024-03-10T14:00:00+00:00", False),
        ("date=le2024-03-10T14:15:00+00:00", True),
        ("date=ge2024-03-01&date=le2024-03-31", True),
        ("date=ge2024-04-01&date=le2024-04-30", False),
        ("date=sa2024-03-09", True),
        ("date=eb2024-03-11", True),
        ("date=ne2024-03-10", False),
    ],
)
def test_matching(query: str, expected: bool) -> None:
    assert ok(query) is expected


def test_open_period_overlaps_everything_after_its_start() -> None:
    open_ended = {**ENCOUNTER, "period": {"start": "2024-03-10T09:00:00-05:00"}}
    req = parse_query("Encounter", [("date", "gt2030-01-01")])
    assert matches(open_ended, TABLE, req)


@pytest.mark.parametrize(
    "query",
    ["patient=Observation/1", "subject:Observation=1", "date=2024-13-01", "type:text=x"],
)
def test_bad_values_are_refused(query: str) -> None:
    with pytest.raises(InvalidRequest):
        ok(query)


# The specialised checks (a date or token parameter on one plain element holding a string)
# against the general one they stand for, on every shape the element may hold.
_SLOT = load_mappings().tables["Slot"]
_elements = st.one_of(
    st.none(),
    st.sampled_from(["2025-07-01T09:15:00-05:00", "2025-07-01", "2025-07", "2025", "bad", ""]),
    st.sampled_from(["free", "FREE", "busy", "busy-unavailable", "x|free", 5, True, False]),
    st.builds(
        lambda d, h: f"2025-07-{d:02d}T{h:02d}:00:00Z",
        st.integers(min_value=1, max_value=3),
        st.integers(min_value=0, max_value=23),
    ),
    st.lists(st.sampled_from(["2025-07-01T09:15:00Z", None, "free", "bad"]), max_size=3),
    st.fixed_dictionaries({"start": st.just("2025-07-01T09:00:00Z")}),
)
_date_values = st.builds(
    lambda prefix, day: f"{prefix}{day}",
    st.sampled_from(["", "eq", "ne", "gt", "ge", "lt", "le", "sa", "eb", "ap"]),
    st.sampled_from(["2025-07-01", "2025-07-01T09:15:00-05:00", "2025-07", "2025-07-02T00:00Z"]),
)
_token_values = st.sampled_from(
    ["free", "busy", "FREE", "http://hl7.org/fhir/slotstatus|free", "|free", "x|free", "true"]
)


@settings(max_examples=200, deadline=None)
@given(
    start=st.lists(_date_values, min_size=1, max_size=2),
    status=st.lists(_token_values, min_size=1, max_size=2),
    element=_elements,
)
def test_specialised_checks_answer_as_the_general_one(
    start: list[str], status: list[str], element: Any
) -> None:
    req = parse_query("Slot", [("start", ",".join(start)), ("status", ",".join(status))])
    checks = _checks(_SLOT, req, None)
    assert {c.definition.type for c in checks} == {"date", "token"}
    for check in checks:
        fast = check.matcher()
        assert fast is not check.passes  # really the specialised one
        for resource in ({"start": element}, {"status": element}, {}):
            assert fast(resource) == check.passes(resource), (check.param, resource)
