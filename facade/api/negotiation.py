"""Content negotiation (FHIR R4 http.html §2.21.0.6 "Content Types and encodings").

JSON in all its spellings is served as ``application/fhir+json``; XML is not
implemented and is answered 406, as is any other media type the client insists on.
"""

from __future__ import annotations

from dataclasses import dataclass

from facade.errors import NotAcceptable

JSON_FORMATS = frozenset(
    {"json", "application/json", "application/fhir+json", "application/json+fhir", "text/json"}
)
XML_FORMATS = frozenset({"xml", "application/xml", "application/fhir+xml", "text/xml", "html"})


@dataclass(frozen=True)
class Negotiated:
    media_type: str
    pretty: bool


def _accept_types(accept: str) -> list[tuple[str, float]]:
    types: list[tuple[str, float]] = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        types.append((fields[0].lower(), quality))
    return types


def negotiate(accept: str | None, format_param: str | None, pretty_param: str | None) -> Negotiated:
    pretty = (pretty_param or "").lower() == "true"
    if format_param:
        fmt = format_param.split(";")[0].strip().lower()
        if fmt in JSON_FORMATS:
            media = "application/json" if fmt == "application/json" else "application/fhir+json"
            return Negotiated(media, pretty)
        raise NotAcceptable(f"_format={format_param[:60]} is not supported; use json")
    if not accept:
        return Negotiated("application/fhir+json", pretty)
    for media, quality in sorted(_accept_types(accept), key=lambda t: -t[1]):
        if quality <= 0:
            continue
        if media in ("application/fhir+json", "application/json+fhir", "*/*", "application/*"):
            return Negotiated("application/fhir+json", pretty)
        if media in ("application/json", "text/json"):
            return Negotiated("application/json", pretty)
    raise NotAcceptable("Only FHIR JSON (application/fhir+json) is supported")
