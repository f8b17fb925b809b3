"""Helpers for the clinical integration tests: paging, references, profiles, a date oracle.

The date oracle is written from FHIR R4 search.html#date directly and shares no
code with ``facade.search.dates``, so the property tests compare two
independent readings of the spec.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

Json = dict[str, Any]
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
PROFILES = {
    "Patient": f"{US_CORE}us-core-patient|6.1.0",
    "Encounter": f"{US_CORE}us-core-encounter|6.1.0",
    "Condition": f"{US_CORE}us-core-condition-encounter-diagnosis|6.1.0",
    "Provenance": f"{US_CORE}us-core-provenance|6.1.0",
    "Practitioner": f"{US_CORE}us-core-practitioner|6.1.0",
    "PractitionerRole": f"{US_CORE}us-core-practitionerrole|6.1.0",
    "Location": f"{US_CORE}us-core-location|6.1.0",
    "Organization": f"{US_CORE}us-core-organization|6.1.0",
}
SANDBOX = [f"a-195900.E-{n}" for n in range(60178, 60185)]
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


# ------------------------------------------------------------------ date oracle
_FORM = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
NEG = datetime(1, 1, 2, tzinfo=UTC)
POS = datetime(9999, 12, 30, tzinfo=UTC)


def implicit_range(text: str) -> tuple[datetime, datetime]:
    """[low, high) of a FHIR date/dateTime at its own precision (no zone = UTC)."""
    m = _FORM.match(text)
    assert m, text
    year, month, day, hour, minute, second, zone = m.groups()
    tz = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    if month is None:
        return datetime(int(year), 1, 1, tzinfo=tz), datetime(int(year) + 1, 1, 1, tzinfo=tz)
    if day is None:
        low = datetime(int(year), int(month), 1, tzinfo=tz)
        nxt = datetime(int(year) + int(month) // 12, int(month) % 12 + 1, 1, tzinfo=tz)
        return low, nxt
    low = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        tzinfo=tz,
    )
    step = (
        timedelta(days=1)
        if hour is None
        else timedelta(minutes=1)
        if second is None
        else timedelta(seconds=1)
    )
    return low, low + step


def period_bounds(period: Json) -> tuple[datetime, datetime]:
    low = implicit_range(period["start"])[0] if period.get("start") else NEG
    high = implicit_range(period["end"])[1] if period.get("end") else POS
    return low, high


def satisfies(prefix: str, value: str, period: Json) -> bool:
    """FHIR R4 search.html#prefix for a Period target."""
    pl, ph = implicit_range(value)
    tl, th = period_bounds(period)
    contained = pl <= tl and th <= ph
    return {
        "eq": contained,
        "ne": not contained,
        "gt": th > ph,
        "lt": tl < pl,
        "ge": th > ph or contained,
        "le": tl < pl or contained,
        "sa": tl >= ph,
        "eb": th <= pl,
    }[prefix]
