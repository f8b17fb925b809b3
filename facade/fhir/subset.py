"""``_summary`` and ``_elements`` (FHIR R4 search.html#summary, #elements): subsetted resources.

Which top-level elements are summary elements and which are mandatory comes
from the R4 definitions as data (``mappings/elements.json``, generated from
fhir.resources R4B by ``tests/support/element_table.py``):

- ``_summary=true``: the summary elements (plus mandatory ones);
- ``_summary=text``: ``text``, ``id``, ``meta`` and the mandatory elements;
- ``_summary=data``: everything but ``text``;
- ``_summary=false``: everything (not subsetted);
- ``_elements=a,b``: those elements plus the mandatory ones, ``id`` and ``meta``
  (servers SHOULD return mandatory elements whether requested or not).

A subsetted resource carries the ``SUBSETTED`` tag (system
``http://terminology.hl7.org/CodeSystem/v3-ObservationValue``) in ``meta.tag``
so that nobody takes it for the whole record. Choice elements are named without
their type suffix (``deceased`` selects ``deceasedBoolean`` or ``deceasedDateTime``);
a primitive's extension (``_birthDate``) goes with the element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facade.errors import InvalidRequest

Json = dict[str, Any]
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
SUMMARY_MODES = ("true", "text", "data", "count", "false")


@dataclass(frozen=True)
class TypeElements:
    """The top-level elements of one resource type: name -> JSON keys, summary, mandatory."""

    elements: dict[str, tuple[str, ...]]
    summary: frozenset[str]
    mandatory: frozenset[str]

    @classmethod
    def load(cls, raw: Json) -> TypeElements:
        return cls(
            {name: tuple(keys) for name, keys in raw["elements"].items()},
            frozenset(raw["summary"]),
            frozenset(raw["mandatory"]),
        )


@dataclass(frozen=True)
class Subset:
    """What a request asks to keep: a ``_summary`` mode and/or ``_elements`` names."""

    summary: str | None = None
    elements: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.elements) or self.summary in ("true", "text", "data")


def check_elements(
    definitions: TypeElements | None, resource_type: str, names: tuple[str, ...], strict: bool
) -> tuple[str, ...]:
    """``_elements`` names this type has; unknown ones are 400 when strict, dropped otherwise."""
    if definitions is None:
        return names
    unknown = [n for n in names if n not in definitions.elements]
    if unknown and strict:
        raise InvalidRequest(
            f"{resource_type} has no element(s) {', '.join(unknown)}", expression=("_elements",)
        )
    return tuple(n for n in names if n in definitions.elements)


def _kept(definitions: TypeElements, subset: Subset) -> set[str] | None:
    """The element names to keep, or None for all but ``text`` (``_summary=data``)."""
    always = {"id", "meta", *definitions.mandatory}
    if subset.summary == "true":
        return {*definitions.summary, *always}
    if subset.summary == "text":
        return {"text", *always}
    if subset.summary == "data" and not subset.elements:
        return None
    return {*subset.elements, *always}


def apply(resource: Json, definitions: TypeElements | None, subset: Subset) -> Json:
    """The resource reduced to what ``subset`` asks for, tagged ``SUBSETTED`` (a new dict)."""
    if not subset.active or definitions is None:
        return resource
    kept = _kept(definitions, subset)
    if kept is None:
        out = {k: v for k, v in resource.items() if k not in ("text", "_text")}
    else:
        keys = {"resourceType"}
        for name in kept:
            for key in definitions.elements.get(name, (name,)):
                keys.update((key, f"_{key}"))
        out = {k: v for k, v in resource.items() if k in keys}
    meta = dict(out.get("meta") or {})
    tags = [t for t in meta.get("tag") or [] if t.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, SUBSETTED]
    out["meta"] = meta
    return out
