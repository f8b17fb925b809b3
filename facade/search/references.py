"""Reference search parameters: ``id``, ``Type/id`` and absolute URLs.

FHIR R4 search, parameter type "reference" (http://hl7.org/fhir/R4/search.html#reference):
a value is a logical id (``123``), a relative reference (``Patient/123``) or an
absolute URL (``http://host/fhir/r4/Patient/123``); a ``:[type]`` modifier
(``subject:Patient=123``) names the type of a bare id. US Core servers SHALL
accept both ``id`` and ``Type/id`` (US Core CapabilityStatement; Inferno
checks that both give the same count).

Version-specific references (``.../_history/2``) are rejected: the facade
does not keep versions to match them against.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from facade.errors import InvalidRequest
from facade.search.escaping import unescape

# http://hl7.org/fhir/R4/datatypes.html#id and resource type names.
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")


@dataclass(frozen=True)
class ReferenceParam:
    """A parsed reference value.

    ``type`` is ``None`` only for a bare id with no type hint and no single
    allowed type; ``url`` is set only when an absolute URL was given.
    """

    type: str | None
    id: str
    url: str | None


def parse_reference(
    value: str,
    allowed_types: Collection[str] = (),
    *,
    type_hint: str | None = None,
) -> ReferenceParam:
    """Parse one raw reference value (search.html#reference).

    ``allowed_types`` are the parameter's target types (empty: any);
    ``type_hint`` is the ``:[type]`` modifier. A bare id takes the hint, or
    the only allowed type. A type outside ``allowed_types``, or disagreeing
    with the hint, raises :class:`~facade.errors.InvalidRequest`.
    """
    text = unescape(value)
    url: str | None = None
    if "://" in text or text.startswith("urn:"):
        url = text
        segments = text.rstrip("/").split("/")
        if "_history" in segments or len(segments) < 2 or text.startswith("urn:"):
            raise InvalidRequest(f"Unsupported reference {text!r}: expected [base]/Type/id")
        ref_type: str | None = segments[-2]
        ref_id = segments[-1]
    elif "/" in text:
        segments = text.split("/")
        if len(segments) != 2:
            raise InvalidRequest(f"Invalid reference {text!r}: expected id or Type/id")
        ref_type, ref_id = segments
    else:
        ref_type, ref_id = None, text
    if type_hint is not None:
        if not _TYPE.fullmatch(type_hint):
            raise InvalidRequest(f"Invalid reference type modifier {type_hint!r}")
        if ref_type is not None and ref_type != type_hint:
            raise InvalidRequest(
                f"Reference {text!r} does not match the type modifier :{type_hint}"
            )
        ref_type = type_hint
    if ref_type is None and len(allowed_types) == 1:
        (ref_type,) = allowed_types
    if ref_type is not None:
        if not _TYPE.fullmatch(ref_type):
            raise InvalidRequest(f"Invalid reference {text!r}: bad resource type")
        if allowed_types and ref_type not in allowed_types:
            allowed = ", ".join(sorted(allowed_types))
            raise InvalidRequest(
                f"Reference {text!r} has type {ref_type}; this parameter accepts {allowed}"
            )
    if not _ID.fullmatch(ref_id):
        raise InvalidRequest(f"Invalid reference {text!r}: bad resource id")
    return ReferenceParam(type=ref_type, id=ref_id, url=url)


def reference_matches(param: ReferenceParam, reference: str | None) -> bool:
    """Whether a resource's ``Reference.reference`` points at ``param``'s target.

    Compares type and id (the last two path segments), so ``Patient/123`` and
    ``https://any.base/Patient/123`` both match ``patient=123``. When an
    absolute URL was searched, an absolute target must equal it exactly.
    """
    if not reference:
        return False
    segments = reference.rstrip("/").split("/")
    if len(segments) < 2:
        return False
    ref_type, ref_id = segments[-2], segments[-1]
    if ref_id != param.id or (param.type is not None and ref_type != param.type):
        return False
    if param.url is not None and "://" in reference:
        return reference.rstrip("/") == param.url.rstrip("/")
    return True
