"""SMART launch context is readable (US-CORE-NOTES §3.5, g10 patient_context / encounter_context):
the token's ``patient`` and ``encounter`` resolve through the facade, also after a refresh."""

from __future__ import annotations

import httpx

from tests.auth.conftest import bearer
from tests.auth.smart_support import ELEANA, exchange, run_flow
from tests.conftest import dev_token


def _eleanas_encounter(base: str) -> str:
    system = {"Authorization": f"Bearer {dev_token(base)}"}
    bundle = httpx.get(
        f"{base}/fhir/r4/Encounter", params={"patient": ELEANA}, headers=system, timeout=30
    ).json()
    encounter_id: str = bundle["entry"][0]["resource"]["id"]
    return encounter_id


def test_ehr_launch_patient_and_encounter_context_are_readable(
    smart_url: str, http: httpx.Client
) -> None:
    encounter = _eleanas_encounter(smart_url)
    launch = http.post(
        f"{smart_url}/auth/launch", json={"patient": ELEANA, "encounter": encounter}
    ).json()["launch"]
    flow = run_flow(
        http,
        smart_url,
        user="dr.demo",
        scope="launch openid fhirUser offline_access patient/Patient.rs patient/Encounter.rs",
        launch=launch,
    )
    token = exchange(http, smart_url, flow).json()
    assert token["patient"] == ELEANA and token["encounter"] == encounter
    for access in (token["access_token"], _refreshed(http, smart_url, token["refresh_token"])):
        patient = http.get(f"{smart_url}/fhir/r4/Patient/{ELEANA}", headers=bearer(access))
        assert patient.status_code == 200 and patient.json()["id"] == ELEANA
        visit = http.get(f"{smart_url}/fhir/r4/Encounter/{encounter}", headers=bearer(access))
        assert visit.status_code == 200, visit.text
        assert visit.json()["subject"]["reference"] == f"Patient/{ELEANA}"


def _refreshed(http: httpx.Client, base: str, refresh_token: str) -> str:
    response = http.post(
        f"{base}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "test-public",
        },
    )
    assert response.status_code == 200, response.text
    access: str = response.json()["access_token"]
    return access
