"""Helpers for the clinical integration tests: paging, references, profiles, a date oracle.

The date oracle is the conformance suite's (``conformance.dates``): it is written from
FHIR R4 search.html#date directly and shares no code with ``facade.search.dates``, so the
property tests compare two independent readings of the spec.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from conformance.context import PROFILES, US_CORE
from conformance.dates import NEG, POS, implicit_range, period_bounds, satisfies
from conformance.suite import DEFAULT_PATIENTS as SANDBOX

__all__ = [
    "ENCOUNTER_SYSTEM",
    "NEG",
    "POS",
    "PROFILES",
    "SANDBOX",
    "US_CORE",
    "Json",
    "ids",
    "implicit_range",
    "period_bounds",
    "references",
    "satisfies",
    "search",
]

Json = dict[str, Any]
ENCOUNTER_SYSTEM = "urn:athenahealth:athenanet:encounter:195900"


def ids(bundle: Json, mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def search(
    fhir: httpx.Client, rtype: str, params: Any, *, method: str = "GET"
) -> tuple[list[Json], list[Json]]:
    """Every match and every include over all pages (next links followed verbatim)."""
    matches: list[Json] = []
    included: list[Json] = []
    if method == "POST":
        response = fhir.post(f"{rtype}/_search", data=params)
    else:
        response = fhir.get(rtype, params=params)
    for _ in range(50):
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
        for entry in bundle.get("entry", []):
            assert entry["fullUrl"].endswith(
                f"/{entry['resource']['resourceType']}/{entry['resource']['id']}"
            )
            target = matches if entry["search"]["mode"] == "match" else included
            target.append(entry["resource"])
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if url is None:
            return matches, included
        response = fhir.get(url)
    raise AssertionError("more than 50 pages")


def references(node: Any) -> list[str]:
    """Every relative ``Reference.reference`` in a resource, in document order."""
    found: list[str] = []
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and re.fullmatch(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}", ref):
            found.append(ref)
        for value in node.values():
            found.extend(references(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(references(item))
    return found
