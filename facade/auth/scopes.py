"""SMART scopes, v1 and v2 (SMART App Launch 2.0 "Scopes and Launch Context").

v1: ``system/Patient.read``, ``user/*.write``, ``patient/*.*``.
v2: ``system/Patient.rs``, ``patient/*.cruds`` (letters in c r u d s order).
Each scope becomes (context, resource type, permission letters); ``read`` means
``rs`` and ``write`` means ``cud``, so v1 and v2 are checked alike.

>>> Scope.parse("system/Patient.read").permissions
frozenset({'r', 's'})
>>> ScopeSet.parse("system/*.rs").allows("Patient", "s")
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCOPE = re.compile(
    r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)(\?.*)?$"
)
_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}


@dataclass(frozen=True)
class Scope:
    context: str
    resource_type: str
    permissions: frozenset[str]
    text: str

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        m = _SCOPE.match(text)
        if not m or not m.group(3):
            return None
        context, rtype, perms, _query = m.groups()
        letters = _V1.get(perms, frozenset(perms))
        return cls(context, rtype, letters, text)


@dataclass(frozen=True)
class ScopeSet:
    scopes: tuple[Scope, ...]
    other: tuple[str, ...]  # openid, fhirUser, launch/patient, offline_access, ...

    @classmethod
    def parse(cls, text: str) -> ScopeSet:
        parsed: list[Scope] = []
        other: list[str] = []
        for token in text.split():
            scope = Scope.parse(token)
            if scope is None:
                other.append(token)
            else:
                parsed.append(scope)
        return cls(tuple(parsed), tuple(other))

    def allows(self, resource_type: str, permission: str) -> bool:
        return any(
            s.resource_type in ("*", resource_type) and permission in s.permissions
            for s in self.scopes
        )

    def narrow_to(self, allowed: ScopeSet) -> ScopeSet:
        """Keep the requested scopes that some allowed scope covers (context, type, letters)."""
        kept = tuple(
            s
            for s in self.scopes
            if any(
                a.context == s.context
                and a.resource_type in ("*", s.resource_type)
                and s.permissions <= a.permissions
                for a in allowed.scopes
            )
        )
        return ScopeSet(kept, ())

    def __str__(self) -> str:
        return " ".join([*(s.text for s in self.scopes), *self.other])
