"""Hostile and malformed input never produces a 500 and always a FHIR answer.

A seeded random walk over every served type with junk ids, unknown and
malformed parameters, bad modifiers, huge values and odd encodings, through
GET and POST ``_search`` and raw writes, against the real stack.
"""

from __future__ import annotations

import random
from urllib.parse import urlencode

import httpx

from tests.conftest import dev_token

TYPES = [
    "Patient", "Encounter", "Condition", "Provenance", "Practitioner", "PractitionerRole",
    "Location", "Organization", "Appointment", "Slot", "Schedule", "Observation",
]  # fmt: skip
PARAMS = [
    "_id", "identifier", "name", "family", "birthdate", "gender", "death-date", "patient",
    "date", "status", "class", "type", "location", "practitioner", "_count", "_cursor",
    "_include", "_revinclude", "_sort", "ah-practice", "ah-department", "subject", "code",
    "target", "schedule", "start", "actor", "_lastUpdated", "name:exact", "date:missing",
    "patient:Patient", "identifier:text", "_summary", "_total",
]  # fmt: skip
VALUES = [
    "", "x", "a-195900.E-60178", "Patient/a-195900.E-60178", "ge2020-01-01", "2020-13-45",
    "lt", "sa2020", "%00", "\u00e9\u4e2d", "1" * 300, "http://a|b", "|", ",", "\\", "-1",
    "99999999999", "eq2020-01-01T10:00:00+99:00", "Organization/a-1.Practice-195900",
    "a-195900.encounter-1", "ap2020", "true", "*", "Encounter:patient", "Provenance:target",
    "../../etc", "count",
]  # fmt: skip
BODIES = [b"{", b"[]", b'{"resourceType":"Appointment"}', b"\xff\xfe", b"null"]


def test_random_hostile_requests_get_fhir_errors_never_500(facade_url: str) -> None:
    token = dev_token(facade_url, scope="system/*.cruds")  # writes reach body parsing
    fhir = httpx.Client(
        base_url=f"{facade_url}/fhir/r4/", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    rng = random.Random(20261129)
    problems: list[str] = []
    for _ in range(250):
        rtype = rng.choice(TYPES)
        pairs = [(rng.choice(PARAMS), rng.choice(VALUES)) for _ in range(rng.randint(0, 3))]
        roll = rng.random()
        if roll < 0.25:
            response = fhir.get(f"{rtype}/{rng.choice(VALUES) or 'x'}")
        elif roll < 0.45:
            response = fhir.post(
                f"{rtype}/_search",
                content=urlencode(pairs),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        elif roll < 0.55:
            response = fhir.post(
                rtype,
                content=rng.choice(BODIES),
                headers={"Content-Type": rng.choice(["application/fhir+json", "text/plain"])},
            )
        else:
            response = fhir.get(rtype, params=pairs)
        status = response.status_code
        if status >= 500 and status not in (502, 503, 504):
            problems.append(f"{response.request.method} {response.request.url} -> {status}")
        elif status >= 400:
            body = response.json()
            if body.get("resourceType") != "OperationOutcome":
                problems.append(f"{response.request.url} -> {status} without OperationOutcome")
    fhir.close()
    assert problems == []
