"""String parameters (FHIR R4 search.html#string)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facade.errors import InvalidRequest
from facade.search import fold, string_matches


@pytest.mark.parametrize(
    ("search", "candidate", "expected"),
    [
        ("Jose", "José", True),
        ("jose", "JOSÉ", True),
        ("José", "Jose", True),
        ("San", "Sandboxtest", True),
        ("sandbox-t", "Sandbox-Test", True),
        ("Sandboxtest", "San", False),
        ("test", "Sandboxtest", False),  # starts-with, not contains
        ("strasse", "Straße", True),
        ("Müller", "MULLER", True),
        ("Zoë", "zoe", True),
        ("", "anything", True),
    ],
)
def test_default_is_folded_starts_with(search: str, candidate: str, expected: bool) -> None:
    assert string_matches(search, candidate, None) is expected


@pytest.mark.parametrize(
    ("search", "candidate", "expected"),
    [
        ("José", "José", True),
        ("José", unicodedata.normalize("NFD", "José"), True),  # canonically equal
        ("Jose", "José", False),
        ("josé", "José", False),
        ("Jos", "José", False),
    ],
)
def test_exact(search: str, candidate: str, expected: bool) -> None:
    assert string_matches(search, candidate, "exact") is expected


@pytest.mark.parametrize(
    ("search", "candidate", "expected"),
    [
        ("test", "Sandboxtest", True),
        ("BOX", "Sandbox-Test", True),
        ("ose", "JOSÉ", True),
        ("xyz", "Sandboxtest", False),
    ],
)
def test_contains(search: str, candidate: str, expected: bool) -> None:
    assert string_matches(search, candidate, "contains") is expected


def test_unknown_modifier_rejected() -> None:
    with pytest.raises(InvalidRequest):
        string_matches("a", "a", "text")


@given(st.text(), st.text())
def test_default_and_contains_consistent(prefix: str, rest: str) -> None:
    candidate = prefix + rest
    assert string_matches(prefix, candidate, None)
    assert string_matches(prefix, candidate, "contains")
    assert string_matches(candidate, candidate, "exact")
    assert fold(fold(candidate)) == fold(candidate)
