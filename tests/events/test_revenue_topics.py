"""Coverage and eligibility topics: a Coverage cancelled and an eligibility check made
through the facade each make one signed notification."""

from __future__ import annotations

import time
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tests.events.support import (
    FHIR_JSON,
    PID,
    Receiver,
    events_of,
    secret_of,
    subscription,
    wait_status,
)

DONNA = f"a-{PID}.E-60178"


def _subscribe(fhir: httpx.Client, receiver: Receiver, topic: str) -> dict[str, Any]:
    body = subscription(receiver.base + f"/{topic}", topic, content="full-resource")
    created = fhir.post("Subscription", json=body, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    wait_status(fhir, created.json()["id"], "active")
    return dict(created.json())


def test_eligibility_and_coverage_changes(fhir: httpx.Client, receiver: Receiver) -> None:
    eligibility = _subscribe(fhir, receiver, "eligibility-response")
    coverages = _subscribe(fhir, receiver, "coverage-change")
    found = fhir.get("Coverage", params={"patient": DONNA}).json()
    coverage = next(e["resource"] for e in found["entry"] if e["search"]["mode"] == "match")
    request = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["validation", "benefits"],
        "patient": {"reference": f"Patient/{DONNA}"},
        "created": "2025-06-30T10:00:00-04:00",
        "insurer": {"reference": coverage["payor"][0]["reference"]},
        "insurance": [{"focal": True, "coverage": {"reference": f"Coverage/{coverage['id']}"}}],
    }
    checked = fhir.post("CoverageEligibilityRequest/$submit", json=request, headers=FHIR_JSON)
    assert checked.status_code == 200, checked.text
    got = receiver.wait("/eligibility-response", lambda got: len(events_of(got)) >= 1)
    (event,) = events_of(got)
    Webhook(secret_of(eligibility)).verify(event.body, event.headers)
    response = event.json["entry"][1]["resource"]
    assert response["resourceType"] == "CoverageEligibilityResponse"
    assert response["outcome"] in ("complete", "partial", "error")
    assert response["patient"]["reference"] == f"Patient/{DONNA}"

    cancelled = fhir.put(
        f"Coverage/{coverage['id']}", json={**coverage, "status": "cancelled"}, headers=FHIR_JSON
    )
    assert cancelled.status_code == 200, cancelled.text
    got = receiver.wait("/coverage-change", lambda got: len(events_of(got)) >= 1)
    time.sleep(1.0)
    (event,) = events_of(receiver.at("/coverage-change"))
    Webhook(secret_of(coverages)).verify(event.body, event.headers)
    assert event.focus[0].endswith(f"/Coverage/{coverage['id']}")
    assert event.json["entry"][1]["resource"]["status"] == "cancelled"
    assert len(events_of(receiver.at("/eligibility-response"))) == 1
