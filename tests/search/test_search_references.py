"""Reference parameters (FHIR R4 search.html#reference)."""

from __future__ import annotations

import pytest

from facade.errors import InvalidRequest
from facade.search import ReferenceParam, parse_reference, reference_matches

PID = "a-195900.E-60178"


def test_bare_id_takes_the_only_allowed_type() -> None:
    assert parse_reference(PID, ("Patient",)) == ReferenceParam("Patient", PID, None)


def test_bare_id_ambiguous_without_hint() -> None:
    assert parse_reference("123", ("Patient", "Group")) == ReferenceParam(None, "123", None)
    assert parse_reference("123") == ReferenceParam(None, "123", None)


def test_type_and_id() -> None:
    assert parse_reference(f"Patient/{PID}", ("Patient",)) == ReferenceParam("Patient", PID, None)


def test_id_and_type_id_are_equal() -> None:
    """Inferno repeats patient=123 as patient=Patient/123 and expects the same results."""
    assert parse_reference("123", ("Patient",)) == parse_reference("Patient/123", ("Patient",))


def test_absolute_url() -> None:
    url = f"https://fhir.example.org/fhir/r4/Patient/{PID}"
    assert parse_reference(url, ("Patient",)) == ReferenceParam("Patient", PID, url)


def test_type_hint_modifier() -> None:
    assert parse_reference("123", ("Patient", "Group"), type_hint="Patient") == ReferenceParam(
        "Patient", "123", None
    )
    assert parse_reference("Patient/123", type_hint="Patient").type == "Patient"


@pytest.mark.parametrize(
    ("value", "allowed", "hint"),
    [
        ("Practitioner/123", ("Patient",), None),
        ("http://h/fhir/Practitioner/123", ("Patient",), None),
        ("123", ("Patient",), "Practitioner"),
        ("Patient/123", (), "Group"),
        ("123", (), "patient"),
        ("Patient/", ("Patient",), None),
        ("/123", ("Patient",), None),
        ("Patient/1/_history/2", ("Patient",), None),
        ("http://h/fhir/Patient/1/_history/2", ("Patient",), None),
        ("a/b/c", (), None),
        ("patient/123", (), None),
        ("Patient/has space", ("Patient",), None),
        ("Patient/" + "x" * 65, ("Patient",), None),
        ("http://host/123", (), None),
        ("urn:uuid:8d1b7a8e-2f8c-4e64-9c1b-3f1e9a7b2c10", (), None),
    ],
)
def test_invalid_references(value: str, allowed: tuple[str, ...], hint: str | None) -> None:
    with pytest.raises(InvalidRequest):
        parse_reference(value, allowed, type_hint=hint)


def test_reference_matches() -> None:
    p = parse_reference("123", ("Patient",))
    assert reference_matches(p, "Patient/123")
    assert reference_matches(p, "https://elsewhere/fhir/Patient/123")
    assert not reference_matches(p, "Patient/1234")
    assert not reference_matches(p, "Group/123")
    assert not reference_matches(p, "123")
    assert not reference_matches(p, None)
    untyped = parse_reference("123")
    assert reference_matches(untyped, "Group/123")
    absolute = parse_reference("http://h/fhir/Patient/123", ("Patient",))
    assert reference_matches(absolute, "Patient/123")
    assert reference_matches(absolute, "http://h/fhir/Patient/123")
    assert not reference_matches(absolute, "http://other/fhir/Patient/123")
