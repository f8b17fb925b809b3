"""JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386) as a FHIR patch applies them,
limited to the elements a table's ``writes.patch_paths`` lists."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

from facade.engine import patches, writes
from facade.engine.patches import apply_merge_patch, apply_patch
from facade.errors import Conflict, InvalidRequest, Unprocessable
from facade.mapping.convert import element_of
from facade.mapping.loader import load_mappings

PATIENT = load_mappings().tables["Patient"]
CURRENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "a-195900.E-1",
    "identifier": [{"system": "urn:x", "value": "1"}],
    "name": [{"use": "official", "family": "Doe", "given": ["Jo"]}],
    "telecom": [{"system": "phone", "value": "1", "use": "home"}],
    "address": [{"use": "home", "line": ["1 Main St"], "city": "Boston"}],
}


@pytest.mark.parametrize("module", [patches, writes])
def test_docstring_examples(module: object) -> None:
    failures, tried = doctest.testmod(module)  # type: ignore[arg-type]
    assert tried > 0 and failures == 0


def test_every_operation_on_lists_and_escaped_pointers() -> None:
    ops = [
        {"op": "test", "path": "/name/0/family", "value": "Doe"},
        {"op": "add", "path": "/name/0/given/-", "value": "Q"},
        {"op": "add", "path": "/telecom/0", "value": {"system": "email", "value": "a@b.c"}},
        {"op": "replace", "path": "/address/0/city", "value": "Cambridge"},
        {"op": "copy", "from": "/address/0/city", "path": "/address/0/district"},
        {"op": "move", "from": "/address/0/district", "path": "/address/0/state"},
        {"op": "remove", "path": "/telecom/1"},
        {"op": "add", "path": "/gender", "value": "female"},
    ]
    patched = apply_patch(PATIENT, CURRENT, ops)
    assert patched["name"][0]["given"] == ["Jo", "Q"]
    assert patched["telecom"] == [{"system": "email", "value": "a@b.c"}]
    assert patched["address"][0] == {
        "use": "home",
        "line": ["1 Main St"],
        "city": "Cambridge",
        "state": "Cambridge",
    }
    assert patched["gender"] == "female"
    assert CURRENT["telecom"][0]["value"] == "1"  # the current resource is not touched
    assert patches.pointer("/a~1b/~01", "path") == ["a/b", "~1"]


@pytest.mark.parametrize(
    ("ops", "error"),
    [
        ([], InvalidRequest),
        ([{"op": "frobnicate", "path": "/name"}], InvalidRequest),
        ([{"op": "add", "path": "/name/0/given/-"}], InvalidRequest),  # no value
        ([{"op": "remove", "path": "/telecom/5"}], InvalidRequest),
        ([{"op": "add", "path": "/telecom/01", "value": {}}], InvalidRequest),
        ([{"op": "remove", "path": "/address/0/country"}], InvalidRequest),
        ([{"op": "replace", "path": "name", "value": []}], InvalidRequest),  # not a pointer
        ([{"op": "move", "from": "/name", "path": "/name/0/x"}], InvalidRequest),
        ([{"op": "test", "path": "/name/0/family", "value": "Roe"}], Conflict),
        ([{"op": "replace", "path": "/identifier/0/value", "value": "2"}], Unprocessable),
        ([{"op": "copy", "from": "/identifier/0", "path": "/name/-"}], None),  # reading is fine
        ([{"op": "move", "from": "/identifier/0", "path": "/name/-"}], Unprocessable),
        ([{"op": "replace", "path": "", "value": {}}], Unprocessable),
    ],
)
def test_bad_or_forbidden_patches(ops: list[dict[str, Any]], error: type | None) -> None:
    if error is None:
        apply_patch(PATIENT, CURRENT, ops)
        return
    with pytest.raises(error):
        apply_patch(PATIENT, CURRENT, ops)


def test_a_missing_object_member_is_added_by_replace() -> None:
    patched = apply_patch(PATIENT, CURRENT, [{"op": "replace", "path": "/gender", "value": "male"}])
    assert patched["gender"] == "male"


def test_merge_patch_merges_removes_and_guards_the_identity() -> None:
    merged = apply_merge_patch(
        PATIENT, CURRENT, {"id": CURRENT["id"], "telecom": None, "gender": "male"}
    )
    assert "telecom" not in merged and merged["gender"] == "male"
    with pytest.raises(Unprocessable):
        apply_merge_patch(PATIENT, CURRENT, {"id": "a-195900.E-2"})
    with pytest.raises(Unprocessable):
        apply_merge_patch(PATIENT, CURRENT, {"identifier": []})
    with pytest.raises(InvalidRequest):
        apply_merge_patch(PATIENT, CURRENT, [])


def test_expressions_name_the_element_a_field_writes() -> None:
    fields = {f.athena if isinstance(f.athena, str) else f.athena[0]: f for f in PATIENT.sources["rest"].fields if f.direction != "read"}  # fmt: skip
    assert element_of(PATIENT, fields["homephone"]) == "Patient.telecom.value"
    assert writes.expression(PATIENT, "rest", "dob") == "Patient.birthDate"
    assert writes.expression(PATIENT, "rest", "genderidentity") == (
        "Patient.extension.valueCodeableConcept.coding"
    )
