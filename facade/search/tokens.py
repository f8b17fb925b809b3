"""Token search parameters: ``[system]|[code]``.

FHIR R4 search, parameter type "token" (http://hl7.org/fhir/R4/search.html#token):

==================  ===================================================
``code``            the code, in any system (``has_system`` is False)
``system|code``     the code in that system
``|code``           the code with no system (``system == ""``)
``system|``         any code in that system (``code is None``)
==================  ===================================================

The value splits at the first unescaped ``|`` and each part is then
unescaped (search.html#escaping). US Core servers SHALL accept both ``code`` and
``system|code`` (US Core CapabilityStatement; Inferno compares codes
case-insensitively and systems exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

from facade.errors import InvalidRequest
from facade.search.escaping import split_unescaped, unescape


@dataclass(frozen=True)
class TokenParam:
    """A parsed token value; see the module docstring for the four forms."""

    system: str | None
    code: str | None
    has_system: bool


def parse_token(value: str) -> TokenParam:
    """Parse one raw (still escaped) token value."""
    parts = split_unescaped(value, "|", maxsplit=1)
    if len(parts) == 1:
        code = unescape(parts[0])
        if not code:
            raise InvalidRequest("Invalid token: empty value")
        return TokenParam(system=None, code=code, has_system=False)
    system, code = unescape(parts[0]), unescape(parts[1])
    if not system and not code:
        raise InvalidRequest("Invalid token '|': expected [system]|[code]")
    return TokenParam(system=system, code=code or None, has_system=True)


def _same_code(a: str, b: str, case_sensitive: bool) -> bool:
    return a == b if case_sensitive else a.casefold() == b.casefold()


def token_matches(
    param: TokenParam,
    system: str | None,
    code: str | None,
    *,
    case_sensitive: bool = False,
) -> bool:
    """Whether a coding/identifier ``(system, code)`` satisfies ``param`` (search.html#token).

    Systems compare exactly; codes case-insensitively unless ``case_sensitive``.
    For an Identifier pass ``(system, value)``; for a ``code`` element pass its
    implicit system (or ``None``).
    """
    if param.has_system:
        if param.system == "":
            if system:  # ``|code`` means: no system at all
                return False
        elif system != param.system:
            return False
    if param.code is None:
        return True
    return code is not None and _same_code(param.code, code, case_sensitive)
