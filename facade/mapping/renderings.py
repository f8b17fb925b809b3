"""Named conversions for clinical and practice tables (registered in ``transforms.TRANSFORMS``).

Pure functions, no I/O. The narrative conversion turns athena's encounter
summary HTML (``GET /chart/encounters/{id}/summary``, API-NOTES §3.6) into a
FHIR Narrative: FHIR R4 narrative.html allows only a safe XHTML subset (no
scripts, forms, styles or event attributes), so the HTML is re-emitted from a
whitelist of tags with every text node escaped, never passed through.

>>> summary_narrative("<html><body><h1>Visit</h1><p>a &amp; b<script>x</script></p></body></html>")
{'status': 'generated', 'div': '<div xmlns="http://www.w3.org/1999/xhtml"><h1>Visit</h1><p>a &amp; b</p></div>'}
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser
from typing import Any

XHTML = "http://www.w3.org/1999/xhtml"
NUCC = "http://nucc.org/provider-taxonomy"
# FHIR narrative subset (narrative.html#xhtml), minus anything that needs attributes.
_ALLOWED = frozenset(
    {
        "p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd",
        "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "b", "i", "em",
        "strong", "span", "div", "pre", "code", "small", "sub", "sup", "hr",
    }
)  # fmt: skip
_VOID = frozenset({"br", "hr"})
_DROP_CONTENT = frozenset({"script", "style", "head", "title", "object", "iframe"})


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_CONTENT:
            self.skipping += 1
        elif not self.skipping and tag in _ALLOWED:
            if tag in _VOID:
                self.out.append(f"<{tag}/>")
            else:
                self.out.append(f"<{tag}>")
                self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_CONTENT:
            self.skipping = max(0, self.skipping - 1)
        elif not self.skipping and tag in self.open:
            while self.open:  # close anything left open inside it (well-formed output)
                inner = self.open.pop()
                self.out.append(f"</{inner}>")
                if inner == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(escape(data, quote=False))


def summary_narrative(value: Any) -> dict[str, str] | None:
    """athena summary HTML -> ``{"status": "generated", "div": <safe XHTML>}``."""
    if not isinstance(value, str) or not value.strip():
        return None
    parser = _Sanitizer()
    parser.feed(value)
    parser.close()
    body = "".join(parser.out) + "".join(f"</{t}>" for t in reversed(parser.open))
    if not body.strip():
        return None
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}


def text(value: Any) -> str | None:
    """Any scalar as a FHIR string (athena sends ids and NPIs as numbers).

    >>> text(1234567893)
    '1234567893'
    """
    if value is None or isinstance(value, bool):
        return None
    result = str(value).strip()
    return result or None


def nucc_specialty(value: Any) -> dict[str, Any] | None:
    """``(ansispecialtycode, specialty)`` -> a NUCC provider taxonomy CodeableConcept.

    >>> nucc_specialty(("207R00000X", "Internal Medicine"))["coding"][0]["code"]
    '207R00000X'
    """
    code, display = value if isinstance(value, tuple) else (value, None)
    if not isinstance(code, str) or not code.strip():
        return None
    coding: dict[str, Any] = {"system": NUCC, "code": code.strip()}
    if isinstance(display, str) and display.strip():
        coding["display"] = display.strip()
    concept: dict[str, Any] = {"coding": [coding]}
    if "display" in coding:
        concept["text"] = coding["display"]
    return concept
