"""Value set membership from ``ValueSet.compose``, without a terminology server.

A value set is expanded lazily into a list of includes and excludes. Each
include is either a literal code list, "every code of a system" (checked
against a vendored CodeSystem when one is complete, otherwise any code is
accepted), an ``is-a``/``descendent-of`` filter over a vendored CodeSystem,
or *unknown* (a filter we cannot evaluate, a value set we do not have).
``contains`` answers True, False, or None when the answer depends on an
unknown part; callers skip the check on None.

FHIR R4 ValueSet.compose: https://hl7.org/fhir/R4/valueset.html#compose
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core_valuesets import CORE_VALUE_SETS

__all__ = ["CodeSystemPool", "ValueSetIndex"]


@dataclass(frozen=True)
class _Part:
    """One include/exclude: codes of ``system`` (None = any system) or unknown."""

    system: str | None
    codes: frozenset[str] | None  # None: every code of the system
    unknown: bool = False

    def matches(self, system: str | None, code: str) -> bool:
        if self.unknown:
            return False
        if system is not None and self.system is not None and system != self.system:
            return False
        return self.codes is None or code in self.codes


@dataclass(frozen=True)
class _Expansion:
    includes: tuple[_Part, ...]
    excludes: tuple[_Part, ...]

    @property
    def has_unknown(self) -> bool:
        return any(p.unknown for p in self.includes)


_UNKNOWN = _Part(system=None, codes=None, unknown=True)


@dataclass
class CodeSystemPool:
    """Vendored CodeSystems: all codes and the ``is-a`` children of each."""

    codes: dict[str, frozenset[str]] = field(default_factory=dict)
    children: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def add(self, resource: Mapping[str, Any]) -> None:
        if resource.get("content") != "complete":
            return
        url = str(resource["url"])
        kids: dict[str, list[str]] = {}
        seen: set[str] = set()

        def walk(concepts: Iterable[Mapping[str, Any]], parent: str | None) -> None:
            for concept in concepts:
                code = str(concept["code"])
                seen.add(code)
                if parent is not None:
                    kids.setdefault(parent, []).append(code)
                walk(concept.get("concept", ()), code)

        walk(resource.get("concept", ()), None)
        self.codes[url] = frozenset(seen)
        self.children[url] = kids

    def descendants(self, system: str, code: str, *, include_self: bool) -> frozenset[str] | None:
        kids = self.children.get(system)
        if kids is None:
            return None
        found: set[str] = {code} if include_self else set()
        stack = list(kids.get(code, ()))
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(kids.get(current, ()))
        return frozenset(found)


class ValueSetIndex:
    """Membership tests for one package's ValueSets plus the literal core sets."""

    def __init__(self, valuesets: Mapping[str, Mapping[str, Any]], pool: CodeSystemPool) -> None:
        self._valuesets = valuesets
        self._pool = pool
        self._cache: dict[str, _Expansion | None] = {}

    def knows(self, url: str) -> bool:
        return self._expand(url) is not None

    def contains(self, url: str, system: str | None, code: str) -> bool | None:
        """Whether ``system|code`` is in the value set; None when undecidable."""
        expansion = self._expand(url)
        if expansion is None:
            return None
        if any(p.matches(system, code) for p in expansion.excludes):
            return False
        if any(p.matches(system, code) for p in expansion.includes):
            return True
        return None if expansion.has_unknown else False

    def _expand(self, url: str) -> _Expansion | None:
        url = url.split("|", 1)[0]
        if url in self._cache:
            return self._cache[url]
        self._cache[url] = None  # guards against include cycles
        compose = self._compose(url)
        expansion = None
        if compose is not None:
            expansion = _Expansion(
                includes=tuple(p for inc in compose.get("include", ()) for p in self._parts(inc)),
                excludes=tuple(
                    p
                    for exc in compose.get("exclude", ())
                    for p in self._parts(exc)
                    if not p.unknown
                ),
            )
        self._cache[url] = expansion
        return expansion

    def _compose(self, url: str) -> Mapping[str, Any] | None:
        resource = self._valuesets.get(url)
        if resource is not None and "compose" in resource:
            compose: Mapping[str, Any] = resource["compose"]
            return compose
        return CORE_VALUE_SETS.get(url)

    def _parts(self, inc: Mapping[str, Any]) -> list[_Part]:
        system = inc.get("system")
        refs = list(inc.get("valueSet", ()))
        if refs:
            if system is not None or len(refs) != 1:
                return [_UNKNOWN]  # intersections: not needed by US Core
            nested = self._expand(refs[0])
            return [_UNKNOWN] if nested is None else list(nested.includes)
        if system is None:
            return [_UNKNOWN]
        if "concept" in inc:
            return [_Part(system, frozenset(str(c["code"]) for c in inc["concept"]))]
        filters = list(inc.get("filter", ()))
        if not filters:
            return [_Part(system, self._pool.codes.get(system))]
        if len(filters) == 1 and filters[0].get("property") == "concept":
            op = filters[0].get("op")
            if op in ("is-a", "descendent-of"):
                codes = self._pool.descendants(
                    system, str(filters[0]["value"]), include_self=op == "is-a"
                )
                if codes is not None:
                    return [_Part(system, codes)]
        return [_UNKNOWN]


def load_json_dir(folder: Path, prefix: str) -> list[dict[str, Any]]:
    """Every ``<prefix>-*.json`` resource in ``folder`` (sorted for determinism)."""
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob(f"{prefix}-*.json")):
        with path.open(encoding="utf-8") as fh:
            out.append(json.load(fh))
    return out
