"""A claim's journey over real HTTP, as a billing app that knows only FHIR R4 follows it:
eligibility, Claim/$submit for Eleana's finished visit, queued, the rules engine's HOLD,
a note, DROP, the payer's partial payment with the patient's share, and her secondary
payer's crossover.

Each ClaimResponse along the way is written to ``test-artifacts/claim-journey.json``
(the README example); every one validates against base R4 and its references resolve.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.claims.support import (
    CARC,
    add_note,
    advance,
    claim_body,
    claims_of,
    finished_encounter,
    submit,
)
from tests.api.coverage.support import ELEANA, FHIR_JSON, Json, Stack, entries, search, stack
from tests.support.profiles import _base_errors

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("claims")) as running:
        yield running


@pytest.fixture(scope="module")
def fhir(site: Stack) -> Iterator[httpx.Client]:
    with site.system() as client:
        yield client


def valid(resource: Json, client: httpx.Client) -> Json:
    """Valid base R4, and every reference it makes resolves through the facade."""
    assert _base_errors(resource) == [], _base_errors(resource)
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and "/" in ref and not ref.startswith("#"):
                refs.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resource)
    for ref in dict.fromkeys(refs):
        response = client.get(ref)
        assert response.status_code == 200, (ref, response.text)
    return resource


def response_of(client: httpx.Client, claim: str) -> Json:
    """The claim's primary payer's ClaimResponse (``ClaimResponse?request=``)."""
    found = entries(search(client, "ClaimResponse", request=claim))
    assert [r["insurance"][0]["sequence"] for r in found] == [1, 2]
    return valid(found[0], client)


def test_eleanas_visit_from_eligibility_to_payment(site: Stack, fhir: httpx.Client) -> None:
    journey: list[Json] = []
    primary, secondary = sorted(
        entries(search(fhir, "Coverage", patient=ELEANA)), key=lambda c: c["order"]
    )
    coverage = primary
    eligibility = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["validation", "benefits"],
        "patient": {"reference": f"Patient/{ELEANA}"},
        "created": "2025-06-30",
        "insurer": {"reference": coverage["payor"][0]["reference"]},
        "insurance": [{"focal": True, "coverage": {"reference": f"Coverage/{coverage['id']}"}}],
    }
    checked = fhir.post("CoverageEligibilityRequest/$submit", json=eligibility, headers=FHIR_JSON)
    assert checked.status_code == 200 and checked.json()["outcome"] == "complete", checked.text
    assert checked.json()["insurance"][0]["inforce"] is True

    visit = finished_encounter(fhir, ELEANA)
    day = visit["period"]["start"][:10]
    body = claim_body(
        ELEANA,
        coverage["id"],
        [("99243", [1, 2]), ("36415", [2])],  # a consultation: the rules engine wants a referrer
        ["J06.9", "I10"],
        served=day,
        encounter=f"Encounter/{visit['id']}",
    )
    body["insurance"].append(
        {"sequence": 2, "focal": False, "coverage": {"reference": f"Coverage/{secondary['id']}"}}
    )
    submitted = submit(fhir, body)
    assert submitted.status_code == 200, submitted.text
    queued = valid(submitted.json(), fhir)
    assert queued["resourceType"] == "ClaimResponse" and queued["outcome"] == "queued"
    assert "rules engine has not scrubbed" in queued["disposition"]
    journey.append({"step": "Claim/$submit", "response": queued})
    claim = queued["request"]["reference"]
    (held,) = claims_of(site, 60179)
    assert held.appointmentid is not None  # the visit's appointment claim
    read = valid(fhir.get(claim).json(), fhir)
    assert read["item"][0]["encounter"][0]["reference"] == f"Encounter/{visit['id']}"
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in read["diagnosis"]] == [
        "J06.9",
        "I10",
    ]
    assert [i["diagnosisSequence"] for i in read["item"]] == [[1, 2], [2]]

    advance(site, 15 * 60)  # the rules engine scrubs
    hold = response_of(fhir, claim)
    assert hold["outcome"] == "queued" and hold["disposition"].startswith("On hold (HOLD)")
    assert "referring provider" in hold["disposition"]
    journey.append({"step": "15 minutes later: the rules engine holds it", "response": hold})

    noted = add_note(fhir, claim, "Referred by Dr. Bricker (provider 1); referral on file.")
    assert noted.status_code == 200, noted.text
    drop = valid(noted.json(), fhir)
    assert drop["outcome"] == "queued" and "DROP" in drop["disposition"]
    journey.append({"step": "Claim/$add-note: the hold is released", "response": drop})

    advance(site, 2 * 3600)
    billed = response_of(fhir, claim)
    assert "BILLED" in billed["disposition"]
    journey.append({"step": "2 hours later: sent to the payer", "response": billed})

    advance(site, 6 * 86400)
    paid = response_of(fhir, claim)
    journey.append({"step": "6 days later: the payer's remittance", "response": paid})
    assert paid["outcome"] == "partial"
    assert paid["payment"]["amount"]["value"] > 0 and paid["payment"]["identifier"]["value"]
    categories = {
        a["category"]["coding"][0]["code"]: a["amount"]["value"]
        for a in paid["item"][0]["adjudication"]
    }
    assert categories["copay"] == 60.0  # the specialist copay of Eleana's PPO
    assert categories["memberliability"] > 0 and categories["benefit"] > 0
    total = {t["category"]["coding"][0]["code"]: t["amount"]["value"] for t in paid["total"]}
    assert round(total["benefit"] + total["memberliability"], 2) == total["eligible"]
    assert paid["payment"]["amount"]["value"] == total["benefit"]
    assert all(
        a["reason"]["coding"][0]["system"] == CARC
        for a in paid["item"][0]["adjudication"]
        if "reason" in a
    )
    (crossover,) = [
        r
        for r in entries(search(fhir, "ClaimResponse", request=claim))
        if r["insurance"][0]["sequence"] == 2
    ]
    advance(site, 6 * 86400)
    crossover = fhir.get(f"ClaimResponse/{crossover['id']}").json()
    valid(crossover, fhir)
    journey.append({"step": "6 days later: the secondary payer's crossover", "response": crossover})
    assert crossover["outcome"] == "partial"  # the copay stays the patient's
    assert crossover["payment"]["amount"]["value"] > 0
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "claim-journey.json").write_text(
        json.dumps({"claim": body, "journey": journey}, indent=2)
    )
