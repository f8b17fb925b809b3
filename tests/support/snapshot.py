"""A StructureDefinition snapshot as a tree of element nodes.

``snapshot.element`` is a flat, ordered list whose ``id``s encode the tree:
``Patient.identifier.system`` is a child of ``Patient.identifier`` and
``Patient.extension:race`` is a slice of ``Patient.extension``
(https://hl7.org/fhir/R4/elementdefinition.html#id). The validator walks this
tree against the resource JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Element", "Profile", "TypeRef"]


@dataclass(frozen=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass(eq=False)
class Element:
    """One ElementDefinition, with its children and slices attached."""

    id: str
    name: str  # last path segment, e.g. "deceased[x]"
    slice_name: str | None
    min: int
    max: int | None  # None means "*"
    types: tuple[TypeRef, ...]
    fixed: tuple[str, Any] | None  # ("fixedUri", "http://...")
    pattern: tuple[str, Any] | None
    binding: tuple[str, str] | None  # (strength, value set url without version)
    slicing: Mapping[str, Any] | None
    constraints: tuple[tuple[str, str, str], ...]  # (key, severity, human)
    must_support: bool
    content_reference: str | None
    children: list[Element] = field(default_factory=list)
    slices: list[Element] = field(default_factory=list)

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")

    @property
    def base_name(self) -> str:
        return self.name[:-3] if self.is_choice else self.name

    @property
    def label(self) -> str:
        """The name used in messages: ``extension:race``, ``deceased[x]``."""
        return f"{self.name}:{self.slice_name}" if self.slice_name else self.name

    def child(self, name: str) -> Element | None:
        for element in self.children:
            if element.name == name:
                return element
        return None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Element:
        fixed = pattern = None
        for key, value in raw.items():
            if key.startswith("fixed"):
                fixed = (key, value)
            elif key.startswith("pattern"):
                pattern = (key, value)
        binding = None
        if "binding" in raw and "valueSet" in raw["binding"]:
            url = str(raw["binding"]["valueSet"]).split("|", 1)[0]
            binding = (str(raw["binding"]["strength"]), url)
        max_ = str(raw.get("max", "*"))
        return cls(
            id=str(raw["id"]),
            name=_segments(str(raw["id"]))[-1].split(":", 1)[0],
            slice_name=raw.get("sliceName"),
            min=int(raw.get("min", 0)),
            max=None if max_ == "*" else int(max_),
            types=tuple(
                TypeRef(
                    code=str(t["code"]),
                    profiles=tuple(t.get("profile", ())),
                    target_profiles=tuple(t.get("targetProfile", ())),
                )
                for t in raw.get("type", ())
            ),
            fixed=fixed,
            pattern=pattern,
            binding=binding,
            slicing=raw.get("slicing"),
            constraints=tuple(
                (str(c["key"]), str(c.get("severity", "error")), str(c.get("human", "")))
                for c in raw.get("constraint", ())
            ),
            must_support=bool(raw.get("mustSupport", False)),
            content_reference=raw.get("contentReference"),
        )


def _segments(element_id: str) -> list[str]:
    """Split an element id on the dots that separate path segments.

    Slice names may not contain dots in the packages we load, but a ``[x]``
    or ``/`` (re-slice) may appear; both are kept inside their segment.
    """
    return element_id.split(".")


@dataclass(eq=False)
class Profile:
    """A StructureDefinition ready to walk: ``root`` plus an id index."""

    url: str
    version: str
    type: str
    kind: str
    root: Element
    by_id: dict[str, Element]
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, sd: Mapping[str, Any]) -> Profile:
        by_id: dict[str, Element] = {}
        root: Element | None = None
        for raw in sd["snapshot"]["element"]:
            element = Element.from_json(raw)
            by_id[element.id] = element
            segments = _segments(element.id)
            last = segments[-1]
            if len(segments) == 1 and ":" not in last:
                root = element
            elif ":" in last:
                unsliced = ".".join([*segments[:-1], last.split(":", 1)[0]])
                by_id[unsliced].slices.append(element)
            else:
                by_id[".".join(segments[:-1])].children.append(element)
        if root is None:
            raise ValueError(f"{sd.get('url')}: snapshot has no root element")
        return cls(
            url=str(sd["url"]),
            version=str(sd.get("version", "")),
            type=str(sd["type"]),
            kind=str(sd.get("kind", "")),
            root=root,
            by_id=by_id,
            raw=sd,
        )

    def resolve_content_reference(self, element: Element) -> Element:
        """The element a ``contentReference`` (``#Questionnaire.item``) points at."""
        if element.content_reference is None:
            return element
        target = element.content_reference.split("#", 1)[-1]
        return self.by_id.get(target, element)
