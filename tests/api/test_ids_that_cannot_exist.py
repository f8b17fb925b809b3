"""A search value that cannot be an athena id matches nothing, without calling athena.

Each table declares the syntax of athena's ids once (``id.local_pattern`` in
``mappings/*.yaml``: digits, digits-digits for a provider in a department) and its
identifiers (``id.identifier_system`` holds that id; ``id.identifiers`` any other). An
``_id``, ``identifier`` or reference outside them is an empty searchset: it never reaches
athena's paths or queries. ``Appointment?identifier=Patient/../../x`` used to become
``GET /appointments/Patient%2F..%2F..%2Fx``, a 502 that also counted against the circuit
breaker every other caller shares.
"""

from __future__ import annotations

import httpx
import pytest


def _upstream_calls(fhir: httpx.Client) -> int:
    metrics = httpx.get(str(fhir.base_url).replace("/fhir/r4/", "/metrics")).text
    (line,) = [x for x in metrics.splitlines() if x.startswith("facade_upstream_calls_total ")]
    return int(line.split()[1])


NOT_ATHENA_IDS = [
    ("Appointment", "identifier", "Patient/../../x"),
    ("Appointment", "identifier", "urn:athenahealth:athenanet:appointment:195900|12a"),
    ("Appointment", "_id", "Patient/../../x"),
    ("Appointment", "_id", "a-195900.Appointment-.."),
    ("Appointment", "patient", "Patient/a-195900.E-.."),  # a path segment athena would resolve
    ("Patient", "identifier", "Patient/../../x"),
    ("Patient", "identifier", "|60178"),  # no system: every identifier here has one
    ("Patient", "identifier", "urn:other|60178"),
    ("Patient", "_id", "x"),
    ("Patient", "_id", "a-195900.E-6017x,a-195900.E-"),
    ("Practitioner", "identifier", "x"),
    ("Practitioner", "identifier", "http://hl7.org/fhir/sid/us-npi|123"),  # an NPI has 10 digits
    ("Practitioner", "_id", "a-195900.Provider-x"),
    ("Encounter", "identifier", "x"),
    ("Encounter", "_id", "a-195900.encounter-x"),
    ("Condition", "_id", "x"),
    ("Provenance", "_id", "x"),
    ("Location", "_id", "x"),
    ("Organization", "_id", "x"),
    ("PractitionerRole", "_id", "a-195900.PractitionerRole-23"),  # a pair, not one number
    ("Schedule", "_id", "x"),
    ("Schedule", "identifier", "urn:athenahealth:athenanet:providerdepartment:195900|23"),
    ("Slot", "identifier", "Patient/../../x"),
]


@pytest.mark.parametrize(("rtype", "name", "value"), NOT_ATHENA_IDS)
def test_a_value_that_cannot_be_an_athena_id_matches_nothing_without_a_call(
    fhir: httpx.Client, rtype: str, name: str, value: str
) -> None:
    before = _upstream_calls(fhir)
    response = fhir.get(rtype, params={name: value})
    assert response.status_code == 200, response.text[:300]
    bundle = response.json()
    assert bundle["type"] == "searchset" and bundle.get("entry", []) == []
    assert _upstream_calls(fhir) == before


@pytest.mark.parametrize(
    ("rtype", "name", "value", "expected"),
    [
        ("Patient", "identifier", "60178", "a-195900.E-60178"),
        ("Patient", "identifier", "x,60178", "a-195900.E-60178"),  # one possible value is enough
        ("Patient", "_id", "a-195900.E-60178", "a-195900.E-60178"),
        ("Practitioner", "identifier", "http://hl7.org/fhir/sid/us-npi|1234567893", None),
        ("Practitioner", "identifier", "23", "a-195900.Provider-23"),
        ("Schedule", "identifier", "urn:athenahealth:athenanet:providerdepartment:195900|23-1",
         "a-195900.Schedule-23-1"),
    ],
)  # fmt: skip
def test_values_that_can_be_athena_ids_still_search_athena(
    fhir: httpx.Client, rtype: str, name: str, value: str, expected: str | None
) -> None:
    response = fhir.get(rtype, params={name: value})
    assert response.status_code == 200, response.text[:300]
    ids = [entry["resource"]["id"] for entry in response.json().get("entry", [])]
    assert ids if expected is None else expected in ids
