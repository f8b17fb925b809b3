"""SMART scopes, v1 and v2 (SMART App Launch 2.0 "Scopes and Launch Context").

v1: ``system/Patient.read``, ``user/*.write``, ``patient/*.*``.
v2: ``system/Patient.rs``, ``patient/*.cruds`` (letters in c r u d s order).
Each scope becomes (context, resource type, permission letters); ``read`` means
``rs`` and ``write`` means ``cud``, so v1 and v2 are checked alike.

>>> Scope.parse("system/Patient.read").permissions
frozenset({'r', 's'})
>>> ScopeSet.parse("system/*.rs").allows("Patient", "s")
True
>>> Scope.parse("patient/Appointment.rs?status=booked").query
(('status', 'booked'),)

A v2 granular scope (``?param=value&...``) only covers resources that match
that search; :mod:`facade.auth.policy` enforces it on each interaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

_SCOPE = re.compile(
    r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)(\?.*)?$"
)
# types only a scope naming them reaches (never ``*``): README "Audit trail"
NAMED_ONLY = frozenset({"AuditEvent"})
_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}


@dataclass(frozen=True)
class Scope:
    context: str
    resource_type: str
    permissions: frozenset[str]
    text: str
    query: tuple[tuple[str, str], ...] = ()  # v2 granular constraint, e.g. (("status", "booked"),)

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        m = _SCOPE.match(text)
        if not m or not m.group(3):
            return None
        context, rtype, perms, query = m.groups()
        letters = _V1.get(perms, frozenset(perms))
        pairs = tuple(parse_qsl(query[1:], keep_blank_values=True)) if query else ()
        if query and (not pairs or any(not k or not v for k, v in pairs)):
            return None
        return cls(context, rtype, letters, text, pairs)


@dataclass(frozen=True)
class ScopeSet:
    scopes: tuple[Scope, ...]
    other: tuple[str, ...]  # openid, fhirUser, launch/patient, offline_access, ...
    # (type, letter) -> the scopes granting it: a set is immutable and a token's is asked
    # the same few questions on every request (four times per read)
    _granting: dict[tuple[str, str], tuple[Scope, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

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
        return bool(self.allowing(resource_type, permission))

    def allowing(self, resource_type: str, permission: str) -> tuple[Scope, ...]:
        """The scopes that grant ``permission`` on ``resource_type`` (maybe with a query).

        A type in :data:`NAMED_ONLY` (the audit trail) is granted only by a scope naming
        it: ``system/*.rs`` reads clinical data, not who read it."""
        key = (resource_type, permission)
        found = self._granting.get(key)
        if found is None:
            wildcard = resource_type not in NAMED_ONLY
            found = tuple(
                s
                for s in self.scopes
                if (s.resource_type == resource_type or (wildcard and s.resource_type == "*"))
                and permission in s.permissions
            )
            if len(self._granting) < 256:  # bounded: types x letters
                self._granting[key] = found
        return found

    def covers(self, scope: Scope) -> bool:
        """Some scope here grants at least what ``scope`` grants (context, type, letters, query)."""
        return any(
            a.context == scope.context
            and a.resource_type in ("*", scope.resource_type)
            and scope.permissions <= a.permissions
            and a.query in ((), scope.query)
            for a in self.scopes
        )

    def narrow_to(self, allowed: ScopeSet) -> ScopeSet:
        """Keep the requested scopes that some allowed scope covers (context, type, letters)."""
        return ScopeSet(tuple(s for s in self.scopes if allowed.covers(s)), ())

    def within(self, granted: ScopeSet) -> bool:
        """Every scope here is covered by ``granted`` (refresh may only narrow, RFC 6749 §6)."""
        return all(granted.covers(s) for s in self.scopes) and set(self.other) <= set(granted.other)

    def __str__(self) -> str:
        return " ".join([*(s.text for s in self.scopes), *self.other])
