"""The snapshot walk: one profile's element tree checked against resource JSON.

``Walk`` is created per ``ProfileValidator.validate`` call and collects error
strings naming the offending path (``Patient.identifier[0].system: ...``).
Per element it checks cardinality (of every element and slice, counting
``_x`` primitive extensions as presence), choice types, fixed/pattern values,
required bindings, US Core invariants and Reference format/targets; extension
items whose url is an extension StructureDefinition in the package are walked
against that definition. Element semantics:
https://hl7.org/fhir/R4/elementdefinition.html, slicing:
https://hl7.org/fhir/R4/profiling.html#slicing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B import get_fhir_model_class

from .invariants import IGNORED_PREFIXES, INVARIANTS
from .snapshot import Element, Profile

if TYPE_CHECKING:
    from .profiles import ProfileValidator, _Package

__all__ = ["Walk", "as_list"]


# Reference.reference: relative ``Type/id`` or an absolute URL ending in it
# (https://hl7.org/fhir/R4/references.html#literal).
_REFERENCE = re.compile(
    r"^(?:https?://\S+/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)

# Required bindings inside data types, applied where the profile snapshot
# does not expand the data type (https://hl7.org/fhir/R4/datatypes.html).
_QUANTITY = {"comparator": "http://hl7.org/fhir/ValueSet/quantity-comparator"}
_DATATYPE_BINDINGS: dict[str, dict[str, str]] = {
    "ContactPoint": {
        "system": "http://hl7.org/fhir/ValueSet/contact-point-system",
        "use": "http://hl7.org/fhir/ValueSet/contact-point-use",
    },
    "Address": {
        "use": "http://hl7.org/fhir/ValueSet/address-use",
        "type": "http://hl7.org/fhir/ValueSet/address-type",
    },
    "HumanName": {"use": "http://hl7.org/fhir/ValueSet/name-use"},
    "Identifier": {"use": "http://hl7.org/fhir/ValueSet/identifier-use"},
    "Narrative": {"status": "http://hl7.org/fhir/ValueSet/narrative-status"},
    "Quantity": _QUANTITY,
    "Age": _QUANTITY,
    "Duration": _QUANTITY,
    "Distance": _QUANTITY,
    "Count": _QUANTITY,
}

# FHIR R4 data type names, to recognise ``deceasedDateTime`` as ``deceased[x]``.
_DATA_TYPES = frozenset(
    (
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
        "Address",
        "Age",
        "Annotation",
        "Attachment",
        "CodeableConcept",
        "Coding",
        "ContactPoint",
        "Count",
        "Distance",
        "Duration",
        "HumanName",
        "Identifier",
        "Money",
        "Period",
        "Quantity",
        "Range",
        "Ratio",
        "Reference",
        "SampledData",
        "Signature",
        "Timing",
        "ContactDetail",
        "Contributor",
        "DataRequirement",
        "Expression",
        "ParameterDefinition",
        "RelatedArtifact",
        "TriggerDefinition",
        "UsageContext",
        "Dosage",
        "Meta",
    )
)
_BY_SUFFIX = {t[0].upper() + t[1:]: t for t in _DATA_TYPES}


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern[x] semantics: every pattern property present with that value."""
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            _matches_pattern(value.get(k), v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        values = as_list(value)
        return all(any(_matches_pattern(v, p) for v in values) for p in pattern)
    return bool(value == pattern)


def _values_at(item: Any, path: str) -> list[Any]:
    values = [item]
    for segment in path.split("."):
        values = [
            v
            for current in values
            if isinstance(current, Mapping)
            for v in as_list(current.get(segment))
        ]
    return values


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


class Walk:
    """One validation run: walks a profile tree over a resource, collecting errors."""

    def __init__(self, owner: ProfileValidator, package: _Package, resource: Mapping[str, Any]):
        self.owner = owner
        self.package = package
        self.errors: list[str] = []
        self.contained = {
            str(c.get("id")) for c in as_list(resource.get("contained")) if isinstance(c, Mapping)
        }

    def walk(self, prof: Profile, node: Element, obj: Mapping[str, Any], path: str) -> None:
        node = prof.resolve_content_reference(node)
        if not node.children:
            return
        used: set[str] = {"resourceType"} if node is prof.root else set()
        for child in node.children:
            keys = self._choice_keys(child, obj, path) if child.is_choice else [child.name]
            used.update(keys)
            total = sum(max(len(as_list(obj.get(k))), len(as_list(obj.get(f"_{k}")))) for k in keys)
            self._cardinality(child, total, f"{path}.{child.name}")
            if child.is_choice and len(keys) > 1:
                self.errors.append(f"{path}.{child.name}: more than one type given ({keys})")
            for key in keys:
                extra = [s for s in child.slices if s.slice_name == key] if child.is_choice else []
                for type_slice in extra:
                    self._cardinality(type_slice, total, f"{path}.{key}")
                self._items(prof, child, extra, obj, key, path)
            if child.is_choice:
                for type_slice in child.slices:
                    if type_slice.slice_name not in keys and type_slice.min > 0 and not keys:
                        self._cardinality(type_slice, 0, f"{path}.{type_slice.slice_name}")
        for key in obj:
            if key.removeprefix("_") not in used:
                self.errors.append(f"{path}.{key}: unknown element (not defined by {prof.url})")

    def _choice_keys(self, child: Element, obj: Mapping[str, Any], path: str) -> list[str]:
        base = child.base_name
        allowed = {t.code for t in child.types}
        keys: list[str] = []
        for key in obj:
            name = key.removeprefix("_")
            suffix = name[len(base) :]
            if not name.startswith(base) or suffix not in _BY_SUFFIX or name in keys:
                continue
            keys.append(name)
            if _BY_SUFFIX[suffix] not in allowed:
                self.errors.append(
                    f"{path}.{name}: type {_BY_SUFFIX[suffix]} not allowed for {child.name}"
                    f" (allowed: {', '.join(sorted(allowed))})"
                )
        return keys

    def _cardinality(self, element: Element, count: int, path: str) -> None:
        if count < element.min:
            self.errors.append(f"{path}: minimum cardinality {element.min} not met (found {count})")
        if element.max is not None and count > element.max:
            self.errors.append(
                f"{path}: maximum cardinality {element.max} exceeded (found {count})"
            )

    def _items(
        self,
        prof: Profile,
        child: Element,
        extra: list[Element],
        obj: Mapping[str, Any],
        key: str,
        path: str,
    ) -> None:
        raw = obj.get(key)
        if raw is None:
            return
        items = as_list(raw)
        paths = [
            f"{path}.{key}[{i}]" if isinstance(raw, list) else f"{path}.{key}"
            for i in range(len(items))
        ]
        if child.is_choice:
            suffix = key[len(child.base_name) :]
            type_code = _BY_SUFFIX.get(suffix, suffix)
        else:
            type_code = child.types[0].code if child.types else ""
        slices: list[Element | None] = [None] * len(items)
        if child.slicing is not None and child.slices and not child.is_choice:
            slices = self._slice(prof, child, items, f"{path}.{child.name}")
        for item, item_path, matched in zip(items, paths, slices, strict=True):
            if item is None:
                continue
            elements = [child, *extra] + ([matched] if matched is not None else [])
            self._item(prof, elements, item, item_path, type_code)

    def _slice(
        self, prof: Profile, child: Element, items: list[Any], path: str
    ) -> list[Element | None]:
        assert child.slicing is not None
        discriminators = list(child.slicing.get("discriminator", ()))
        candidates: list[tuple[Element, list[Callable[[Any], bool]]]] = []
        for slice_ in child.slices:
            tests = [self._discriminator(slice_, d) for d in discriminators]
            if not discriminators or any(t is None for t in tests):
                self.owner.skipped_slices.add((prof.url, slice_.id))
                continue
            candidates.append((slice_, [t for t in tests if t is not None]))
        assigned: list[Element | None] = [
            next((s for s, tests in candidates if all(t(item) for t in tests)), None)
            for item in items
        ]
        for slice_, _ in candidates:
            count = sum(1 for a in assigned if a is slice_)
            self._cardinality(slice_, count, f"{path}:{slice_.slice_name}")
        if child.slicing.get("rules") == "closed":
            for index, hit in enumerate(assigned):
                if hit is None:
                    self.errors.append(f"{path}[{index}]: matches no slice of closed slicing")
        return assigned

    def _discriminator(
        self, slice_: Element, discriminator: Mapping[str, Any]
    ) -> Callable[[Any], bool] | None:
        kind = discriminator.get("type")
        dpath = str(discriminator.get("path", "$this"))
        target: Element | None = slice_
        if dpath != "$this":
            for segment in dpath.split("."):
                target = target.child(segment) if target is not None else None
        if kind in ("value", "pattern"):
            if target is not None and target.fixed is not None:
                fixed = target.fixed[1]
                return lambda item: any(v == fixed for v in self._at(item, dpath))
            if target is not None and target.pattern is not None:
                pattern = target.pattern[1]
                return lambda item: any(_matches_pattern(v, pattern) for v in self._at(item, dpath))
            profiles = [p for t in slice_.types for p in t.profiles]
            if dpath == "url" and len(profiles) == 1:
                url = profiles[0].split("|", 1)[0]
                return lambda item: isinstance(item, Mapping) and item.get("url") == url
        if kind == "exists" and target is not None:
            want = target.min > 0 or target.max != 0
            return lambda item: bool(self._at(item, dpath)) == want
        return None

    @staticmethod
    def _at(item: Any, path: str) -> list[Any]:
        return [item] if path == "$this" else _values_at(item, path)

    def _item(
        self, prof: Profile, elements: list[Element], item: Any, path: str, type_code: str
    ) -> None:
        for element in elements:
            self._fixed_and_pattern(element, item, path)
            if element.binding is not None and element.binding[0] == "required":
                self._binding(prof, element, element.binding[1], item, path, type_code)
            self.constraints(prof, element, item, path)
            if type_code == "Reference" and isinstance(item, Mapping):
                self._reference(element, item, path)
        if not isinstance(item, Mapping):
            return
        extension = (
            self.package.profiles.get(str(item.get("url"))) if type_code == "Extension" else None
        )
        if extension is not None and extension.type == "Extension":
            self.constraints(extension, extension.root, item, path)
            self.walk(extension, extension.root, item, path)
            return
        nodes = [e for e in elements if e.children or e.content_reference]
        if nodes:
            self.walk(prof, nodes[-1], item, path)
            return
        for name, valueset in _DATATYPE_BINDINGS.get(type_code, {}).items():
            if isinstance(item.get(name), str):
                self._binding(prof, elements[0], valueset, item[name], f"{path}.{name}", "code")

    def _fixed_and_pattern(self, element: Element, item: Any, path: str) -> None:
        if element.fixed is not None and item != element.fixed[1]:
            self.errors.append(
                f"{path}: value {_short(item)} does not equal {element.fixed[0]} {_short(element.fixed[1])}"
            )
        if element.pattern is not None and not _matches_pattern(item, element.pattern[1]):
            self.errors.append(
                f"{path}: value {_short(item)} does not match {element.pattern[0]} {_short(element.pattern[1])}"
            )

    def _binding(
        self, prof: Profile, element: Element, valueset: str, item: Any, path: str, type_code: str
    ) -> None:
        index = self.package.valuesets
        if not index.knows(valueset):
            self.owner.skipped_bindings.add((f"{prof.url}|{prof.version}", element.id, valueset))
            return
        if isinstance(item, str):
            codings: list[Mapping[str, Any]] = [{"code": item}]
        elif isinstance(item, Mapping) and ("coding" in item or type_code == "CodeableConcept"):
            codings = [c for c in as_list(item.get("coding")) if isinstance(c, Mapping)]
            if not codings:
                self.errors.append(f"{path}: no coding given; a code from {valueset} is required")
                return
        elif isinstance(item, Mapping) and "code" in item:
            codings = [item]
        else:
            return
        results = [
            index.contains(valueset, c.get("system"), str(c["code"]))
            for c in codings
            if "code" in c
        ]
        if any(r is True for r in results):
            return
        if not results or any(r is None for r in results):
            self.owner.skipped_bindings.add((f"{prof.url}|{prof.version}", element.id, valueset))
            return
        shown = ", ".join(
            f"{c.get('system')}|{c.get('code')}" if c.get("system") else str(c.get("code"))
            for c in codings
        )
        self.errors.append(f"{path}: code {shown} is not in required value set {valueset}")

    def constraints(self, prof: Profile, element: Element, item: Any, path: str) -> None:
        for key, severity, human in element.constraints:
            if key.startswith(IGNORED_PREFIXES):
                continue
            check = INVARIANTS.get((key, element.id))
            if check is None:
                self.owner.skipped_constraints.add((f"{prof.url}|{prof.version}", element.id, key))
                continue
            if severity == "error" and isinstance(item, Mapping) and not check(item):
                self.errors.append(f"{path}: constraint {key} failed: {human}")

    def _reference(self, element: Element, item: Mapping[str, Any], path: str) -> None:
        reference = item.get("reference")
        if not isinstance(reference, str):
            return
        if reference.startswith("#"):
            if reference[1:] not in self.contained:
                self.errors.append(f"{path}.reference: {reference} names no contained resource")
            return
        if reference.startswith(("urn:uuid:", "urn:oid:")):
            return
        match = _REFERENCE.match(reference)
        if match is None:
            self.errors.append(
                f"{path}.reference: {reference!r} is neither Type/id nor an absolute URL ending in Type/id"
            )
            return
        rtype = match.group(1)
        try:
            get_fhir_model_class(rtype)
        except (KeyError, ValueError, AttributeError, ImportError):
            self.errors.append(f"{path}.reference: {rtype} is not a FHIR resource type")
            return
        if isinstance(item.get("type"), str) and item["type"] != rtype:
            self.errors.append(f"{path}.type: {item['type']} disagrees with reference {reference}")
        targets = [p for t in element.types if t.code == "Reference" for p in t.target_profiles]
        allowed = {self.owner.resource_type_of(p) for p in targets}
        if targets and None not in allowed and "Resource" not in allowed and rtype not in allowed:
            self.errors.append(
                f"{path}.reference: {rtype} is not an allowed target "
                f"(expected {', '.join(sorted(t for t in allowed if t))})"
            )
