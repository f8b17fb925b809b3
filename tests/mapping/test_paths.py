from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facade.mapping.paths import Segment, get_values, matches, parse_path, selects, set_value


def test_selector_creates_and_reuses_list_items() -> None:
    resource: dict[str, Any] = {}
    set_value(resource, parse_path("name[use=official].family"), "Sandboxtest")
    set_value(resource, parse_path("name[use=official].given[+]"), "Donna")
    set_value(resource, parse_path("name[use=official].given[+]"), "Q")
    set_value(resource, parse_path("name[use=usual].given[+]"), "Dee")
    assert resource == {
        "name": [
            {"use": "official", "family": "Sandboxtest", "given": ["Donna", "Q"]},
            {"use": "usual", "given": ["Dee"]},
        ]
    }
    assert get_values(resource, parse_path("name.given")) == ["Donna", "Q", "Dee"]
    assert get_values(resource, parse_path("name[use=usual].given[0]")) == ["Dee"]


def test_selector_values_may_contain_dots_and_colons() -> None:
    resource: dict[str, Any] = {}
    url = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
    set_value(resource, parse_path(f"extension[url={url}].valueCode"), "F")
    set_value(resource, parse_path("identifier[system=urn:a:b:1].value"), "7")
    assert resource["extension"] == [{"url": url, "valueCode": "F"}]
    assert get_values(resource, parse_path("identifier[system=urn:a:b:1].value")) == ["7"]


def test_dict_values_merge_into_selected_item() -> None:
    resource: dict[str, Any] = {}
    set_value(resource, parse_path("extension[url=x]"), {"extension": [{"url": "text"}]})
    assert resource == {"extension": [{"url": "x", "extension": [{"url": "text"}]}]}


def test_index_segments() -> None:
    resource: dict[str, Any] = {}
    set_value(resource, parse_path("communication[0].language.coding[0]"), {"code": "en"})
    assert resource == {"communication": [{"language": {"coding": [{"code": "en"}]}}]}


@pytest.mark.parametrize("bad", ["", "a..b", "name[", "name[use]", "[x]"])
def test_malformed_paths_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_path(bad)


def test_selector_alternatives_take_an_item_without_the_key_on_write() -> None:
    """``[use=home|]``: reading athena creates ``use=home``; a client's item without ``use``
    is read back as that item (US Core examples leave ``use`` out)."""
    resource: dict[str, Any] = {}
    set_value(resource, parse_path("address[use=home|].city"), "Watertown")
    assert resource == {"address": [{"use": "home", "city": "Watertown"}]}
    client = {"address": [{"use": "work", "city": "Boston"}, {"city": "Belmont"}]}
    assert get_values(client, parse_path("address[use=home|].city")) == ["Belmont"]
    assert get_values(client, parse_path("address[use=home].city")) == []


def test_compiled_selectors_agree_with_matches() -> None:
    """``selects`` (a selector compiled once per segment) answers as ``matches`` does."""
    values = st.one_of(
        st.none(), st.sampled_from(["home", "work", "1", "None", ""]), st.integers(0, 2)
    )
    items = st.one_of(
        st.dictionaries(st.sampled_from(["use", "system", "rank"]), values, max_size=3),
        st.lists(st.integers(), max_size=1),
        st.none(),
    )
    selectors = st.sampled_from(
        ["use=home", "use=home|", "use=home|work", "use=1", "use=home,system=work|", "rank=1|"]
    )

    @settings(max_examples=300, deadline=None)
    @given(item=items, selector=selectors)
    def agree(item: object, selector: str) -> None:
        seg = parse_path(f"x[{selector}]")[0]
        assert selects(item, seg) == matches(item, seg.keys)

    agree()


def _walked(source: Any, segments: tuple[Segment, ...]) -> list[Any]:
    """``get_values`` as first written (lists built per segment): the reference."""
    nodes: list[Any] = [source]
    for seg in segments:
        nxt: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict) or seg.name not in node:
                continue
            value = node[seg.name]
            items = value if isinstance(value, list) else [value]
            if seg.index is not None:
                items = items[seg.index : seg.index + 1]
            elif seg.keys:
                items = [i for i in items if selects(i, seg)]
            nxt.extend(i for i in items if i is not None)
        nodes = nxt
    return nodes


def test_get_values_answers_as_the_reference_walk() -> None:
    names = st.sampled_from(["a", "b", "use"])
    leaves = st.one_of(st.none(), st.sampled_from(["home", "work", "x", ""]), st.integers(0, 2))
    trees = st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)
        ),
        max_leaves=12,
    )
    segments = st.tuples(
        names, st.sampled_from(["", "[0]", "[1]", "[3]", "[use=home]", "[use=home|]"])
    )
    paths = st.lists(segments, min_size=1, max_size=3).map(
        lambda parts: ".".join(name + suffix for name, suffix in parts)
    )

    @settings(max_examples=500, deadline=None)
    @given(tree=trees, path=paths)
    def agree(tree: Any, path: str) -> None:
        segments_ = parse_path(path)
        assert get_values(tree, segments_) == _walked(tree, segments_)

    agree()
