"""The patient picker (``/auth/patient``) as an attacker drives it: a patient user only ever
gets her own record, the picker shows nobody to a patient user, and a launch's patient
cannot be swapped for another."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.conftest import bearer
from tests.auth.smart_support import (
    DONNA,
    ELEANA,
    FRANKIE,
    Flow,
    consent,
    exchange,
    to_consent,
)


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text[:300]
    assert "location" not in response.headers
    assert 'role="alert"' in response.text


def _pick(http: httpx.Client, base: str, session: str, patient: str) -> httpx.Response:
    return http.post(
        f"{base}/auth/patient", data={"session": session, "patient": patient, "action": "select"}
    )


@pytest.mark.parametrize(
    "scope",
    [
        "launch/patient openid fhirUser offline_access patient/*.rs",  # picker skipped: herself
        "openid fhirUser user/*.rs",  # no patient asked for at all
    ],
    ids=["patient-scopes", "user-scopes"],
)
def test_patient_user_cannot_select_another_patient(
    smart_url: str, http: httpx.Client, scope: str
) -> None:
    steps = to_consent(http, smart_url, user="patient.demo", scope=scope)
    _refused(_pick(http, smart_url, steps.sessions["consent"], ELEANA))
    _refused(_pick(http, smart_url, steps.sessions["login"], ELEANA))  # before signing in
    done = consent(http, smart_url, steps)
    assert done.status_code == 303
    body = exchange(http, smart_url, Flow(done, steps.verifier, steps.state, steps.pages)).json()
    assert body.get("patient") in (None, DONNA)
    fhir, token = f"{smart_url}/fhir/r4", bearer(body["access_token"])
    assert http.get(f"{fhir}/Patient/{ELEANA}", headers=token).status_code == 404
    assert http.get(f"{fhir}/Patient/{DONNA}", headers=token).status_code == 200


def test_patient_user_sees_nobody_in_the_picker(smart_url: str, http: httpx.Client) -> None:
    steps = to_consent(http, smart_url, user="patient.demo")
    search = http.post(
        f"{smart_url}/auth/patient",
        data={"session": steps.sessions["consent"], "q": "sandbox", "action": "search"},
    )
    _refused(search)
    for other in (ELEANA, FRANKIE, "Sandbox"):
        assert other not in search.text


def test_a_launch_patient_cannot_be_swapped_at_the_picker(
    smart_url: str, http: httpx.Client
) -> None:
    launch = http.post(f"{smart_url}/auth/launch", json={"patient": ELEANA}).json()["launch"]
    steps = to_consent(
        http, smart_url, user="dr.demo", scope="launch openid patient/*.rs", launch=launch
    )
    assert "patient" not in steps.sessions  # the launch fixed the patient: no picker
    _refused(_pick(http, smart_url, steps.sessions["consent"], FRANKIE))


def test_clinician_picks_only_a_patient_that_exists(smart_url: str, http: httpx.Client) -> None:
    steps = to_consent(http, smart_url, user="dr.demo", patient=ELEANA)
    for bogus in ("a-195900.E-99999999", "not-an-id", "../../etc", "a-1.Practice-195900"):
        response = _pick(http, smart_url, steps.sessions["patient"], bogus)
        assert response.status_code == 400, bogus
        assert 'action="/auth/consent"' not in response.text


def test_a_signed_in_session_cannot_sign_in_again_as_someone_else(
    smart_url: str, http: httpx.Client
) -> None:
    """dr.demo picked Eleana; patient.demo must not inherit that sign-in (and its patient)."""
    steps = to_consent(http, smart_url, user="dr.demo", patient=ELEANA)
    for session in (steps.sessions["consent"], steps.sessions["patient"]):
        relogin = http.post(
            f"{smart_url}/auth/login",
            data={"session": session, "username": "patient.demo", "password": "demo-password"},
        )
        _refused(relogin)
    done = consent(http, smart_url, steps)  # the clinician's own sign-in still completes
    body = exchange(http, smart_url, Flow(done, steps.verifier, steps.state, steps.pages)).json()
    assert body["patient"] == ELEANA
    assert (
        http.get(
            f"{smart_url}/fhir/r4/Patient/{DONNA}", headers=bearer(body["access_token"])
        ).status_code
        == 404
    )  # patient/ scopes: confined to the picked patient
