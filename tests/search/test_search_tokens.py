"""Token parameters (FHIR R4 search.html#token)."""

from __future__ import annotations

import pytest

from facade.errors import InvalidRequest
from facade.search import TokenParam, parse_query, parse_token, token_matches

LOINC = "http://loinc.org"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://x|abc", TokenParam("http://x", "abc", True)),
        ("|abc", TokenParam("", "abc", True)),
        ("abc", TokenParam(None, "abc", False)),
        ("http://x|", TokenParam("http://x", None, True)),
        # only the first unescaped '|' separates system from code
        ("http://x|a|b", TokenParam("http://x", "a|b", True)),
        (r"a\|b", TokenParam(None, "a|b", False)),
        (r"sys\|tem|co\,de\\", TokenParam("sys|tem", "co,de\\", True)),
        (
            "urn:oid:2.16.840.1.113883.4.1|123-45-6789",
            TokenParam("urn:oid:2.16.840.1.113883.4.1", "123-45-6789", True),
        ),
    ],
)
def test_parse_token(value: str, expected: TokenParam) -> None:
    assert parse_token(value) == expected


@pytest.mark.parametrize("value", ["|", ""])
def test_parse_token_rejects_empty(value: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_token(value)


def test_token_from_query_keeps_escapes_until_split() -> None:
    req = parse_query("Patient", [("identifier", r"http://x|a\|b\,c,d")])
    assert [parse_token(v) for v in req.params[0].values] == [
        TokenParam("http://x", "a|b,c", True),
        TokenParam(None, "d", False),
    ]


def test_code_only_matches_any_system() -> None:
    p = parse_token("1234-5")
    assert token_matches(p, LOINC, "1234-5")
    assert token_matches(p, None, "1234-5")
    assert not token_matches(p, LOINC, "9999-9")
    assert not token_matches(p, LOINC, None)


def test_system_and_code() -> None:
    p = parse_token(f"{LOINC}|1234-5")
    assert token_matches(p, LOINC, "1234-5")
    assert not token_matches(p, "http://other", "1234-5")
    assert not token_matches(p, None, "1234-5")
    assert not token_matches(p, LOINC + "/", "1234-5")  # systems compare exactly


def test_explicit_no_system() -> None:
    p = parse_token("|1234-5")
    assert token_matches(p, None, "1234-5")
    assert token_matches(p, "", "1234-5")
    assert not token_matches(p, LOINC, "1234-5")


def test_system_only() -> None:
    p = parse_token(f"{LOINC}|")
    assert token_matches(p, LOINC, "anything")
    assert token_matches(p, LOINC, None)
    assert not token_matches(p, "http://other", "anything")


def test_codes_case_insensitive_by_default() -> None:
    p = parse_token("http://hl7.org/fhir/administrative-gender|Female")
    assert token_matches(p, "http://hl7.org/fhir/administrative-gender", "female")
    assert not token_matches(
        p, "http://hl7.org/fhir/administrative-gender", "female", case_sensitive=True
    )
    assert not token_matches(parse_token("HTTP://loinc.org|x"), LOINC, "x")
