"""The claim-change topic: a claim submitted through the facade, and the same claim moved
by athena (the emulator's clock advanced: the rules engine scrubs it) and reported by the
claims changed-data feed, each make a signed notification with the Claim."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.api.claims.support import claim_body
from tests.conftest import facade_settings, start_facade
from tests.events.conftest import FAST
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


@pytest.fixture(scope="module")
def facade(clinic: tuple[str, Any], data_dir: Path) -> Iterator[str]:
    settings = facade_settings(clinic[0], data_dir, **{**FAST, "events_feeds": ["claims"]})
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


def test_claim_changes_are_notified(
    fhir: httpx.Client, receiver: Receiver, clinic: tuple[str, Any]
) -> None:
    body = subscription(receiver.base + "/claims", "claim-change", content="full-resource")
    created = fhir.post("Subscription", json=body, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    wait_status(fhir, created.json()["id"], "active")
    claim = claim_body(
        DONNA, f"a-{PID}.Coverage-7001", [("99213", [1])], ["I10"], served="2025-06-27"
    )
    submitted = fhir.post("Claim/$submit", json=claim, headers=FHIR_JSON)
    assert submitted.status_code == 200, submitted.text
    rid = submitted.json()["request"]["reference"]
    got = receiver.wait("/claims", lambda got: len(events_of(got)) >= 1)
    first = events_of(got)[0]
    Webhook(secret_of(created.json())).verify(first.body, first.headers)
    assert first.focus[0].endswith(f"/{rid}")
    assert first.json["entry"][1]["resource"]["patient"]["reference"] == f"Patient/{DONNA}"
    with httpx.Client(base_url=f"{clinic[0]}/_emulator", timeout=10) as admin:
        assert admin.post("clock", json={"advance": 900}).status_code == 200
    before = len([e for e in events_of(receiver.at("/claims")) if e.focus[0].endswith(f"/{rid}")])
    mine = lambda got: [e for e in events_of(got) if e.focus[0].endswith(f"/{rid}")]  # noqa: E731
    others = lambda got: {e.focus[0] for e in events_of(got)} - {e.focus[0] for e in mine(got)}  # noqa: E731
    # ours moved (scrubbed: DROP), and so did the seeded claims athena moved meanwhile
    got = receiver.wait("/claims", lambda got: len(mine(got)) > before and bool(others(got)), 30)
    assert all("/Claim/" in e.focus[0] for e in events_of(got))
