"""The element table and the pure subsetting functions."""

from __future__ import annotations

from pathlib import Path

from facade.fhir.subset import Subset, TypeElements, apply
from tests.support.element_table import PATH, build, render


def test_elements_json_is_what_fhir_resources_says() -> None:
    """Regenerate with ``.venv/bin/python -m tests.support.element_table``."""
    assert Path(PATH).read_text(encoding="utf-8") == render(build())


def test_every_served_type_has_element_definitions() -> None:
    from facade.mapping.loader import load_mappings

    mappings = load_mappings()
    assert set(mappings.tables) <= set(mappings.elements)


PATIENTISH = TypeElements(
    {
        "id": ("id",),
        "meta": ("meta",),
        "text": ("text",),
        "name": ("name",),
        "birthDate": ("birthDate",),
        "deceased": ("deceasedBoolean", "deceasedDateTime"),
        "extension": ("extension",),
        "link": ("link",),
    },
    frozenset({"id", "meta", "name", "birthDate", "deceased"}),
    frozenset({"link"}),
)
RESOURCE = {
    "resourceType": "Patient",
    "id": "p",
    "meta": {"tag": [{"system": "x", "code": "y"}]},
    "text": {"status": "generated", "div": "<div/>"},
    "name": [{"family": "F"}],
    "birthDate": "2000-01-01",
    "_birthDate": {"extension": [{"url": "u", "valueString": "v"}]},
    "deceasedBoolean": False,
    "extension": [{"url": "race"}],
    "link": [{"type": "seealso"}],
}


def test_summary_true_keeps_summary_mandatory_and_primitive_extensions() -> None:
    out = apply(RESOURCE, PATIENTISH, Subset("true"))
    assert set(out) == {
        "resourceType",
        "id",
        "meta",
        "name",
        "birthDate",
        "_birthDate",
        "deceasedBoolean",
        "link",
    }
    assert out["meta"]["tag"][0] == {"system": "x", "code": "y"}
    assert out["meta"]["tag"][-1]["code"] == "SUBSETTED"
    assert RESOURCE["meta"] == {"tag": [{"system": "x", "code": "y"}]}  # input untouched


def test_elements_choice_names_and_data_and_false() -> None:
    out = apply(RESOURCE, PATIENTISH, Subset(None, ("deceased",)))
    assert set(out) == {"resourceType", "id", "meta", "deceasedBoolean", "link"}
    data = apply(RESOURCE, PATIENTISH, Subset("data"))
    assert "text" not in data and data["extension"] == RESOURCE["extension"]
    assert apply(RESOURCE, PATIENTISH, Subset("false")) is RESOURCE
    assert apply(RESOURCE, PATIENTISH, Subset(None)) is RESOURCE


def test_subsetting_twice_tags_once() -> None:
    once = apply(RESOURCE, PATIENTISH, Subset("true"))
    twice = apply(once, PATIENTISH, Subset("true"))
    assert [t["code"] for t in twice["meta"]["tag"]].count("SUBSETTED") == 1
