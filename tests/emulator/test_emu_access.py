"""Bearer tokens, scopes, request ids and the API budget (API-NOTES 2.2, 4.2, 4.3)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from emu_support import FakeClock, Running, fetch_token

from emulator.config import EmulatorConfig
from emulator.world import World

PATIENT = "/fhir/r4/Patient/a-195900.E-60178"
SEARCH = "/fhir/r4/Patient?ah-practice=Organization/a-1.Practice-195900&name=Sandboxtest"


def test_missing_token_is_401_text(http: httpx.Client) -> None:
    for path in ("/v1/195900/patients/60178", PATIENT):
        response = http.get(path)
        assert response.status_code == 401
        assert response.text == "Developer Inactive"
        assert response.headers["content-type"].startswith("text/plain")


def test_unknown_revoked_and_expired_tokens_are_401(http: httpx.Client, world: World) -> None:
    assert http.get(PATIENT, headers={"Authorization": "Bearer nope"}).status_code == 401
    for kill in (world.revoke_token, world.expire_tokens):
        token = fetch_token(http)
        headers = {"Authorization": f"Bearer {token}"}
        assert http.get("/v1/195900/practiceinfo", headers=headers).status_code == 200
        kill(token)
        response = http.get("/v1/195900/practiceinfo", headers=headers)
        assert response.status_code == 401
        assert response.text == "Invalid Access Token"


def test_metadata_needs_no_token(http: httpx.Client) -> None:
    response = http.get("/fhir/r4/metadata")
    assert response.status_code == 200
    assert response.json()["fhirVersion"] == "4.0.1"
    assert response.json()["software"]["name"] == "athenahealth FHIR Server"


@pytest.mark.parametrize(
    ("scope", "read", "search"),
    [
        ("system/Patient.read", 200, 200),
        ("system/Patient.rs", 200, 200),
        ("system/*.read", 200, 200),
        ("system/*.rs", 200, 200),
        ("system/Patient.r", 200, 403),
        ("system/Encounter.read", 403, 403),
        ("athena/service/Athenanet.MDP.*", 403, 403),
    ],
)
def test_fhir_scopes(http: httpx.Client, scope: str, read: int, search: int) -> None:
    headers = {"Authorization": f"Bearer {fetch_token(http, scope)}"}
    got_read = http.get(PATIENT, headers=headers)
    got_search = http.get(SEARCH, headers=headers)
    assert (got_read.status_code, got_search.status_code) == (read, search)
    for response in (got_read, got_search):
        if response.status_code == 403:
            assert response.json() == {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "forbidden", "details": "Invalid scope"}],
            }


def test_v1_needs_mdp_scope(http: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {fetch_token(http, 'system/Patient.read')}"}
    assert http.get("/v1/195900/patients/60178", headers=headers).status_code == 403


def test_request_id_echoed_or_generated(v1: httpx.Client, http: httpx.Client) -> None:
    response = v1.get("/v1/195900/practiceinfo", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    assert v1.get("/v1/195900/practiceinfo").headers["X-Request-Id"]
    assert http.get("/v1/195900/practiceinfo").headers["X-Request-Id"]
    response = v1.get("/v1/195900/practiceinfo")
    assert response.headers["X-RateLimit-Limit"] == "500000"
    assert int(response.headers["X-RateLimit-Remaining"]) < 500000


def test_call_counts_by_template(v1: httpx.Client, world: World) -> None:
    before = world.calls("GET", "/v1/{practiceid}/patients/{patientid}")
    v1.get("/v1/195900/patients/60178")
    v1.get("/v1/195900/patients/60179")
    assert world.calls("GET", "/v1/{practiceid}/patients/{patientid}") == before + 2


def test_per_second_budget(start_emulator: Callable[..., Running]) -> None:
    clock = FakeClock(1_700_000_000.25)
    config = EmulatorConfig(generated_patients=0, api_requests_per_second=3, api_requests_per_day=5)
    running = start_emulator(config, clock)
    with httpx.Client(base_url=running.base_url) as client:
        headers = {"Authorization": f"Bearer {fetch_token(client)}"}
        codes = [client.get("/v1/195900/practiceinfo", headers=headers) for _ in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        throttled = codes[-1]
        assert throttled.headers["Retry-After"] == "1"
        assert throttled.headers["X-RateLimit-Limit"] == "5"
        assert throttled.headers["X-RateLimit-Remaining"] == "2"
        assert throttled.headers["X-Request-Id"]
        clock.now += 1
        assert [
            client.get("/v1/195900/practiceinfo", headers=headers).status_code for _ in range(3)
        ] == [
            200,
            200,
            429,
        ]
        daily = client.get("/v1/195900/practiceinfo", headers=headers)
        assert daily.status_code == 429
        assert daily.headers["X-RateLimit-Remaining"] == "0"
        seconds_to_midnight = 86_400 - int(clock.now) % 86_400
        assert int(daily.headers["Retry-After"]) == seconds_to_midnight
        clock.now += seconds_to_midnight
        headers = {"Authorization": f"Bearer {fetch_token(client)}"}  # the old one expired
        assert client.get("/v1/195900/practiceinfo", headers=headers).status_code == 200
