from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facade.mapping.paths import get_values, matches, parse_path, selects, set_value


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
