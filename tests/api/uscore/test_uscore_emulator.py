"""The emulator's generic clinical store (emulator/fhir_clinical.py) as athena's FHIR API:
required combinations, the 400 quirk, ids, Binary, Provenance of clinical records, and the
seed's determinism."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator.fhir_clinical import SPECS
from emulator.world import World

PRACTICE = {"ah-practice": "Organization/a-1.Practice-195900"}
DONNA = "a-195900.E-60178"


@pytest.fixture(scope="module")
def athena(emulator_url: str, emulator_world: Any) -> Iterator[httpx.Client]:
    token = emulator_world.issue_token("uscore-tests", "system/*.read")
    headers = {"Authorization": f"Bearer {token.value}"}
    with httpx.Client(base_url=f"{emulator_url}/fhir/r4", headers=headers, timeout=30) as client:
        yield client


def _invalid(response: httpx.Response) -> None:
    assert response.status_code == 400
    assert response.json()["issue"][0]["details"] == "Invalid FHIR request"  # athena's quirk


@pytest.mark.parametrize("rtype", sorted(SPECS))
def test_every_type_reads_and_searches_like_athena(
    rtype: str, athena: httpx.Client, emulator_world: Any
) -> None:
    held = emulator_world.clinical.all(rtype, "195900")
    assert held
    first = held[0]
    assert athena.get(f"{rtype}/{first['id']}").json() == first
    by_id = athena.get(rtype, params={"_id": first["id"]}).json()
    assert [e["resource"]["id"] for e in by_id["entry"]] == [first["id"]]
    _invalid(athena.get(rtype, params={**PRACTICE, "unknown-param": "x"}))
    _invalid(athena.get(rtype, params=PRACTICE))  # no required combination
    assert athena.get(f"{rtype}/a-195900.{SPECS[rtype].prefixes[0]}-1").status_code == 404
    _invalid(athena.get(f"{rtype}/a-195900.Nope-{first['id'].rsplit('-', 1)[1]}"))


def test_medication_request_needs_intent(athena: httpx.Client) -> None:
    _invalid(athena.get("MedicationRequest", params={**PRACTICE, "patient": DONNA}))
    found = athena.get(
        "MedicationRequest", params={**PRACTICE, "patient": DONNA, "intent": "order"}
    ).json()
    assert found["total"] >= 1 and {e["resource"]["intent"] for e in found["entry"]} == {"order"}


def test_tokens_references_and_paging(athena: httpx.Client) -> None:
    params = {**PRACTICE, "patient": f"Patient/{DONNA}", "code": "http://loinc.org|8867-4"}
    rates = athena.get("Observation", params=params).json()
    assert rates["total"] == 2
    bare = athena.get("Observation", params={**params, "code": "8867-4"}).json()
    assert bare["total"] == 2
    assert (
        athena.get(
            "Observation", params={**params, "code": "http://snomed.info/sct|8867-4"}
        ).json()["total"]
        == 0
    )
    seen: list[str] = []
    url: str | None = f"Observation?ah-practice={PRACTICE['ah-practice']}&patient={DONNA}&_count=7"
    while url:
        page = athena.get(url).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = next((lk["url"] for lk in page["link"] if lk["relation"] == "next"), None)
    assert len(seen) == len(set(seen)) == page["total"] > 7


def test_binary_and_clinical_provenance(athena: httpx.Client, emulator_world: Any) -> None:
    binary = next(iter(emulator_world.clinical.binaries.values()))
    assert athena.get(f"Binary/{binary['id']}").json() == binary
    allergy = emulator_world.clinical.all("AllergyIntolerance", "195900")[0]
    target = f"AllergyIntolerance/{allergy['id']}"
    found = athena.get("Provenance", params={"target": target}).json()
    (provenance,) = [e["resource"] for e in found["entry"]]
    assert provenance["target"] == [{"reference": target}]
    assert provenance["recorded"] == allergy["meta"]["lastUpdated"]
    assert athena.get(f"Provenance/{provenance['id']}").json() == provenance


def test_the_seed_is_deterministic(emulator_world: Any) -> None:
    again = World(emulator_world.config)
    assert again.clinical.by_id == emulator_world.clinical.by_id
    assert again.clinical.binaries == emulator_world.clinical.binaries
