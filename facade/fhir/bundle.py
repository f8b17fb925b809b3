"""searchset Bundles (FHIR R4 §3.1.1.2 and Bundle): absolute fullUrl, search.mode, links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]


def searchset(
    *,
    base: str,
    matches: Sequence[Json],
    self_url: str,
    next_url: str | None = None,
    previous_url: str | None = None,
    total: int | None = None,
    includes: Sequence[Json] = (),
) -> Json:
    """A searchset Bundle; ``base`` is the absolute FHIR base without a trailing slash."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    if previous_url:
        links.append({"relation": "previous", "url": previous_url})
    bundle: Json = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    entries = [_entry(base, r, "match") for r in matches]
    entries.extend(_entry(base, r, "include") for r in includes)
    bundle["entry"] = entries
    return bundle


def _entry(base: str, resource: Json, mode: str) -> Json:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }
