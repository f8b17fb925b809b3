"""parse_query / format_query / to_query_string (FHIR R4 search.html#ptypes, #return)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facade.errors import InvalidRequest
from facade.search import (
    CONTROL_PARAMS,
    NEGOTIATION_PARAMS,
    SearchParam,
    SearchRequest,
    escape,
    format_query,
    parse_query,
    split_unescaped,
    to_query_string,
    unescape,
)
from facade.search.escaping import _split_scanning


def test_basic_parse() -> None:
    req = parse_query(
        "Patient",
        [
            ("name", "Smith,Jones"),
            ("birthdate", "ge2010"),
            ("birthdate", "le2020"),
            ("gender:not", "male"),
            ("_id", "a-195900.E-60178"),
            ("_count", "10"),
            ("_revinclude", "Provenance:target"),
            ("_format", "json"),
            ("_pretty", "true"),
        ],
    )
    assert req.resource_type == "Patient"
    assert req.params == (
        SearchParam("name", None, ("Smith", "Jones")),
        SearchParam("birthdate", None, ("ge2010",)),
        SearchParam("birthdate", None, ("le2020",)),
        SearchParam("gender", "not", ("male",)),
        SearchParam("_id", None, ("a-195900.E-60178",)),
    )
    assert req.count == 10
    assert req.revinclude == ("Provenance:target",)
    assert req.get("birthdate") == req.params[1:3]
    assert req.get("nothing") == ()
    assert req.names() == frozenset({"name", "birthdate", "gender", "_id"})


def test_control_params() -> None:
    req = parse_query(
        "Encounter",
        [
            ("_include", "Encounter:patient"),
            ("_include", "Encounter:location"),
            ("_sort", "-date,_id"),
            ("_total", "accurate"),
            ("_summary", "count"),
            ("_elements", "id,status"),
            ("_cursor", "abc.def"),
            ("_count", "0"),
        ],
    )
    assert req.params == ()
    assert req.include == ("Encounter:patient", "Encounter:location")
    assert req.sort == ("-date", "_id")
    assert req.total == "accurate"
    assert req.summary == "count"
    assert req.elements == ("id", "status")
    assert req.cursor == "abc.def"
    assert req.count == 0
    assert format_query(req) == [
        ("_include", "Encounter:patient"),
        ("_include", "Encounter:location"),
        ("_sort", "-date,_id"),
        ("_total", "accurate"),
        ("_summary", "count"),
        ("_elements", "id,status"),
        ("_count", "0"),
        ("_cursor", "abc.def"),
    ]


def test_format_orders_params_then_controls() -> None:
    req = parse_query(
        "Patient", [("_count", "5"), ("name", "x"), ("_sort", "name"), ("gender", "f")]
    )
    assert format_query(req) == [("name", "x"), ("gender", "f"), ("_sort", "name"), ("_count", "5")]


def test_special_underscore_params_stay_search_params() -> None:
    names = [
        "_id",
        "_lastUpdated",
        "_security",
        "_tag",
        "_profile",
        "_has:Observation:patient:code",
    ]
    req = parse_query("Patient", [(n, "x") for n in names])
    assert [p.key for p in req.params] == names
    assert req.params[-1] == SearchParam("_has", "Observation:patient:code", ("x",))


def test_empty_values_are_ignored() -> None:
    req = parse_query("Patient", [("name", ""), ("_id", ""), ("_count", ""), ("family", ",,")])
    assert req == SearchRequest("Patient", ())


def test_empty_or_items_are_dropped() -> None:
    req = parse_query("Patient", [("name", "a,,b,")])
    assert req.params == (SearchParam("name", None, ("a", "b")),)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([("", "x")], "empty parameter name"),
        ([(":exact", "x")], "empty parameter name"),
        ([("name:", "x")], "empty modifier"),
        ([("_count", "-1")], "_count"),
        ([("_count", "ten")], "_count"),
        ([("_count", "1.5")], "_count"),
        ([("_count", "١")], "_count"),  # Arabic-Indic digit: not ASCII
        ([("_count", "1"), ("_count", "2")], "only once"),
        ([("_cursor", "a"), ("_cursor", "b")], "only once"),
        ([("_sort", "a"), ("_sort", "b")], "only once"),
        ([("_total", "all")], "_total"),
        ([("_summary", "yes")], "_summary"),
        ([("_include:iterate", "Encounter:patient")], "modifier"),
    ],
)
def test_invalid_requests(items: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_query("Patient", items)
    assert message in info.value.diagnostics


def test_invalid_resource_type() -> None:
    with pytest.raises(InvalidRequest):
        parse_query("patient", [])


# --- escaping (search.html#escaping) -------------------------------------------------


def test_values_keep_escapes() -> None:
    req = parse_query("Patient", [("identifier", r"http://x|a\,b,c\|d\\,e\$f")])
    assert req.params[0].values == (r"http://x|a\,b", r"c\|d\\", r"e\$f")
    assert [unescape(v) for v in req.params[0].values] == ["http://x|a,b", "c|d\\", "e$f"]


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("a,b", ["a", "b"]),
        (r"a\,b", [r"a\,b"]),
        (r"a\\,b", [r"a\\", "b"]),
        (r"a\\\,b", [r"a\\\,b"]),
        ("a\\", ["a\\"]),
        ("", [""]),
        (",", ["", ""]),
    ],
)
def test_split_unescaped(raw: str, parts: list[str]) -> None:
    assert split_unescaped(raw, ",") == parts


def test_split_maxsplit() -> None:
    assert split_unescaped("a|b|c", "|", maxsplit=1) == ["a", "b|c"]


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        (r"a\,b", "a,b"),
        (r"a\|b", "a|b"),
        (r"a\$b", "a$b"),
        (r"a\\b", "a\\b"),
        (r"a\nb", r"a\nb"),  # not an escape: kept
        ("a\\", "a\\"),  # trailing backslash: kept
    ],
)
def test_unescape(raw: str, plain: str) -> None:
    assert unescape(raw) == plain


@given(st.text(alphabet="ab,|\\$"), st.sampled_from([",", "|", "$"]), st.integers(-1, 3))
def test_split_unescaped_equals_the_scanning_split(text: str, sep: str, maxsplit: int) -> None:
    assert split_unescaped(text, sep, maxsplit) == _split_scanning(text, sep, maxsplit)


@given(st.text())
def test_escape_inverse(text: str) -> None:
    assert unescape(escape(text)) == text
    assert split_unescaped(escape(text), ",") == [escape(text)]


# --- to_query_string --------------------------------------------------------


def test_query_string_readable() -> None:
    items = [("subject:Patient", "Patient/1"), ("code", "http://loinc.org|1234-5,x y+z&")]
    qs = to_query_string(items)
    assert qs == "subject:Patient=Patient/1&code=http://loinc.org|1234-5,x%20y%2Bz%26"
    assert parse_qsl(qs, keep_blank_values=True) == items


def test_date_with_offset_survives_query_string() -> None:
    items = [("date", "ge2019-01-01T10:00:00+00:00")]
    assert parse_qsl(to_query_string(items)) == items


# --- round trip property (CONVENTIONS §6) -----------------------------------

_RESERVED = CONTROL_PARAMS + tuple(NEGOTIATION_PARAMS)
_base_names = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzAZ_-.0123456789"), min_size=1, max_size=12
).filter(lambda n: n not in _RESERVED)
_modifiers = st.text(alphabet=st.sampled_from("abcxyzPatient:._-"), min_size=1, max_size=10)
_names = st.one_of(
    _base_names,
    st.tuples(_base_names, _modifiers).map(lambda t: f"{t[0]}:{t[1]}"),
)
_values = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from(",|\\$ab é+&=%"), max_size=20),
)
_controls = st.fixed_dictionaries(
    {},
    optional={
        "_count": st.integers(0, 10_000).map(str),
        "_cursor": st.text(alphabet=st.sampled_from("abcXYZ09_-."), min_size=1, max_size=20),
        "_sort": st.text(alphabet=st.sampled_from("-_abz,"), max_size=10),
        "_total": st.sampled_from(["none", "estimate", "accurate"]),
        "_summary": st.sampled_from(["true", "text", "data", "count", "false"]),
        "_elements": st.text(alphabet=st.sampled_from("abz.,"), max_size=10),
        "_format": st.sampled_from(["json", "application/fhir+json"]),
        "_pretty": st.sampled_from(["true", "false"]),
    },
)
_includes = st.lists(
    st.tuples(
        st.sampled_from(["_include", "_revinclude"]),
        st.sampled_from(["Encounter:patient", "Provenance:target", "*", ""]),
    ),
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(
    params=st.lists(st.tuples(_names, _values), max_size=8),
    controls=_controls,
    includes=_includes,
    data=st.data(),
)
def test_round_trip(
    params: list[tuple[str, str]],
    controls: dict[str, str],
    includes: list[tuple[str, str]],
    data: st.DataObject,
) -> None:
    items = params + list(controls.items()) + includes
    items = data.draw(st.permutations(items))
    req = parse_query("Patient", items)
    formatted = format_query(req)
    assert parse_query("Patient", formatted) == req
    # the formatted form is a fixed point, and survives URL encoding
    assert format_query(parse_query("Patient", formatted)) == formatted
    assert parse_qsl(to_query_string(formatted), keep_blank_values=True) == formatted
    # every OR value of every parameter survives: nothing lost, nothing invented
    expected = [
        v
        for name, value in items
        if name.partition(":")[0] not in _RESERVED
        for v in split_unescaped(value, ",")
        if v
    ]
    assert [v for p in req.params for v in p.values] == expected
