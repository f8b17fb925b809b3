"""String search parameters: starts-with, ``:exact`` and ``:contains``.

FHIR R4 search, parameter type "string" (http://hl7.org/fhir/R4/search.html#string):
by default a field matches when it equals or starts with the search value
after both are normalised for case and accents; ``:exact`` compares the whole
string, case and accent sensitive; ``:contains`` matches anywhere, again
ignoring case and accents (search.html#modifiers).
"""

from __future__ import annotations

import unicodedata

from facade.errors import UnsupportedParameter

MODIFIERS = frozenset({"exact", "contains"})


def fold(text: str) -> str:
    """Case- and accent-insensitive key: NFKD, drop combining marks, casefold.

    >>> fold("José") == fold("JOSE")
    True
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.casefold()
    if folded.isascii():
        return folded
    # casefold can produce new decomposable characters; fold once more.
    again = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in again if not unicodedata.combining(ch))


def string_matches(search: str, candidate: str, modifier: str | None) -> bool:
    """Whether ``candidate`` satisfies a string search for ``search`` (unescaped).

    ``exact`` compares canonically equivalent text (both NFC-normalised), so a
    precomposed and a decomposed ``é`` are the same string.
    Other modifiers raise :class:`~facade.errors.UnsupportedParameter`.
    """
    if modifier is None:
        return fold(candidate).startswith(fold(search))
    if modifier == "contains":
        return fold(search) in fold(candidate)
    if modifier == "exact":
        return unicodedata.normalize("NFC", search) == unicodedata.normalize("NFC", candidate)
    raise UnsupportedParameter(f"The modifier ':{modifier}' is not supported on string parameters")
