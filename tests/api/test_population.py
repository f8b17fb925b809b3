"""Every served Patient across the generated population is valid US Core 6.1, and together
they cover every must-support and USCDI element Inferno looks for (US-CORE-NOTES §1.2)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from facade.mapping.paths import get_values, parse_path
from tests.support.profiles import ProfileValidator

PROFILE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0"
EXT = "http://hl7.org/fhir/us/core/StructureDefinition/"


def _collect(fhir: httpx.Client, query: dict[str, str], pages: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    url: str | None = "Patient"
    params: dict[str, str] | None = query
    for _ in range(pages):
        if url is None:
            break
        bundle = fhir.get(url, params=params).json()
        found.extend(e["resource"] for e in bundle["entry"])
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        params = None
    return found


@pytest.fixture(scope="module")
def population(fhir: httpx.Client) -> list[dict[str, Any]]:
    """About 1,300 patients over both practices and both athena surfaces."""
    served = _collect(fhir, {"gender": "female,male,unknown,other", "_count": "100"}, 10)
    served += _collect(
        fhir,
        {"ah-practice": "Organization/a-1.Practice-195901", "name": "a,e,i,o,u", "_count": "100"},
        3,
    )
    served += _collect(fhir, {"name": "sandbox"}, 1)
    served += [fhir.get(f"Patient/a-195900.E-{n}").json() for n in (1037, 1137, 60183, 60182)]
    return served


def test_every_served_patient_is_valid_us_core(
    population: list[dict[str, Any]], validator: ProfileValidator
) -> None:
    assert len(population) > 1000
    failures = {p["id"]: validator.validate(p, PROFILE) for p in population}
    assert {pid: errs for pid, errs in failures.items() if errs} == {}


MUST_SUPPORT = {
    "identifier.system": "identifier.system",
    "identifier.value": "identifier.value",
    "name.family": "name.family",
    "name.given": "name.given",
    "name.suffix": "name.suffix",
    "name.use or name.period.end": ("name.use", "name.period.end"),
    "gender": "gender",
    "birthDate": "birthDate",
    "address.line": "address.line",
    "address.city": "address.city",
    "address.state": "address.state",
    "address.postalCode": "address.postalCode",
    "address.use or address.period.end": ("address.use", "address.period.end"),
    "telecom.system": "telecom.system",
    "telecom.value": "telecom.value",
    "telecom.use": "telecom.use",
    "communication.language": "communication.language",
    "deceasedDateTime": "deceasedDateTime",
    "race": f"extension[url={EXT}us-core-race]",
    "ethnicity": f"extension[url={EXT}us-core-ethnicity]",
    "birthsex": f"extension[url={EXT}us-core-birthsex]",
    "sex": f"extension[url={EXT}us-core-sex]",
    "genderIdentity": f"extension[url={EXT}us-core-genderIdentity]",
    "tribalAffiliation": f"extension[url={EXT}us-core-tribal-affiliation]",
    "previous name": "name[use=old].period.end",
}


@pytest.mark.parametrize("element", list(MUST_SUPPORT))
def test_must_support_coverage(population: list[dict[str, Any]], element: str) -> None:
    paths = MUST_SUPPORT[element]
    alternatives = paths if isinstance(paths, tuple) else (paths,)
    assert any(get_values(p, parse_path(path)) for p in population for path in alternatives), (
        f"no served Patient carries {element}"
    )


def test_unknown_values_are_represented_not_dropped(population: list[dict[str, Any]]) -> None:
    """Declined race/ethnicity and unknown gender appear as US Core's null-flavor codes."""
    codes = {
        c.get("code")
        for p in population
        for c in get_values(
            p, parse_path(f"extension[url={EXT}us-core-race].extension.valueCoding")
        )
    }
    assert "ASKU" in codes
    assert any(p["gender"] == "unknown" for p in population)
