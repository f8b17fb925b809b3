"""The parsed, typed form of a FHIR search: :class:`SearchRequest`.

FHIR R4 search, "Search Parameter Types"
(http://hl7.org/fhir/R4/search.html#ptypes): each ``name[:modifier]=value``
occurrence is one :class:`SearchParam`; repeated parameters are ANDed
("Composite Search Parameters" / multiple values, http://hl7.org/fhir/R4/search.html#combining)
and the comma-separated values of one occurrence are ORed.

Result parameters ("Modifying Search Results", http://hl7.org/fhir/R4/search.html#return) such
as ``_count``, ``_include`` or ``_sort`` are lifted into their own fields.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchParam:
    """One ``name[:modifier]=v1,v2`` occurrence.

    ``values`` is the OR-list: the value split on unescaped commas, each item
    still carrying its FHIR escapes (``\\,`` ``\\$`` ``\\|`` ``\\\\``) so typed
    parsers can split on ``|``/``$`` before calling
    :func:`facade.search.unescape`.
    """

    name: str
    modifier: str | None
    values: tuple[str, ...]

    @property
    def key(self) -> str:
        """The parameter as written in a query string: ``name`` or ``name:modifier``."""
        return self.name if self.modifier is None else f"{self.name}:{self.modifier}"


@dataclass(frozen=True)
class SearchRequest:
    """A whole search: the AND-list of parameters plus the result parameters."""

    resource_type: str
    params: tuple[SearchParam, ...]
    count: int | None = None
    cursor: str | None = None
    include: tuple[str, ...] = ()
    revinclude: tuple[str, ...] = ()
    sort: tuple[str, ...] = ()
    total: str | None = None
    summary: str | None = None
    elements: tuple[str, ...] = ()

    def get(self, name: str) -> tuple[SearchParam, ...]:
        """All occurrences of parameter ``name`` (any modifier), in order."""
        return tuple(p for p in self.params if p.name == name)

    def names(self) -> frozenset[str]:
        """The distinct parameter names (without modifiers)."""
        return frozenset(p.name for p in self.params)
