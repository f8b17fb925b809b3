"""athena's preview cannot check eligibility (API-NOTES §3.8: HTTP 200 ``success: false``):
the response is athena's last recorded eligibility of the insurance, ``partial``, and says
so; never a fake "active"."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.coverage.support import DONNA, ELIGIBILITY, FHIR_JSON, PID, UNKNOWN, Stack, stack
from tests.api.coverage.test_eligibility import checked, item, money, request_for


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("eligibility-preview"), environment="preview") as running:
        yield running


@pytest.fixture(scope="module")
def fhir(site: Stack) -> Iterator[httpx.Client]:
    with site.system() as client:
        yield client


def test_last_recorded_eligibility_is_partial(site: Stack, fhir: httpx.Client) -> None:
    site.world.reset_call_counts()
    response = checked(
        fhir.post(
            "CoverageEligibilityRequest/$submit",
            json=request_for(DONNA, 7001, "98"),
            headers=FHIR_JSON,
        )
    )
    assert site.calls("POST", ELIGIBILITY) == 1  # athena was asked, and could not check
    assert response["outcome"] == "partial"
    assert "cannot check eligibility" in response["disposition"]
    assert "not re-verified" in response["disposition"] and "01/15/2025" in response["disposition"]
    (insurance,) = response["insurance"]
    assert insurance["coverage"] == {"reference": f"Coverage/a-{PID}.Coverage-7001"}
    assert insurance["inforce"] is True  # athena last found her eligible (and says when)
    assert money(item(response, "98", network=""), "copay") == {"value": 25.0, "currency": "USD"}
    assert fhir.get(f"CoverageEligibilityResponse/{response['id']}").json() == response


def test_never_verified_is_not_in_force(fhir: httpx.Client) -> None:
    response = checked(
        fhir.post(
            "CoverageEligibilityRequest/$submit", json=request_for(UNKNOWN, 7008), headers=FHIR_JSON
        )
    )
    assert response["outcome"] == "partial" and response["insurance"][0]["inforce"] is False
    assert "has not verified" in response["disposition"]
