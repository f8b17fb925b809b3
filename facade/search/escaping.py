"""FHIR search value escaping: ``\\,`` ``\\$`` ``\\|`` ``\\\\``.

FHIR R4 search, "Escaping Search Parameters"
(http://hl7.org/fhir/R4/search.html#escaping): in a parameter value, a comma
separates OR-values, ``|`` separates token/quantity parts and ``$`` separates
composite parts; each is taken literally when preceded by a backslash, and a
literal backslash is written ``\\\\``.

The query parser keeps values in their escaped (raw) form so typed parsers can
split on ``|`` or ``$`` first and unescape afterwards. A backslash before any
other character, or a trailing backslash, is not an escape and is kept as is
(lenient, and it keeps :func:`escape`/:func:`unescape` total).
"""

from __future__ import annotations

SPECIAL = frozenset(",$|\\")


def split_unescaped(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split ``text`` on occurrences of ``sep`` not preceded by an escaping backslash.

    The parts keep their escapes. ``sep`` is a single character.

    >>> split_unescaped(r"a\\,b,c", ",")
    ['a\\\\,b', 'c']
    """
    if len(sep) != 1:
        raise ValueError("sep must be a single character")
    if "\\" not in text:  # no escapes (nearly every value): str.split splits the same
        return text.split(sep, maxsplit)
    return _split_scanning(text, sep, maxsplit)


def _split_scanning(text: str, sep: str, maxsplit: int) -> list[str]:
    """``split_unescaped`` character by character (any text; the reference for the tests)."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    """Remove FHIR search escapes from one already-split value part.

    >>> unescape(r"a\\,b\\|c\\\\d")
    'a,b|c\\\\d'
    """
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "\\" and i + 1 < n and value[i + 1] in SPECIAL:
            out.append(value[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def escape(value: str) -> str:
    """Escape ``,`` ``$`` ``|`` and ``\\`` so ``unescape(escape(v)) == v``."""
    return "".join("\\" + ch if ch in SPECIAL else ch for ch in value)
